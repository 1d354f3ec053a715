-- resolve.lua: the active, unexpired binding of a conversation, in one round trip; index entries of records that
-- ended or that Redis dropped are cleaned on the way (expired but still active ones are left to the sweeper,
-- which ends them with their reason).
-- KEYS[1] conversation index bucket     <prefix>c:<bucket>
-- ARGV[1] key prefix   ARGV[2] now (ms)   ARGV[3] conversation index field
-- ARGV[4] channel      ARGV[5] account id  ARGV[6] conversation id
-- Returns {id, record} or nil; a record is its HGETALL.
local ids = split_ids(redis.call('HGET', KEYS[1], ARGV[3]))
if #ids == 0 then
  return false
end
local now_ms = tonumber(ARGV[2])
local found = false
local kept = {}
for _, id in ipairs(ids) do
  local flat = redis.call('HGETALL', record_key(ARGV[1], id))
  if #flat > 0 then
    local r = as_table(flat)
    if r.t == 'active' then
      kept[#kept + 1] = id
      if not found and r.c == ARGV[4] and r.a == ARGV[5] and r.v == ARGV[6] and is_live(r, now_ms) then
        found = {id, flat}
      end
    end
  end
end
if #kept < #ids then
  put_ids(KEYS[1], ARGV[3], kept)
end
return found
