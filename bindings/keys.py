"""Every Redis key of the binding store, under one prefix, built here and mirrored by `lib.lua`.

Key layout (memory matters: the target is ≤ 400 bytes per live binding, indexes included, at 1,000,000 bindings):

    tether:{b}:r:<bindingId>   hash    the record; one-letter field names (`bindings.codec.FIELDS`);
                                       key TTL = expiresAt + grace while active (no TTL when the binding never
                                       expires), = grace once ended (kept that long for `tether explain`)
    tether:{b}:c:<bucket>      hash    conversation index: 65,536 buckets chosen by `slot_hash` of the
                                       conversation key; field = 24 more bits of that hash (an integer, so the
                                       listpack stores it in 4 bytes); value = the binding ids of active bindings
                                       whose conversation falls there, joined by "," (one id, except on a hash
                                       collision, which readers tell apart by the record's own channel/account/id)
    tether:{b}:s:<bucket>      hash    session index: same bucketing over the target session key; value = the
                                       session's binding ids joined by "," (collisions filtered the same way)
    tether:{b}:x:<shard>       zset    expiry index: 16,384 shards chosen by `slot_hash(bindingId)`;
                                       member = binding id, score = expiresAt (bindings that never expire are absent)
    tether:{b}:xd              zset    shard directory: member = shard name, score ≤ the earliest deadline in that
                                       shard (a lower bound; the sweeper makes it exact), so a sweep visits only
                                       shards with something due: O(expired), never a SCAN
    tether:{b}:events          stream  every bind and unbind with its reason, MAXLEN ~ 10,000
    tether:{b}:active          string  how many bindings are not yet ended (O(1) for `tether status` and metrics;
                                       includes ones past their deadline that no sweeper has ended yet)

Why buckets: small hashes and zsets are stored as compact listpacks (up to 128 entries, values up to 64 bytes in
Redis 7.0), where an entry costs its bytes plus ~2; a top-level key costs ~100 bytes of overhead. With 2^16 buckets,
1M bindings put ~15 entries in each bucket and ~61 in each expiry shard: listpacks until ~7M bindings (buckets) or
~1.5M (shards), past which the fuller ones turn into hashtables: more memory, same behaviour.

The `{b}` hash tag puts every key in one cluster slot, because the scripts end bindings they reach through an
index (a replaced binding, a due one), whose keys the caller cannot name in advance.
"""

from __future__ import annotations

PREFIX = "tether:{b}:"
EVENTS_MAXLEN = 10_000

BUCKETS = 65_536  # conversation and session index buckets
SHARDS = 16_384  # expiry index shards

# A polynomial string hash modulo a prime below 2^44: exact both in Python ints and in Lua 5.1 doubles
# (h * 131 + 255 < 2^53), and computable in Lua scripts on fakeredis, which lacks redis.sha1hex.
_HASH_MOD = 17_592_186_044_399
_HASH_MUL = 131


def slot_hash(text: str) -> int:
    h = 0
    for byte in text.encode():
        h = (h * _HASH_MUL + byte) % _HASH_MOD
    return h


def conversation_string(channel: str, account_id: str, conversation_id: str) -> str:
    """What the conversation index hashes; only hashed, never parsed, so the separator needs no escaping."""
    return f"{channel}\n{account_id}\n{conversation_id}"


def _bucket_and_field(text: str) -> tuple[str, str]:
    h = slot_hash(text)
    return f"{h % BUCKETS:04x}", str((h // BUCKETS) % (1 << 24))


def record(binding_id: str) -> str:
    return f"{PREFIX}r:{binding_id}"


def conversation_bucket(channel: str, account_id: str, conversation_id: str) -> tuple[str, str]:
    """(key, field) of a normalised conversation in the conversation index."""
    bucket, field = _bucket_and_field(conversation_string(channel, account_id, conversation_id))
    return f"{PREFIX}c:{bucket}", field


def session_bucket(target_session_key: str) -> tuple[str, str]:
    """(key, field) of a target session in the session index."""
    bucket, field = _bucket_and_field(target_session_key)
    return f"{PREFIX}s:{bucket}", field


def expiry_shard_name(binding_id: str) -> str:
    return f"{slot_hash(binding_id) % SHARDS:04x}"


def expiry_shard(shard_name: str) -> str:
    return f"{PREFIX}x:{shard_name}"


def expiry_directory() -> str:
    return f"{PREFIX}xd"


def events() -> str:
    return f"{PREFIX}events"


def active_count() -> str:
    return f"{PREFIX}active"
