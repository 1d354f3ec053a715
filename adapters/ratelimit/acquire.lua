-- Reserve one send under every given limit at once, or under none (GCRA, the generic cell rate algorithm).
--
-- KEYS[i]  the state of limit i: a hash {tat = theoretical arrival time (µs), blocked = no send before (µs)}
-- ARGV[1]  now (µs, the caller's clock)
-- ARGV[2i], ARGV[2i+1]  limit i's emission interval (µs per send) and burst (sends that may go at once)
--
-- Times are whole µs (exact in a double up to 2^53, centuries away) and written with %.0f, so no Lua number
-- formatting ever rounds them.
--
-- Returns 0 when the send is reserved under every limit (each TAT advanced by its interval), else the number of µs to
-- wait before asking again (nothing changed). All-or-nothing, so a send held back by one limit never spends another's
-- budget, and a caller that gives up has reserved nothing.
local now = tonumber(ARGV[1])
local wait = 0
local next_tat = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 'tat', 'blocked')
  local tat = math.max(tonumber(state[1]) or now, now)
  local blocked = tonumber(state[2]) or 0
  local tolerance = interval * (burst - 1)
  wait = math.max(wait, tat - tolerance - now, blocked - now)
  next_tat[i] = tat + interval
end
if wait > 0 then
  return math.ceil(wait)
end
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', key, 'tat', string.format('%.0f', next_tat[i]))
  -- The state means nothing once the TAT is a full burst in the past; let Redis drop it then.
  redis.call('PEXPIRE', key, math.ceil((next_tat[i] - now + interval * burst) / 1000) + 1000)
end
return 0
