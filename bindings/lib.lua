-- lib.lua: helpers shared by the binding store's scripts, prepended to each script when it is loaded
-- (bindings/scripts.py), so this file has no KEYS or ARGV of its own.
-- Key names and hashing mirror bindings/keys.py exactly (tests/bindings/test_keys.py pins that they agree);
-- record field letters are those of bindings/codec.py. Times are integer ms from the caller's clock.
--
-- Layout (see bindings/keys.py):
--   <prefix>r:<id>       hash    record           <prefix>c:<bucket>  hash  conversation index (ids joined by ",")
--   <prefix>s:<bucket>   hash    session index    <prefix>x:<shard>   zset  expiry index (score = expiresAt)
--   <prefix>xd           zset    shard directory  <prefix>events      stream bind/unbind events
--   <prefix>active       string  number of bindings not yet ended
-- Index and shard keys of a binding reached through an index (a replaced or due binding) are derived here from
-- its record: the caller cannot name them in advance. All share the `{b}` hash tag, hence one cluster slot.

local HASH_MOD = 17592186044399
local HASH_MUL = 131
local BUCKETS = 65536
local SHARDS = 16384
local FIELD_RANGE = 16777216
local EVENTS_MAXLEN = '10000'

local function int(x)
  return string.format('%d', x)
end

-- exact in Lua 5.1 doubles: h * 131 + 255 < 2^53
local function slot_hash(text)
  local h = 0
  for i = 1, #text do
    h = (h * HASH_MUL + string.byte(text, i)) % HASH_MOD
  end
  return h
end

local function bucket_and_field(text)
  local h = slot_hash(text)
  return string.format('%04x', h % BUCKETS), int(math.floor(h / BUCKETS) % FIELD_RANGE)
end

local function record_key(prefix, id)
  return prefix .. 'r:' .. id
end

local function conversation_index(prefix, channel, account, conversation)
  local bucket, field = bucket_and_field(channel .. '\n' .. account .. '\n' .. conversation)
  return prefix .. 'c:' .. bucket, field
end

local function session_index(prefix, session)
  local bucket, field = bucket_and_field(session)
  return prefix .. 's:' .. bucket, field
end

local function shard_name(id)
  return string.format('%04x', slot_hash(id) % SHARDS)
end

-- a record as a table, with the defaults the stored form leaves out (bindings/codec.py: DEFAULTS)
local function as_table(flat)
  local r = {}
  for i = 1, #flat, 2 do
    r[flat[i]] = flat[i + 1]
  end
  r.t = r.t or 'active'
  r.a = r.a or 'default'
  return r
end

-- expiresAt: the earlier of the idle deadline (last activity + idle timeout) and the max-age deadline
-- (bound at + max age), nil when neither applies; derived, never stored
local function expires_at(r)
  local b = tonumber(r.b)
  local e = nil
  if r.i then
    e = tonumber(r.l or r.b) + tonumber(r.i)
  end
  if r.m and (not e or b + tonumber(r.m) < e) then
    e = b + tonumber(r.m)
  end
  return e
end

-- the record as a table, nil when Redis has dropped it
local function read(key)
  local flat = redis.call('HGETALL', key)
  if #flat == 0 then
    return nil
  end
  return as_table(flat)
end

local function split_ids(value)
  local ids = {}
  if value then
    for id in string.gmatch(value, '[^,]+') do
      ids[#ids + 1] = id
    end
  end
  return ids
end

local function put_ids(key, field, ids)
  if #ids == 0 then
    redis.call('HDEL', key, field)
  else
    redis.call('HSET', key, field, table.concat(ids, ','))
  end
end

local function remove_id(key, field, id)
  local value = redis.call('HGET', key, field)
  if not value then
    return
  end
  local kept = {}
  for _, other in ipairs(split_ids(value)) do
    if other ~= id then
      kept[#kept + 1] = other
    end
  end
  put_ids(key, field, kept)
end

local function is_live(r, now)
  local e = expires_at(r)
  return r.t == 'active' and (not e or now < e)
end

-- 'max-age-expired' or 'idle-expired' once the earlier deadline has passed at `now`, else nil;
-- expiresAt is the earlier of the two deadlines, so max age is the reason when its deadline is expiresAt
local function expiry_reason(r, now)
  local e = expires_at(r)
  if not e or now < e then
    return nil
  end
  if r.m and tonumber(r.b) + tonumber(r.m) <= e then
    return 'max-age-expired'
  end
  return 'idle-expired'
end

local function event(events_key, kind, id, r, reason, now)
  local args = {'XADD', events_key, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'type', kind, 'bindingId', id,
    'targetSessionKey', r.s, 'channel', r.c, 'accountId', r.a, 'conversationId', r.v or '', 'at', now}
  if reason then
    args[#args + 1] = 'reason'
    args[#args + 1] = reason
  end
  redis.call(unpack(args))
end

-- What ending a binding needs, built once per script call: ctx(prefix, events key, counter key, now, grace ms).
local function context(prefix, events_key, counter_key, now, grace_ms)
  return {prefix = prefix, events = events_key, counter = counter_key, now = now, now_ms = tonumber(now),
    grace = grace_ms}
end

-- Ends the active binding `id` (its record as table r): the record says ended and stays `grace` ms for explain,
-- the indexes forget it (but the conversation index when skip_conversation: the caller rewrites that entry),
-- the active count drops, the event is appended. Returns the record's final HGETALL.
local function end_binding(ctx, id, r, reason, skip_conversation)
  local key = record_key(ctx.prefix, id)
  redis.call('HSET', key, 't', 'ended', 'x', ctx.now, 'y', reason)
  redis.call('PEXPIRE', key, ctx.grace)
  if not skip_conversation then
    local ckey, cfield = conversation_index(ctx.prefix, r.c, r.a, r.v)
    remove_id(ckey, cfield, id)
  end
  local skey, sfield = session_index(ctx.prefix, r.s)
  remove_id(skey, sfield, id)
  redis.call('ZREM', ctx.prefix .. 'x:' .. shard_name(id), id)
  redis.call('DECR', ctx.counter)
  event(ctx.events, 'unbind', id, r, reason, ctx.now)
  return redis.call('HGETALL', key)
end

-- end of lib.lua ------------------------------------------------------------------------------------------------
