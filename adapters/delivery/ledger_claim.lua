-- ledger_claim.lua: take the lease on a delivery and draw a new fencing token. Granted when the record is pending
-- and due, or sending under an expired lease (its worker died); never for a delivered or dead record.
-- KEYS[1] ledger record          tether:delivery:{id}
-- KEYS[2] watch index            tether:deliveries:watch
-- ARGV[1] delivery id            ARGV[2] now (ms)              ARGV[3] lease owner (worker name)
-- ARGV[4] lease (ms)             ARGV[5] chunk count of this attempt's split (kept from the first claim)
-- ARGV[6] tolerance (ms) for a retry that runs a little before its nextAttemptAt (clock skew between hosts)
-- ARGV[7] '1': also mark the next chunk in flight, as `renew` does before a send (the claimer sends it next, after
--         reconciling it if the previous attempt left it in flight), saving that round trip
-- Returns {'claimed', fence, attempts, chunks done, chunk count, in-flight chunk as found or -1}
--      or {'missing'} | {'delivered'} | {'dead'} | {'busy', leaseUntil} | {'early', nextAttemptAt}
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {'missing'}
end
if status == 'delivered' or status == 'dead' then
  return {status}
end
local now = tonumber(ARGV[2])
if status == 'sending' then
  local lease_until = tonumber(redis.call('HGET', KEYS[1], 'leaseUntil') or '0')
  if lease_until > now then
    return {'busy', tostring(lease_until)}
  end
else
  local next_at = tonumber(redis.call('HGET', KEYS[1], 'nextAttemptAt') or '0')
  if next_at > now + tonumber(ARGV[6]) then
    return {'early', tostring(next_at)}
  end
end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
local lease_until = now + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'status', 'sending', 'owner', ARGV[3], 'leaseUntil', tostring(lease_until),
  'updatedAt', ARGV[2])
redis.call('HSETNX', KEYS[1], 'chunks', ARGV[5])
redis.call('ZADD', KEYS[2], lease_until, ARGV[1])
local done = redis.call('HGET', KEYS[1], 'done') or '0'
local chunks = redis.call('HGET', KEYS[1], 'chunks')
local inflight = redis.call('HGET', KEYS[1], 'inflight') or '-1'
if ARGV[7] == '1' and tonumber(done) < tonumber(chunks) then
  redis.call('HSET', KEYS[1], 'inflight', done)
end
return {'claimed', tostring(fence), tostring(attempts), done, chunks, inflight}
