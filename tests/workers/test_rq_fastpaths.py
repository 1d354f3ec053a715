"""tether's workers replace two of RQ's helpers with cheaper ones that give RQ's answers."""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil
import sys
from collections.abc import Callable
from typing import Any

import pytest
import redis
import rq
import rq.serializers
import rq.utils
from hypothesis import given
from hypothesis import strategies as st
from rq.serializers import JSONSerializer

from adapters.delivery.rqwire import COMPLETIONS_QUEUE, MsgspecJSONSerializer
from router.enqueue import enqueue_completion
from tests.router.factories import event
from workers import rq_fastpaths
from workers.runner import WorkerSpec, build_worker


def rq_original(name: str) -> Callable[..., Any]:
    rq_fastpaths.install()
    fast = getattr(rq.utils if name == "utcparse" else rq.serializers, name)
    original: Callable[..., Any] = fast.__wrapped__
    return original


def rq_modules() -> list[Any]:
    for info in pkgutil.walk_packages(rq.__path__, "rq."):
        if not info.name.startswith("rq.contrib"):  # optional integrations (sentry, …) with their own imports
            importlib.import_module(info.name)
    return [m for name, m in sys.modules.items() if name == "rq" or name.startswith("rq.")]


def test_every_rq_module_uses_the_fast_helpers_once_a_tether_worker_exists(real_redis: redis.Redis) -> None:
    modules = rq_modules()
    build_worker(real_redis, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE]))
    rq_fastpaths.install()  # idempotent: nothing is wrapped twice

    holders = [(m.__name__, name) for m in modules for name in ("resolve_serializer", "utcparse") if hasattr(m, name)]
    assert ("rq.job", "resolve_serializer") in holders and ("rq.utils", "utcparse") in holders
    slow = [(module, name) for module, name in holders
            if not getattr(getattr(sys.modules[module], name), "__tether_fast__", False)]
    assert slow == []
    assert not getattr(rq_original("utcparse"), "__tether_fast__", False)


def test_tethers_serializer_is_resolved_without_rqs_protocol_check() -> None:
    calls: list[Any] = []
    resolve = rq_fastpaths._fast_resolve_serializer(lambda s: calls.append(s) or s)

    assert resolve(MsgspecJSONSerializer) is MsgspecJSONSerializer
    assert calls == []


@pytest.mark.parametrize("serializer", [None, "json", JSONSerializer])
def test_any_other_serializer_is_resolved_by_rq(serializer: Any) -> None:
    assert rq_fastpaths._fast_resolve_serializer(rq_original("resolve_serializer"))(serializer) is \
        rq_original("resolve_serializer")(serializer)


def test_a_serializer_rq_refuses_is_still_refused() -> None:
    rq_fastpaths.install()
    with pytest.raises(NotImplementedError):
        rq.serializers.resolve_serializer(object())


@given(st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(9999, 12, 31)))
def test_rqs_timestamps_parse_to_what_rq_parses(moment: dt.datetime) -> None:
    text = rq.utils.utcformat(moment.replace(tzinfo=dt.UTC))
    rq_fastpaths.install()

    assert rq.utils.utcparse(text) == rq_original("utcparse")(text)
    assert rq.utils.utcparse(text).tzinfo is dt.UTC


@pytest.mark.parametrize("text", [
    "2026-11-24T12:00:00Z",  # RQ's older format, without microseconds
    "2026-11-24",
    "2026-11-24T12:00:00.123456+00:00",
    "2026-13-24T12:00:00.123456Z",  # month 13
    "2026-02-30T12:00:00.123456Z",
    "\uff12\uff10\uff12\uff16-11-24T12:00:00.123456Z",  # full-width digits, which strptime's \d reads
    "",
])
def test_anything_else_gets_rqs_own_answer_or_error(text: str) -> None:
    original = rq_original("utcparse")
    try:
        expected: Any = original(text)
    except ValueError as exc:
        expected = (ValueError, str(exc))
    try:
        got: Any = rq.utils.utcparse(text)
    except ValueError as exc:
        got = (ValueError, str(exc))
    assert got == expected


def test_a_job_a_tether_worker_fetches_has_the_times_rq_wrote(real_redis: redis.Redis) -> None:
    job_id = enqueue_completion(real_redis, event())
    worker = build_worker(real_redis, WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE]))

    job = worker.queues[0].fetch_job(job_id)
    assert job is not None
    for field, value in (("created_at", job.created_at), ("enqueued_at", job.enqueued_at)):
        raw = real_redis.hget(f"rq:job:{job_id}", field)
        assert raw is not None and value == rq_original("utcparse")(raw.decode())
