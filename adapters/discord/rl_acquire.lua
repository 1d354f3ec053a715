-- Reserve one request on a Discord rate-limit bucket, and on the bot's global limit, for every worker process.
--
-- KEYS[1]  bucket hash     tether:discord:rl:{account}:bucket:{hash}:{major}
--                          fields: limit (-1 unknown), remaining, reset_at (ms), confirmed (0/1: the server's
--                          answer for this window arrived), opened_at (ms), window_ms (longest reset-after seen),
--                          server_reset (ms, X-RateLimit-Reset)
-- KEYS[2]  global window   zset of bot requests in the last ARGV[3] ms (member -> ms)
-- KEYS[3]  global block    ms until which a global 429 stops every request of the account
-- KEYS[4]  invalid count of the current 10-minute window
-- KEYS[5]  invalid count of the previous 10-minute window
-- ARGV[1]  now (ms)
-- ARGV[2]  global limit: requests per ARGV[3] ms; 0 = the route does not count against it
-- ARGV[3]  global window (ms)
-- ARGV[4]  unique member for the global window
-- ARGV[5]  invalid-request ceiling over the two windows; 0 = off
-- ARGV[6]  ms until the current invalid window ends
-- ARGV[7]  probe (ms): how long the request that opens a window holds the bucket while awaiting its answer
-- ARGV[8]  margin (ms) added to a window this process opens before the server confirms its reset time
-- ARGV[9]  bucket key TTL (ms)
--
-- Returns {verdict, wait_ms, opener}: 0 granted (opener 1: this request opens the bucket's window); 1 bucket
-- exhausted; 2 global rate; 3 global 429; 4 invalid ceiling; 5 the request that opened the window awaits its answer.
-- Nothing is written unless the request is granted.
--
-- The first request of a window goes alone: its answer tells the window's real reset time and limit (and whether
-- a 429 is in force), so the others wait for it rather than race into a bucket whose state is a guess.

local now = tonumber(ARGV[1])

local ceiling = tonumber(ARGV[5])
if ceiling > 0 then
  local invalid = tonumber(redis.call('GET', KEYS[4]) or '0') + tonumber(redis.call('GET', KEYS[5]) or '0')
  if invalid >= ceiling then
    return {4, math.max(1, tonumber(ARGV[6]))}
  end
end

local blocked_until = tonumber(redis.call('GET', KEYS[3]) or '0')
if blocked_until > now then
  return {3, blocked_until - now}
end

local b = redis.call('HMGET', KEYS[1], 'limit', 'remaining', 'reset_at', 'window_ms', 'confirmed', 'opened_at')
local limit = tonumber(b[1]) or -1
local remaining = tonumber(b[2]) or 0
local reset_at = tonumber(b[3]) or 0
local window_ms = tonumber(b[4]) or 0
local confirmed = tonumber(b[5]) or 1
local opened_at = tonumber(b[6]) or 0
local probe_ms = tonumber(ARGV[7])
local opening = false

if now < reset_at then
  if confirmed == 0 and now < opened_at + probe_ms then
    return {5, opened_at + probe_ms - now}
  end
  if remaining <= 0 then
    return {1, reset_at - now}
  end
else
  -- The window is over (or was never seen): this request opens the next one on the server.
  opening = true
  if limit > 0 and window_ms > 0 then
    remaining = limit
    reset_at = now + window_ms + tonumber(ARGV[8])
  else
    remaining = 1
    reset_at = now + probe_ms
  end
end

local global_limit = tonumber(ARGV[2])
if global_limit > 0 then
  local window = tonumber(ARGV[3])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  if redis.call('ZCARD', KEYS[2]) >= global_limit then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {2, math.max(1, tonumber(oldest[2]) + window - now)}
  end
  redis.call('ZADD', KEYS[2], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[2], window * 2)
end

if opening then
  redis.call('HSET', KEYS[1], 'limit', limit, 'remaining', remaining - 1, 'reset_at', reset_at, 'confirmed', 0,
    'opened_at', now)
else
  redis.call('HSET', KEYS[1], 'remaining', remaining - 1)
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[9]))
return {0, 0, opening and 1 or 0}
