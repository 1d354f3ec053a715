-- route.lua: dedupe a completion event by its id and keep its first routing decision (sticky), atomically; given a
-- hand-off (KEYS[4..], ARGV[14..]), hand the delivery of a new decision off in the same step, through
-- `ledger_open` (adapters/delivery/ledger_open_fn.lua, prepended when this script is loaded): a new decision never exists
-- without its delivery. A sticky decision (a retry, a replay) is handed off by the caller, after this script.
-- KEYS[1] event hash          tether:{r}:ev:<eventId>
-- KEYS[2] decisions stream    tether:{r}:decisions
-- KEYS[3] counters hash       tether:{r}:counters
-- KEYS[4..8] optional: the hand-off's keys (K[k+1..k+5] of ledger_open, k = 3)
-- ARGV[1] id of the RQ job routing the event
-- ARGV[2] the raw event (JSON), stored on first sight
-- ARGV[3] the proposed decision (JSON of a DecisionRecord), stored when the event has none yet
-- ARGV[4] now (ms)
-- ARGV[5] dedupe window (ms): TTL of the event hash, set when the event is first seen
-- ARGV[6] approximate MAXLEN of the decisions stream
-- ARGV[7] counters field of the proposed decision     (decision:<mode>:<reason>)
-- ARGV[8] counters field of duplicates                (outcome:duplicate)
-- ARGV[9..13] the proposed decision's stream entry: event id, mode, reason, binding id, destination
--         (the entry also gets jobId = ARGV[1] and at = ARGV[4])
-- ARGV[14..] optional: the hand-off's arguments (A[a+1..] of ledger_open, a = 13), the delivery of the proposal
-- Returns {'duplicate', owner job id} when another job owns the event (it produces nothing),
--         {'sticky', decision} when the event already has a decision (a retry or a replay reuses it),
--         {'new'} when the proposed decision (ARGV[3]) was stored, or, with a hand-off,
--         {'new', outcome, status, job id, job} with what ledger_open returned.
local found = redis.call('HMGET', KEYS[1], 'job', 'decision')
local owner, stored = found[1], found[2]
if owner and owner ~= ARGV[1] then
  redis.call('HINCRBY', KEYS[1], 'dups', 1)
  redis.call('HINCRBY', KEYS[3], ARGV[8], 1)
  return {'duplicate', owner}
end
if stored then
  if not owner then
    redis.call('HSET', KEYS[1], 'job', ARGV[1], 'event', ARGV[2], 'firstAt', ARGV[4])
    redis.call('PEXPIRE', KEYS[1], ARGV[5])
  end
  return {'sticky', stored}
end
if owner then
  redis.call('HSET', KEYS[1], 'decision', ARGV[3])
else
  redis.call('HSET', KEYS[1], 'job', ARGV[1], 'event', ARGV[2], 'firstAt', ARGV[4], 'decision', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'eventId', ARGV[9], 'mode', ARGV[10], 'reason', ARGV[11],
  'bindingId', ARGV[12], 'destination', ARGV[13], 'jobId', ARGV[1], 'at', ARGV[4])
redis.call('HINCRBY', KEYS[3], ARGV[7], 1)
if #KEYS > 3 then
  local opened = ledger_open(KEYS, 3, ARGV, 13)
  return {'new', opened[1], opened[2], opened[3], opened[4]}
end
return {'new'}
