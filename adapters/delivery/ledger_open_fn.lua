-- ledger_open_fn.lua: `ledger_open`, the hand-off's Lua function, prepended to the scripts that call it when they
-- are loaded (ledger_open.lua; the router's route.lua, which hands a new decision's delivery off in the same
-- script), so this file has no KEYS or ARGV of its own: it reads its keys and arguments from the tables K and A
-- after the offsets k and a.
--
-- Creates a delivery's ledger record (pending) if it does not exist; revives a dead record that
-- `tether dlq replay --reroute` re-armed; otherwise changes nothing. Given an RQ job (keys k+3..k+5, arguments
-- a+8..a+14) it also enqueues that job, in the same atomic step, whenever the record is left pending under the
-- job's id and no job of that id exists, writing what RQ's own unique enqueue (`Queue.enqueue(..., unique=True)`)
-- writes — the job hash with the fields of `Job.to_dict` (tests/adapters/delivery/test_rq_job_hash.py pins them to
-- RQ's), `data` uncompressed, the id pushed onto the queue, the queue registered: no crash can come between a new
-- record and its job, and a repeated hand-off enqueues nothing while the job exists.
--   K[k+1] ledger record          tether:delivery:{id}
--   K[k+2] watch index            tether:deliveries:watch
--   K[k+3] RQ job hash            rq:job:{A[a+6]}           (optional: K[k+3..k+5] and A[a+8..a+14] come together)
--   K[k+4] RQ queue               rq:queue:deliver.{channel}
--   K[k+5] RQ queue registry      rq:queues
--   A[a+1] delivery id            A[a+2] now (ms)           A[a+3] delivery payload (JSON): the job's one argument
--   A[a+4] channel                A[a+5] event id           A[a+6] job id for a new record
--   A[a+7] watch deadline (ms): by then a job must have claimed it, else the reaper enqueues another
--   A[a+8] job function           A[a+9] queue name         A[a+10] job description
--   A[a+11] job timeout (s)       A[a+12] result TTL (s)    A[a+13] failure TTL (s)
--   A[a+14] enqueue time, as RQ writes it (created_at and enqueued_at)
-- Returns {outcome, status, job id, job}: outcome 'created' | 'revived' | 'exists' (status as found);
--   job 'enqueued' (this call wrote job `job id`), 'present' (a job `job id` already exists), 'caller' (the record
--   is pending under `job id` and this call wrote no job: the caller enqueues it), 'none' (not pending).

local function ledger_open(K, k, A, a)
  local record, watch, id, now = K[k + 1], K[k + 2], A[a + 1], A[a + 2]
  local status = redis.call('HGET', record, 'status')
  local outcome
  local job
  if not status then
    job = A[a + 6]
    redis.call('HSET', record, 'status', 'pending', 'deliveryId', id, 'eventId', A[a + 5], 'channel', A[a + 4],
      'payload', A[a + 3], 'attempts', 0, 'fence', 0, 'done', 0, 'createdAt', now, 'updatedAt', now,
      'nextAttemptAt', now, 'job', job)
    redis.call('ZADD', watch, A[a + 7], id)
    outcome = 'created'
  elseif status == 'dead' and redis.call('HGET', record, 'rearm') == '1' then
    local n = redis.call('HINCRBY', record, 'replays', 1)
    job = A[a + 6] .. '-p' .. n
    redis.call('HSET', record, 'status', 'pending', 'attempts', 0, 'payload', A[a + 3], 'updatedAt', now,
      'nextAttemptAt', now, 'job', job)
    redis.call('HDEL', record, 'rearm', 'deadAt', 'deadReason')
    redis.call('PERSIST', record)
    redis.call('ZADD', watch, A[a + 7], id)
    outcome = 'revived'
  else
    job = redis.call('HGET', record, 'job') or ''
    if status ~= 'pending' then
      return {'exists', status, job, 'none'}
    end
    outcome = 'exists'
  end
  if #K < k + 5 or job ~= A[a + 6] then
    return {outcome, 'pending', job, 'caller'}
  end
  if redis.call('EXISTS', K[k + 3]) == 1 then
    return {outcome, 'pending', job, 'present'}
  end
  local at = A[a + 14]
  redis.call('HSET', K[k + 3], 'created_at', at, 'data', '["' .. A[a + 8] .. '",null,[' .. A[a + 3] .. '],{}]',
    'success_callback_name', '', 'failure_callback_name', '', 'stopped_callback_name', '', 'started_at', '',
    'ended_at', '', 'last_heartbeat', '', 'worker_name', '', 'group_id', '', 'origin', A[a + 9],
    'description', A[a + 10], 'enqueued_at', at, 'timeout', A[a + 11], 'result_ttl', A[a + 12],
    'failure_ttl', A[a + 13], 'status', 'queued')
  redis.call('RPUSH', K[k + 4], job)
  redis.call('SADD', K[k + 5], K[k + 4])
  return {outcome, 'pending', job, 'enqueued'}
end
