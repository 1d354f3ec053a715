-- rebind.lua: moves the active bindings of conversations to new conversation ids, all in one step (a platform
-- renamed the conversations, e.g. a chat that got a new id). Binding ids, sessions
-- and deadlines stay; a parent conversation id found in the mapping moves too. Knows nothing of any platform: the
-- caller computes the mapping. A binding whose new conversation already has an active binding of its own ends
-- with reason 'replaced' instead (the binding made on the new id is the newer one).
-- KEYS[1] events stream                                  <prefix>events
-- KEYS[2] active binding count                           <prefix>active
-- KEYS[3 + 2(i-1)] conversation index bucket of old id i <prefix>c:<bucket>
-- KEYS[4 + 2(i-1)] conversation index bucket of new id i <prefix>c:<bucket>
-- ARGV[1] key prefix   ARGV[2] now (ms)   ARGV[3] grace (ms)   ARGV[4] channel   ARGV[5] account id
-- ARGV[6 + 4(i-1)..9 + 4(i-1)] old conversation id, its index field, new conversation id, its index field
-- Returns {{id, record}, ...} of every binding moved or ended; a record is its HGETALL.
local ctx = context(ARGV[1], KEYS[1], KEYS[2], ARGV[2], ARGV[3])
local channel, account = ARGV[4], ARGV[5]
local pairs_count = (#ARGV - 5) / 4
local moved_to = {}
for i = 1, pairs_count do
  moved_to[ARGV[6 + 4 * (i - 1)]] = ARGV[8 + 4 * (i - 1)]
end

-- the active binding of a conversation in a bucket field, if any
local function active_on(bucket, field, conversation)
  for _, id in ipairs(split_ids(redis.call('HGET', bucket, field))) do
    local r = read(record_key(ctx.prefix, id))
    if r and r.c == channel and r.a == account and r.v == conversation and is_live(r, ctx.now_ms) then
      return id
    end
  end
  return nil
end

local out = {}
for i = 1, pairs_count do
  local base = 6 + 4 * (i - 1)
  local old, old_field, new, new_field = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
  local old_bucket, new_bucket = KEYS[3 + 2 * (i - 1)], KEYS[4 + 2 * (i - 1)]
  for _, id in ipairs(split_ids(redis.call('HGET', old_bucket, old_field))) do
    local key = record_key(ctx.prefix, id)
    local r = read(key)
    if r and r.t == 'active' and r.c == channel and r.a == account and r.v == old then
      local reason = expiry_reason(r, ctx.now_ms)
      if not reason and active_on(new_bucket, new_field, new) then
        reason = 'replaced'
      end
      if reason then
        out[#out + 1] = {id, end_binding(ctx, id, r, reason, false)}
      else
        redis.call('HSET', key, 'v', new)
        if r.p and moved_to[r.p] then
          redis.call('HSET', key, 'p', moved_to[r.p])
        end
        remove_id(old_bucket, old_field, id)
        local there = redis.call('HGET', new_bucket, new_field)
        redis.call('HSET', new_bucket, new_field, there and (there .. ',' .. id) or id)
        redis.call('XADD', ctx.events, 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'type', 'rebind', 'bindingId', id,
          'targetSessionKey', r.s, 'channel', r.c, 'accountId', r.a, 'conversationId', new, 'from', old,
          'at', ctx.now)
        out[#out + 1] = {id, redis.call('HGETALL', key)}
      end
    end
  end
end
return out
