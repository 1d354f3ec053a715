-- unbind_ids.lua: ends bindings by id. An active binding already past its deadline ends with its expiry reason
-- rather than the caller's; ended or vanished ones are skipped (so each binding ends once).
-- KEYS[1] events stream                       <prefix>events
-- KEYS[2] active binding count                <prefix>active
-- KEYS[3..] records of the bindings to end     <prefix>r:<id>
-- ARGV[1] key prefix   ARGV[2] now (ms)   ARGV[3] grace (ms)   ARGV[4] reason
-- ARGV[5..] binding ids, in the order of KEYS[3..]
-- Returns {{id, record}, ...} of the bindings this call ended; a record is its HGETALL.
local ctx = context(ARGV[1], KEYS[1], KEYS[2], ARGV[2], ARGV[3])
local out = {}
for i = 3, #KEYS do
  local id = ARGV[i + 2]
  local r = read(KEYS[i])
  if r and r.t == 'active' then
    local reason = expiry_reason(r, ctx.now_ms) or ARGV[4]
    out[#out + 1] = {id, end_binding(ctx, id, r, reason, false)}
  end
end
return out
