"""Two of RQ's per-job helpers, made cheap in tether's worker processes, with the same answers.

A worker whose events arrive seconds apart runs each job with cold CPU caches, where every line of Python costs
several times what a benchmark loop shows; a job's latency is then set by how much code runs between its dequeue
and its end. Two of RQ 3.0's helpers run there for work whose answer tether knows in advance:

- `resolve_serializer` runs each time RQ builds a Job, Queue, registry or Result (seven times per job, four of them
  between dequeue and end) and checks `isinstance(serializer, Serializer)` against a `runtime_checkable` Protocol,
  which Python 3.11 answers by collecting the Protocol's members anew (8 µs hot, tens cold). For tether's
  serializer, checked once here, the answer never changes.
- `utcparse` parses RQ's timestamps (a job's `created_at` and `enqueued_at` on every fetch) with
  `datetime.strptime`, pure Python behind a lock (6 µs hot, over 100 cold). RQ's own format,
  `2026-11-24T12:00:00.123456Z`, is read here by the C `datetime.fromisoformat`; anything else still goes to RQ's.

`install()` replaces them in every loaded `rq` module (RQ's modules import them by name) and is idempotent.
`tests/workers/test_rq_fastpaths.py` holds each to the answers of RQ's own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
import sys
from collections.abc import Callable
from typing import Any

import rq.serializers
import rq.utils
from rq.serializers import Serializer

from adapters.delivery.rqwire import MsgspecJSONSerializer

_RQ_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z\Z", re.ASCII)  # rq.utils._TIMESTAMP_FORMAT


def install() -> None:
    _replace("resolve_serializer", rq.serializers.resolve_serializer, _fast_resolve_serializer)
    _replace("utcparse", rq.utils.utcparse, _fast_utcparse)


def _fast_resolve_serializer(original: Callable[..., Any]) -> Callable[..., Any]:
    if not isinstance(MsgspecJSONSerializer, Serializer):  # the answer every skipped check would give
        raise TypeError("MsgspecJSONSerializer no longer satisfies rq.serializers.Serializer")

    def resolve_serializer(serializer: Any = None) -> Any:
        if serializer is MsgspecJSONSerializer:
            return serializer
        return original(serializer)

    return resolve_serializer


def _fast_utcparse(original: Callable[[str], dt.datetime]) -> Callable[[str], dt.datetime]:
    def utcparse(string: str) -> dt.datetime:
        # Only RQ's exact shape: fromisoformat accepts forms strptime would refuse (dates alone, offsets, commas).
        if _RQ_TIMESTAMP.match(string):
            with contextlib.suppress(ValueError):  # a day or hour out of range: RQ's own error, below
                return dt.datetime.fromisoformat(string[:-1]).replace(tzinfo=dt.UTC)
        return original(string)

    return utcparse


def _replace(name: str, original: Callable[..., Any], make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    if getattr(original, "__tether_fast__", False):
        return
    fast = functools.wraps(original)(make(original))
    fast.__tether_fast__ = True  # type: ignore[attr-defined]
    for module_name, module in list(sys.modules.items()):
        if (module_name == "rq" or module_name.startswith("rq.")) and getattr(module, name, None) is original:
            setattr(module, name, fast)
