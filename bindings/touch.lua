-- touch.lua: records activity on a live binding: the idle deadline moves to activity + idle timeout, never past
-- the max-age deadline (boundAt + max age), and never backwards.
-- KEYS[1] record                        <prefix>r:<id>
-- KEYS[2] expiry shard of the binding   <prefix>x:<shard>
-- ARGV[1] now (ms)   ARGV[2] activity time (ms)   ARGV[3] grace (ms)   ARGV[4] binding id
-- Returns the record (HGETALL), or nil when the binding is gone, ended or expired.
local r = read(KEYS[1])
local now_ms = tonumber(ARGV[1])
if not r or not is_live(r, now_ms) then
  return false
end
local at = tonumber(ARGV[2])
if at > tonumber(r.l or r.b) then
  r.l = int(at)
  redis.call('HSET', KEYS[1], 'l', r.l)
end
local expires = expires_at(r)
if expires then
  redis.call('PEXPIRE', KEYS[1], int(math.max(1, expires - now_ms + tonumber(ARGV[3]))))
  -- scores only grow here, so the shard directory's lower bound stays valid untouched
  redis.call('ZADD', KEYS[2], 'XX', int(expires), ARGV[4])
end
return redis.call('HGETALL', KEYS[1])
