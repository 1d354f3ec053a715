-- A 429 (or a lost probe): hold a bucket, or the whole account, until a given time.
--
-- KEYS[1]  bucket hash     tether:discord:rl:{account}:bucket:{hash}:{major}
-- KEYS[2]  global block    tether:discord:rl:{account}:global-block
-- ARGV[1]  until (ms); for "release", ignored
-- ARGV[2]  mode: "bucket" (exhaust the bucket until ARGV[1]), "global" (block the account until ARGV[1]),
--          "release" (the request that opened the bucket's window got no usable answer: let others go — or, when
--          the limit is still unknown, let another request find it out)
-- ARGV[3]  bucket key TTL (ms)
-- ARGV[4]  now (ms)

local mode = ARGV[2]
local until_ms = tonumber(ARGV[1])
if mode == 'global' then
  local current = tonumber(redis.call('GET', KEYS[2]) or '0')
  if until_ms > current then
    redis.call('SET', KEYS[2], until_ms, 'PX', math.max(1, until_ms - tonumber(ARGV[4])))
  end
  return 1
elseif mode == 'bucket' then
  local reset_at = tonumber(redis.call('HGET', KEYS[1], 'reset_at') or '0')
  redis.call('HSET', KEYS[1], 'remaining', 0, 'reset_at', math.max(reset_at, until_ms), 'confirmed', 1)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return 1
elseif mode == 'release' then
  local limit = tonumber(redis.call('HGET', KEYS[1], 'limit') or '-1')
  if limit <= 0 then
    redis.call('DEL', KEYS[1])
  elseif redis.call('EXISTS', KEYS[1]) == 1 then
    redis.call('HSET', KEYS[1], 'confirmed', 1)
  end
  return 1
end
return redis.error_reply('INVALID mode unknown mode ' .. tostring(mode))
