-- Reserve an Idempotency-Key for one request, or report what holds it.
-- KEYS[1]  the key's hash (workers.api.keys.idempotency)
-- ARGV[1]  owner: a random id of this attempt
-- ARGV[2]  fingerprint of the request body
-- ARGV[3]  pending lease, ms: how long a reservation outlives a crashed server
-- Returns {} when reserved for ARGV[1]; else {state, fp, status, body} of the holder.
local held = redis.call('HMGET', KEYS[1], 'state', 'fp', 'status', 'body')
if held[1] then
  return {held[1], held[2] or '', held[3] or '', held[4] or ''}
end
redis.call('HSET', KEYS[1], 'state', 'pending', 'owner', ARGV[1], 'fp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {}
