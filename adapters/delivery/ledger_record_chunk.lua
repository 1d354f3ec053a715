-- ledger_record_chunk.lua: record that chunk `index` reached the platform as message `message id`, only for the
-- holder of the current fencing token and only for the next chunk in order; given a retention (ARGV[7]), also
-- complete the delivery when that was its last chunk (`ledger_complete`, adapters/delivery/ledger_complete_fn.lua, prepended
-- when this script is loaded), so a single-chunk send ends in one round trip.
-- KEYS[1] ledger record          tether:delivery:{id}
-- KEYS[2] watch index            tether:deliveries:watch
-- ARGV[1] delivery id            ARGV[2] fencing token         ARGV[3] chunk index
-- ARGV[4] platform message id    ARGV[5] now (ms)              ARGV[6] lease (ms)
-- ARGV[7] optional: retention (s) of a delivered record
-- Returns {0} when the token is stale or the chunk is not the next one, {1} when recorded,
--         {1, message id of chunk 0, chunk 1, ...} when recorded and the delivery completed
if redis.call('HGET', KEYS[1], 'status') ~= 'sending' or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then
  return {0}
end
local index = tonumber(ARGV[3])
if tonumber(redis.call('HGET', KEYS[1], 'done') or '0') ~= index then
  return {0}
end
local lease_until = tonumber(ARGV[5]) + tonumber(ARGV[6])
redis.call('HSET', KEYS[1], 'msg:' .. ARGV[3], ARGV[4], 'done', tostring(index + 1), 'leaseUntil',
  tostring(lease_until), 'updatedAt', ARGV[5])
redis.call('HDEL', KEYS[1], 'inflight')
if ARGV[7] and index + 1 == tonumber(redis.call('HGET', KEYS[1], 'chunks') or '0') then
  return ledger_complete(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[5], ARGV[7])
end
redis.call('ZADD', KEYS[2], lease_until, ARGV[1])
return {1}
