-- bind.lua: binds a conversation to a session; the conversation's current binding ends in the same step, with
-- reason 'replaced' (or its expiry reason when it is already past its deadline).
-- KEYS[1] record of the new binding           <prefix>r:<id>
-- KEYS[2] conversation index bucket            <prefix>c:<bucket>
-- KEYS[3] session index bucket                 <prefix>s:<bucket>
-- KEYS[4] expiry shard of the new binding      <prefix>x:<shard>
-- KEYS[5] expiry shard directory               <prefix>xd
-- KEYS[6] events stream                        <prefix>events
-- KEYS[7] active binding count                 <prefix>active
-- ARGV[1] key prefix                ARGV[2] now (ms, the caller's clock)   ARGV[3] grace (ms)
-- ARGV[4] binding id                ARGV[5] conversation index field       ARGV[6] session index field
-- ARGV[7] channel                   ARGV[8] account id                     ARGV[9] conversation id
-- ARGV[10] target session key       ARGV[11] expiresAt (ms) or ''          ARGV[12] expiry shard name
-- ARGV[13..] the new record's field/value pairs
-- Returns {} when the binding id is taken (the caller draws another), else {{id, record}, {ended id, record}...}
-- with the new binding first; a record is its HGETALL.
local ctx = context(ARGV[1], KEYS[6], KEYS[7], ARGV[2], ARGV[3])
local id = ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {}
end

local out = {false}
local kept = {}
for _, old in ipairs(split_ids(redis.call('HGET', KEYS[2], ARGV[5]))) do
  local r = read(record_key(ctx.prefix, old))
  if r and r.t == 'active' then
    if r.c == ARGV[7] and r.a == ARGV[8] and r.v == ARGV[9] then
      local reason = expiry_reason(r, ctx.now_ms) or 'replaced'
      out[#out + 1] = {old, end_binding(ctx, old, r, reason, true)}
    else
      kept[#kept + 1] = old  -- another conversation whose hash collides with this one
    end
  end
end
kept[#kept + 1] = id
put_ids(KEYS[2], ARGV[5], kept)

local fields = {}
for i = 13, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
redis.call('HSET', KEYS[1], unpack(fields))

local expires = ARGV[11]
if expires ~= '' then
  redis.call('PEXPIRE', KEYS[1], int(math.max(1, tonumber(expires) - ctx.now_ms + tonumber(ctx.grace))))
  redis.call('ZADD', KEYS[4], expires, id)
  redis.call('ZADD', KEYS[5], 'LT', expires, ARGV[12])
end

local session = redis.call('HGET', KEYS[3], ARGV[6])
redis.call('HSET', KEYS[3], ARGV[6], session and (session .. ',' .. id) or id)
redis.call('INCR', KEYS[7])

event(KEYS[6], 'bind', id, {s = ARGV[10], c = ARGV[7], a = ARGV[8], v = ARGV[9]}, nil, ctx.now)
out[1] = {id, redis.call('HGETALL', KEYS[1])}
return out
