-- list_session.lua: the active, unexpired bindings of a session, O(its bindings); index entries of records that
-- ended or that Redis dropped are cleaned on the way (expired but still active ones are left to the sweeper).
-- KEYS[1] session index bucket     <prefix>s:<bucket>
-- ARGV[1] key prefix   ARGV[2] now (ms)   ARGV[3] session index field   ARGV[4] target session key
-- Returns {{id, record}, ...} in bind order; a record is its HGETALL.
local ids = split_ids(redis.call('HGET', KEYS[1], ARGV[3]))
local now_ms = tonumber(ARGV[2])
local out = {}
local kept = {}
for _, id in ipairs(ids) do
  local flat = redis.call('HGETALL', record_key(ARGV[1], id))
  if #flat > 0 then
    local r = as_table(flat)
    if r.t == 'active' then
      kept[#kept + 1] = id
      if r.s == ARGV[4] and is_live(r, now_ms) then
        out[#out + 1] = {id, flat}
      end
    end
  end
end
if #kept < #ids then
  put_ids(KEYS[1], ARGV[3], kept)
end
return out
