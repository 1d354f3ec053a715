-- ledger_retry.lua: a retryable failure. The token holder gives the delivery back (pending) until `next attempt at`.
-- The in-flight mark stays (the next attempt must reconcile that chunk before sending it again), unless the caller
-- knows the chunk was not sent (ARGV[8] = '1': refused before it left, e.g. rate limited or a 429).
-- KEYS[1] ledger record          tether:delivery:{id}
-- KEYS[2] watch index            tether:deliveries:watch
-- ARGV[1] delivery id            ARGV[2] fencing token         ARGV[3] now (ms)
-- ARGV[4] next attempt at (ms)   ARGV[5] last error (redacted) ARGV[6] id of the job scheduled for the retry
-- ARGV[7] watch deadline (ms): if no job has claimed it by then, the reaper enqueues another
-- ARGV[8] '1': the in-flight chunk was certainly not sent (forget the mark), else '0'
-- Returns 1 when recorded, 0 when the token is stale
if redis.call('HGET', KEYS[1], 'status') ~= 'sending' or redis.call('HGET', KEYS[1], 'fence') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'pending', 'nextAttemptAt', ARGV[4], 'lastError', ARGV[5], 'job', ARGV[6],
  'updatedAt', ARGV[3])
redis.call('HDEL', KEYS[1], 'owner', 'leaseUntil')
if ARGV[8] == '1' then
  redis.call('HDEL', KEYS[1], 'inflight')
end
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
return 1
