-- ledger_renew.lua: extend the lease of the holder of `fence`; before a chunk is sent, also check that it is the
-- next one and mark it in flight (so a successor knows the outcome of that send is unknown).
-- KEYS[1] ledger record          tether:delivery:{id}
-- KEYS[2] watch index            tether:deliveries:watch
-- ARGV[1] delivery id            ARGV[2] fencing token         ARGV[3] now (ms)
-- ARGV[4] lease (ms)             ARGV[5] index of the chunk about to be sent, or -1 to renew only
-- Returns 1 while the lease is held, 0 once it is lost (another claim drew a newer token, or the record moved on)
if redis.call('HGET', KEYS[1], 'status') ~= 'sending' or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then
  return 0
end
local index = tonumber(ARGV[5])
if index >= 0 then
  if tonumber(redis.call('HGET', KEYS[1], 'done') or '0') ~= index then
    return 0
  end
  redis.call('HSET', KEYS[1], 'inflight', ARGV[5])
end
local lease_until = tonumber(ARGV[3]) + tonumber(ARGV[4])
redis.call('HSET', KEYS[1], 'leaseUntil', tostring(lease_until))
redis.call('ZADD', KEYS[2], lease_until, ARGV[1])
return 1
