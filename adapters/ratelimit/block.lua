-- A platform answered 429: nobody sends under this limit before now + retry_after.
--
-- KEYS[1]  the limit's state hash (see acquire.lua)
-- ARGV[1]  now (µs)   ARGV[2]  retry after (µs)
--
-- Only ever moves `blocked` later, so an older, shorter answer arriving late cannot shorten a newer block.
local now = tonumber(ARGV[1])
local until_us = now + tonumber(ARGV[2])
local current = tonumber(redis.call('HGET', KEYS[1], 'blocked')) or 0
if until_us > current then
  redis.call('HSET', KEYS[1], 'blocked', string.format('%.0f', until_us))
end
local keep_ms = math.ceil((math.max(until_us, current) - now) / 1000) + 1000
if redis.call('PTTL', KEYS[1]) < keep_ms then
  redis.call('PEXPIRE', KEYS[1], keep_ms)
end
return 1
