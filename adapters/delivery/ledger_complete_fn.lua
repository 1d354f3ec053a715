-- ledger_complete_fn.lua: `ledger_complete`, prepended to the scripts that complete a delivery (ledger_complete.lua;
-- ledger_record_chunk.lua, which completes it with its last chunk in the same step).
-- Marks the delivery delivered once every chunk is recorded, for the current token holder only.
--   record  ledger record key     watch  watch index key        id  delivery id
--   fence   fencing token         now    now (ms)               retention (s): a delivered record is kept this long
--                                                               so duplicates keep finding it
-- Returns {1, message id of chunk 0, chunk 1, ...} when completed, {0} when the token is stale or chunks are missing.
local function ledger_complete(record, watch, id, fence, now, retention)
  if redis.call('HGET', record, 'status') ~= 'sending' or redis.call('HGET', record, 'fence') ~= fence then
    return {0}
  end
  local done = tonumber(redis.call('HGET', record, 'done') or '0')
  local chunks = tonumber(redis.call('HGET', record, 'chunks') or '0')
  if done < chunks then
    return {0}
  end
  redis.call('HSET', record, 'status', 'delivered', 'deliveredAt', now, 'updatedAt', now)
  redis.call('HDEL', record, 'owner', 'leaseUntil', 'inflight', 'nextAttemptAt')
  redis.call('ZREM', watch, id)
  redis.call('EXPIRE', record, retention)
  local out = {1}
  for i = 0, chunks - 1 do
    out[#out + 1] = redis.call('HGET', record, 'msg:' .. i) or ''
  end
  return out
end
