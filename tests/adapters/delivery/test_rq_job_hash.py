"""The hand-off's Lua (`adapters/delivery/ledger_open_fn.lua`) writes RQ's job hash by hand: it must write exactly
what RQ's own `Queue.enqueue(…, unique=True)` writes for the same delivery job, field by field, so that an RQ upgrade
that changes the job hash fails here instead of silently breaking hand-offs. The job's refusal allowlist
(`adapters/delivery/jobfields.py`) must also accept every field of it."""

from __future__ import annotations

import json
import re
import zlib

import pytest
import redis

from adapters.delivery.enqueue import delivery_job, enqueue_delivery
from adapters.delivery.handoff import hand_off
from adapters.delivery.jobfields import PRODUCER_FIELDS, forbidden_fields
from adapters.delivery.rqwire import deliver_queue_name, rq_job_key, rq_queue_key, rq_queues_key
from adapters.delivery.settings import job_id_for
from bindings.config import TetherConfig
from tests.adapters.support import CHANNEL, make_delivery

# Fields whose values must differ between two writes, each compared by what must hold of it instead.
RQ_TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z")
TIMESTAMPS = frozenset({b"created_at", b"enqueued_at"})


def differences(ours: dict[bytes, bytes], rqs: dict[bytes, bytes]) -> list[str]:
    """How the hand-off's job hash differs from RQ's, field by field (empty when they match)."""
    out = [f"{f.decode()}: only RQ writes it" for f in sorted(rqs.keys() - ours.keys())]
    out += [f"{f.decode()}: RQ does not write it" for f in sorted(ours.keys() - rqs.keys())]
    for field in sorted(ours.keys() & rqs.keys()):
        mine, theirs = ours[field], rqs[field]
        if field in TIMESTAMPS:
            same = bool(RQ_TIMESTAMP.match(mine)) and bool(RQ_TIMESTAMP.match(theirs))
        elif field == b"data":  # RQ compresses what it writes and reads both; the hand-off writes it plain
            same = _json(mine) == _json(_decompressed(theirs))
        else:
            same = mine == theirs
        if not same:
            out.append(f"{field.decode()}: {mine!r} != RQ's {theirs!r}")
    return out


def _decompressed(raw: bytes) -> bytes:
    try:
        return zlib.decompress(raw)
    except zlib.error:
        return raw


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def handed_off_and_rq_hashes(client: redis.Redis, config: TetherConfig) -> tuple[dict[bytes, bytes],
                                                                                   dict[bytes, bytes]]:
    """The job hash the hand-off writes, then the one RQ writes for the same job id and delivery."""
    d = make_delivery()
    job_id = job_id_for(d.delivery_id)
    hand_off(client, d, config=config)
    ours: dict[bytes, bytes] = client.hgetall(rq_job_key(job_id))  # type: ignore[assignment]
    queue_key = rq_queue_key(deliver_queue_name(CHANNEL))
    assert client.lrange(queue_key, 0, -1) == [job_id.encode()]
    assert client.smembers(rq_queues_key()) == {queue_key.encode()}

    client.delete(rq_job_key(job_id), queue_key, rq_queues_key())
    assert enqueue_delivery(client, CHANNEL, d, job_id=job_id)
    rqs: dict[bytes, bytes] = client.hgetall(rq_job_key(job_id))  # type: ignore[assignment]
    assert client.lrange(queue_key, 0, -1) == [job_id.encode()]
    assert client.smembers(rq_queues_key()) == {queue_key.encode()}
    return ours, rqs


def test_the_hand_off_writes_the_job_hash_rqs_own_enqueue_writes(real_redis: redis.Redis,
                                                                   config: TetherConfig) -> None:
    ours, rqs = handed_off_and_rq_hashes(real_redis, config)
    assert differences(ours, rqs) == []
    assert delivery_job(CHANNEL, job_id="x").description == "deliver x"


def test_every_field_either_writes_is_one_a_producer_may_write(real_redis: redis.Redis,
                                                               config: TetherConfig) -> None:
    ours, rqs = handed_off_and_rq_hashes(real_redis, config)
    assert forbidden_fields(ours) == ()
    assert forbidden_fields(rqs) == ()
    assert {f.decode() for f in ours.keys() | rqs.keys()} <= PRODUCER_FIELDS


def _changed(field: bytes, value: bytes) -> bytes:
    if field == b"data":  # still JSON RQ can read, with one element more
        return zlib.compress(json.dumps([*json.loads(zlib.decompress(value)), 1]).encode())
    return value + b"0" if value else b"x"


@pytest.mark.parametrize("field", ["created_at", "data", "success_callback_name", "failure_callback_name",
                                   "stopped_callback_name", "started_at", "ended_at", "last_heartbeat",
                                   "worker_name", "group_id", "origin", "description", "enqueued_at", "timeout",
                                   "result_ttl", "failure_ttl", "status"])
def test_the_comparison_fails_when_rqs_hash_has_one_field_changed(real_redis: redis.Redis, config: TetherConfig,
                                                                  field: str) -> None:
    ours, rqs = handed_off_and_rq_hashes(real_redis, config)
    key = field.encode()
    assert key in rqs, f"RQ no longer writes {field}"
    changed = {**rqs, key: _changed(key, rqs[key])}
    assert [d.split(":")[0] for d in differences(ours, changed)] == [field]
    dropped = {k: v for k, v in rqs.items() if k != key}
    assert [d.split(":")[0] for d in differences(ours, dropped)] == [field]


def test_the_comparison_fails_when_rq_writes_a_new_field(real_redis: redis.Redis, config: TetherConfig) -> None:
    ours, rqs = handed_off_and_rq_hashes(real_redis, config)
    assert differences(ours, {**rqs, b"rate_limit_key": b"k"}) == ["rate_limit_key: only RQ writes it"]
