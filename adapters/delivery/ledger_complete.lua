-- ledger_complete.lua: mark the delivery delivered once every chunk is recorded, for the current token holder only
-- (`ledger_complete`, adapters/delivery/ledger_complete_fn.lua, prepended when this script is loaded).
-- KEYS[1] ledger record          tether:delivery:{id}
-- KEYS[2] watch index            tether:deliveries:watch
-- ARGV[1] delivery id            ARGV[2] fencing token         ARGV[3] now (ms)
-- ARGV[4] retention (s): a delivered record is kept this long so duplicates keep finding it
-- Returns {1, message id of chunk 0, chunk 1, ...} when completed, {0} when the token is stale or chunks are missing
return ledger_complete(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
