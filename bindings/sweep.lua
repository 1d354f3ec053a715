-- sweep.lua: ends the due bindings of one expiry shard with 'idle-expired' / 'max-age-expired'. Check and end
-- happen here, in one step, so sweepers running at once end each binding exactly once.
-- KEYS[1] expiry shard             <prefix>x:<shard>
-- KEYS[2] expiry shard directory   <prefix>xd
-- KEYS[3] events stream            <prefix>events
-- KEYS[4] active binding count     <prefix>active
-- ARGV[1] key prefix   ARGV[2] now (ms)   ARGV[3] grace (ms)   ARGV[4] at most this many entries
-- ARGV[5] shard name (its member in the directory)
-- Returns {more, {id, record}, ...}: the bindings ended; more = 1 when due entries were left for another call.
local ctx = context(ARGV[1], KEYS[3], KEYS[4], ARGV[2], ARGV[3])
local limit = tonumber(ARGV[4])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ctx.now, 'LIMIT', 0, limit + 1)
local out = {0}
for i, id in ipairs(due) do
  if i > limit then
    out[1] = 1
    break
  end
  local r = read(record_key(ctx.prefix, id))
  if not r then
    -- Redis dropped the record while it was still active (ending removes the shard entry): no longer counted
    redis.call('ZREM', KEYS[1], id)
    redis.call('DECR', KEYS[4])
  elseif r.t ~= 'active' then
    redis.call('ZREM', KEYS[1], id)
  else
    local reason = expiry_reason(r, ctx.now_ms)
    if reason then
      out[#out + 1] = {id, end_binding(ctx, id, r, reason, false)}
    elseif expires_at(r) then
      redis.call('ZADD', KEYS[1], int(expires_at(r)), id)  -- its deadline moved without the index: file it again
    else
      redis.call('ZREM', KEYS[1], id)
    end
  end
end
-- the directory's score becomes exact again: the shard's earliest deadline, or no entry for an empty shard
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then
  redis.call('ZREM', KEYS[2], ARGV[5])
else
  redis.call('ZADD', KEYS[2], first[2], ARGV[5])
end
return out
