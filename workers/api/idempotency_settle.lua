-- Settle a reservation made by idempotency_reserve.lua: store the answer, or release the key for a retry.
-- KEYS[1]  the key's hash
-- ARGV[1]  owner that reserved it (nothing happens if another attempt holds the key now)
-- ARGV[2]  "store" | "release"
-- ARGV[3]  status code (store)
-- ARGV[4]  response body (store)
-- ARGV[5]  how long the answer is kept, ms (store)
-- Returns 1 if settled, 0 if the key was no longer this owner's.
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return 0
end
if ARGV[2] == 'release' then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'state', 'done', 'status', ARGV[3], 'body', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
