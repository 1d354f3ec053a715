-- unbind_session.lua: ends every active binding of a session (expired ones with their expiry reason), in one step.
-- KEYS[1] session index bucket   <prefix>s:<bucket>
-- KEYS[2] events stream          <prefix>events
-- KEYS[3] active binding count   <prefix>active
-- ARGV[1] key prefix   ARGV[2] now (ms)   ARGV[3] grace (ms)   ARGV[4] reason
-- ARGV[5] session index field   ARGV[6] target session key
-- Returns {{id, record}, ...} of the bindings this call ended; a record is its HGETALL.
local ctx = context(ARGV[1], KEYS[2], KEYS[3], ARGV[2], ARGV[3])
local out = {}
local kept = {}
for _, id in ipairs(split_ids(redis.call('HGET', KEYS[1], ARGV[5]))) do
  local r = read(record_key(ctx.prefix, id))
  if r and r.t == 'active' then
    if r.s == ARGV[6] then
      local reason = expiry_reason(r, ctx.now_ms) or ARGV[4]
      out[#out + 1] = {id, end_binding(ctx, id, r, reason, false)}
    else
      kept[#kept + 1] = id  -- another session whose hash collides with this one
    end
  end
end
put_ids(KEYS[1], ARGV[5], kept)
return out
