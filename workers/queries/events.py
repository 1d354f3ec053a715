"""Completion events given in bulk (`tether enqueue`, `POST /v1/events`): each validated on its own, so one bad
event is reported (with its position and field path) and the others still go."""

from __future__ import annotations

from typing import Any

import msgspec

from bindings.errors import InvalidInput
from router.enqueue import PreparedEvent, prepare_event


class Rejected(msgspec.Struct, frozen=True, kw_only=True):
    line: int | None  # JSON lines: the line number (1-based)
    item: int | None  # a JSON array: the item number (1-based)
    field: str  # the wire path of the offending field (`requester.channel`), or `event` for the whole event
    error: str
    index: int = 0  # the event's position among those given (0-based), whatever their form

    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else f"item {self.item}" if self.item else "event"


def read_events(text: bytes, *, max_event_bytes: int) -> tuple[list[PreparedEvent], list[Rejected]]:
    """One JSON object, a JSON array of objects, or JSON lines (one object per line, blank lines skipped)."""
    good: list[PreparedEvent] = []
    bad: list[Rejected] = []

    def check(raw: bytes | dict[str, Any], line: int | None, item: int | None) -> None:
        index = len(good) + len(bad)
        try:
            if not isinstance(raw, bytes | dict):
                raise InvalidInput("event", f"expected a JSON object, got {type(raw).__name__}")
            good.append(prepare_event(raw, max_event_bytes=max_event_bytes))
        except InvalidInput as exc:
            bad.append(Rejected(line=line, item=item, field=exc.field, error=exc.message, index=index))

    stripped = text.strip()
    if not stripped:
        return good, bad
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    try:
        whole = msgspec.json.decode(stripped)
    except msgspec.DecodeError:
        whole = None
        if len(lines) == 1:
            check(lines[0][1], lines[0][0], None)
            return good, bad
    if whole is None:
        for n, line in lines:
            check(line, n, None)
    elif isinstance(whole, list):
        for i, obj in enumerate(whole, start=1):
            check(obj, None, i)
    else:
        check(stripped, 1 if len(lines) == 1 else None, None)
    return good, bad


class EnqueueReport(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    """`tether enqueue --json`: the valid events went (their job ids, in order), the invalid ones did not."""

    enqueued: int
    rejected: int
    job_ids: list[str]
    errors: list[Rejected]


def prepare_each(raws: list[bytes], *, max_event_bytes: int) -> tuple[list[PreparedEvent], list[Rejected]]:
    """Events given as a JSON array (or one event: a list of one), each as its exact bytes."""
    good: list[PreparedEvent] = []
    bad: list[Rejected] = []
    many = len(raws) > 1
    for index, raw in enumerate(raws):
        try:
            good.append(prepare_event(raw, max_event_bytes=max_event_bytes))
        except InvalidInput as exc:
            bad.append(Rejected(line=None, item=index + 1 if many else None, field=exc.field, error=exc.message,
                                index=index))
    return good, bad
