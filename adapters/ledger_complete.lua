-- ledger_complete.lua: mark the delivery delivered once every chunk is recorded, for the current token holder only.
-- KEYS[1] ledger record          tether:delivery:{id}
-- KEYS[2] watch index            tether:deliveries:watch
-- ARGV[1] delivery id            ARGV[2] fencing token         ARGV[3] now (ms)
-- ARGV[4] retention (s): a delivered record is kept this long so duplicates keep finding it
-- Returns {1, message id of chunk 0, chunk 1, ...} when completed, {0} when the token is stale or chunks are missing
if redis.call('HGET', KEYS[1], 'status') ~= 'sending' or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then
  return {0}
end
local done = tonumber(redis.call('HGET', KEYS[1], 'done') or '0')
local chunks = tonumber(redis.call('HGET', KEYS[1], 'chunks') or '0')
if done < chunks then
  return {0}
end
redis.call('HSET', KEYS[1], 'status', 'delivered', 'deliveredAt', ARGV[3], 'updatedAt', ARGV[3])
redis.call('HDEL', KEYS[1], 'owner', 'leaseUntil', 'inflight', 'nextAttemptAt')
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[4])
local out = {1}
for i = 0, chunks - 1 do
  out[#out + 1] = redis.call('HGET', KEYS[1], 'msg:' .. i) or ''
end
return out
