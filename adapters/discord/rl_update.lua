-- Fold the rate-limit headers of one answer into the shared bucket state.
--
-- KEYS[1]  bucket hash     tether:discord:rl:{account}:bucket:{hash}:{major} (the real bucket, from the answer)
-- KEYS[2]  route map       tether:discord:rl:{account}:routes (route key -> bucket hash)
-- KEYS[3]  the bucket the request was reserved on (a placeholder for a route whose hash was unknown, else KEYS[1])
-- ARGV[1]  route key ("POST /channels/{channel}/messages")
-- ARGV[2]  bucket hash (X-RateLimit-Bucket)
-- ARGV[3]  limit (X-RateLimit-Limit)
-- ARGV[4]  remaining (X-RateLimit-Remaining)
-- ARGV[5]  local reset time (ms): now + X-RateLimit-Reset-After
-- ARGV[6]  server reset time (ms, X-RateLimit-Reset): names the server's window, equal for all its answers
-- ARGV[7]  reset-after (ms)
-- ARGV[8]  bucket key TTL (ms)
-- ARGV[9]  tolerance (ms) when comparing server reset times
-- ARGV[10] until when (ms) a superseded placeholder stays closed
-- ARGV[11] now (ms)
--
-- Answers arrive out of order from several processes. An answer of an older window than the one this state
-- tracks is ignored (except for the limit); within a window `remaining` only goes down, because requests reserved
-- here but not yet seen by the server are not in the server's count.

redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if KEYS[3] ~= KEYS[1] then
  -- Processes that looked the route up before this answer still use the placeholder: keep it closed to them
  -- (they look the route up again while they wait) rather than let one of them probe a second time.
  redis.call('HSET', KEYS[3], 'limit', -1, 'remaining', 0, 'confirmed', 1, 'reset_at', tonumber(ARGV[10]))
  redis.call('PEXPIRE', KEYS[3], math.max(1, tonumber(ARGV[10]) - tonumber(ARGV[11])))
end

local limit = tonumber(ARGV[3])
local resp_remaining = tonumber(ARGV[4])
local resp_reset_at = tonumber(ARGV[5])
local server_reset = tonumber(ARGV[6])
local reset_after = tonumber(ARGV[7])
local ttl = tonumber(ARGV[8])
local tolerance = tonumber(ARGV[9])

local b = redis.call('HMGET', KEYS[1], 'remaining', 'reset_at', 'confirmed', 'window_ms', 'server_reset', 'limit')
local window_ms = math.max(tonumber(b[4]) or 0, reset_after)

-- No state, or a probe's (limit unknown: the probe was the only request in flight): take the answer as it is.
if not b[2] or (tonumber(b[6]) or -1) <= 0 then
  redis.call('HSET', KEYS[1], 'limit', limit, 'remaining', resp_remaining, 'reset_at', resp_reset_at,
    'confirmed', 1, 'window_ms', window_ms, 'server_reset', server_reset)
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end

local remaining = tonumber(b[1]) or 0
local reset_at = tonumber(b[2]) or 0
local confirmed = tonumber(b[3]) or 0
local known_reset = tonumber(b[5]) or 0

if confirmed == 1 then
  if server_reset < known_reset - tolerance then
    redis.call('HSET', KEYS[1], 'limit', limit, 'window_ms', window_ms)
    return 0
  elseif server_reset <= known_reset + tolerance then
    reset_at = math.max(reset_at, resp_reset_at)
  else
    reset_at = resp_reset_at
    known_reset = server_reset
  end
else
  -- This process opened a window the server has not confirmed yet; `known_reset` is the previous window's.
  if server_reset <= known_reset + tolerance then
    redis.call('HSET', KEYS[1], 'limit', limit, 'window_ms', window_ms)
    return 0
  end
  reset_at = resp_reset_at
  known_reset = server_reset
end

redis.call('HSET', KEYS[1], 'limit', limit, 'remaining', math.min(remaining, resp_remaining), 'reset_at', reset_at,
  'confirmed', 1, 'window_ms', window_ms, 'server_reset', known_reset)
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
