"""`tether enqueue [FILE|-]` and `tether explain EVENT_ID`: completion events by hand, and why one went where."""

from __future__ import annotations

import sys
from typing import Any

import click
import msgspec

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue, router_dead_letter_id
from adapters.delivery.ledger import Ledger, LedgerRecord
from bindings.connection import connect
from bindings.errors import InvalidInput
from bindings.process_config import process_config
from router.enqueue import PreparedEvent, enqueue_prepared, prepare_event
from router.store import DecisionRecord, EventState, destination_label, for_client
from workers.output import echo_json, fmt_ms, print_table, to_builtins

_redis_option = click.option("--redis-url", envvar="TETHER_REDIS_URL", help="Redis URL (default: configuration).")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")

BATCH = 1000  # events per pipeline


class Rejected(msgspec.Struct, frozen=True, kw_only=True):
    line: int | None  # JSON lines: the line number (1-based)
    item: int | None  # a JSON array: the item number (1-based)
    field: str
    error: str

    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else f"item {self.item}" if self.item else "event"


def read_events(text: bytes, *, max_event_bytes: int) -> tuple[list[PreparedEvent], list[Rejected]]:
    """One JSON object, a JSON array of objects, or JSON lines (one object per line, blank lines skipped)."""
    good: list[PreparedEvent] = []
    bad: list[Rejected] = []

    def check(raw: bytes | dict[str, Any], line: int | None, item: int | None) -> None:
        try:
            if not isinstance(raw, bytes | dict):
                raise InvalidInput("event", f"expected a JSON object, got {type(raw).__name__}")
            good.append(prepare_event(raw, max_event_bytes=max_event_bytes))
        except InvalidInput as exc:
            bad.append(Rejected(line=line, item=item, field=exc.field, error=exc.message))

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


@click.command()
@click.argument("source", default="-", metavar="[FILE|-]")
@_json_option
@_redis_option
def enqueue(source: str, as_json: bool, redis_url: str | None) -> None:
    """Validate completion events and put them on the `completions` queue.

    FILE (or stdin with `-`) holds one JSON event, a JSON array of events, or JSON lines. An invalid event is
    reported with its line (or item) number and field path and is not enqueued; the valid ones are. Exit status 1
    if any event was rejected.
    """
    data = sys.stdin.buffer.read() if source == "-" else _read_file(source)
    good, bad = read_events(data, max_event_bytes=process_config().router.max_event_bytes)
    job_ids: list[str] = []
    if good:
        client = connect(redis_url)
        for start in range(0, len(good), BATCH):
            job_ids += enqueue_prepared(client, good[start:start + BATCH])
    if as_json:
        echo_json({"enqueued": len(job_ids), "rejected": len(bad), "jobIds": job_ids,
                   "errors": [to_builtins(r) for r in bad]})
    else:
        for r in bad:
            click.echo(f"{r.where()}: {r.field}: {r.error}", err=True)
        noun = "event" if len(job_ids) == 1 else "events"
        click.echo(f"enqueued {len(job_ids)} {noun}" + (f", rejected {len(bad)}" if bad else ""))
    if bad:
        sys.exit(1)


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="FILE") from None


# ---- explain ---------------------------------------------------------------------------------------------------


class Explanation(msgspec.Struct, frozen=True, rename="camel", kw_only=True):
    event_id: str
    known: bool  # False: never seen, or past the dedupe window
    first_seen_at: int | None
    job_id: str | None
    duplicates: int
    decision: DecisionRecord | None
    history: list[DecisionRecord]
    deliveries: list[dict[str, Any]]  # ledger records (without the payload) or {"deliveryId", "status": None}
    dead_letters: list[DeadLetter]


def explain_event(client: Any, event_id: str) -> Explanation:
    state: EventState | None = for_client(client).state(event_id)
    decisions = ([] if state is None else state.history) + ([state.decision] if state and state.decision else [])
    delivery_ids = list(dict.fromkeys(d for dec in decisions for d in dec.delivery_ids))
    ledger = Ledger(client)
    deliveries = [_ledger_view(i, ledger.get(i)) for i in delivery_ids]
    dlq = DeadLetterQueue(client)
    letter_ids = [router_dead_letter_id(event_id, b""), *delivery_ids]
    letters = [letter for letter in (dlq.get(i) for i in letter_ids) if letter is not None]
    return Explanation(
        event_id=event_id,
        known=state is not None,
        first_seen_at=state.first_seen_at if state else None,
        job_id=state.job_id if state else None,
        duplicates=state.duplicates if state else 0,
        decision=state.decision if state else None,
        history=state.history if state else [],
        deliveries=deliveries,
        dead_letters=[msgspec.structs.replace(letter, delivery=None, event=None) for letter in letters],
    )


def _ledger_view(delivery_id: str, record: LedgerRecord | None) -> dict[str, Any]:
    if record is None:
        return {"deliveryId": delivery_id, "status": None}
    out: dict[str, Any] = to_builtins(msgspec.structs.replace(record, delivery=None))
    out.pop("delivery", None)
    return out


@click.command()
@click.argument("event_id")
@_json_option
@_redis_option
def explain(event_id: str, as_json: bool, redis_url: str | None) -> None:
    """Why EVENT_ID went where it went: the routing decision, its reason, the binding, the destination, and each
    delivery with its state, attempts and platform message ids. Exit status 1 if the event is unknown."""
    found = explain_event(connect(redis_url), event_id)
    if as_json:
        echo_json(to_builtins(found))
    else:
        _print_explanation(found)
    if not found.known and not found.dead_letters:
        sys.exit(1)


def _print_explanation(e: Explanation) -> None:
    if not e.known and not e.dead_letters:
        click.echo(f"event {e.event_id}: unknown (never routed, or past the dedupe window)")
        return
    click.echo(f"event        {e.event_id}")
    if e.known:
        click.echo(f"first seen   {fmt_ms(e.first_seen_at)} by job {e.job_id}; duplicates ignored: {e.duplicates}")
    if e.decision is None:
        click.echo("decision     none (the event was never routed: see the dead letters)")
    else:
        _print_decision("decision", e.decision)
    for old in e.history:
        _print_decision("earlier", old)
    if e.deliveries:
        rows = [(d.get("deliveryId"), d.get("channel"), d.get("status") or "not handed off", d.get("attempts"),
                 _chunks(d) if d.get("status") else "",
                 ", ".join(d.get("messageIds") or []), d.get("lastError") or d.get("deadReason"))
                for d in e.deliveries]
        print_table("deliveries", ["delivery", "channel", "status", "attempts", "chunks", "message ids", "error"],
                    rows)
    for letter in e.dead_letters:
        click.echo(f"dead letter  {letter.id}: {letter.reason}" + (f" ({letter.last_error})" if letter.last_error
                                                                  else "") + f", at {fmt_ms(letter.dead_at)}")


def _chunks(d: dict[str, Any]) -> str:
    total = d.get("chunks")
    return f"{d.get('chunksDone', 0)}/{'?' if total is None else total}"


def _print_decision(label: str, d: DecisionRecord) -> None:
    click.echo(f"{label:<12} {d.mode} / {d.reason}, at {fmt_ms(d.decided_at)}")
    if d.binding is not None:
        b = d.binding
        click.echo(f"  binding    {b.binding_id} (session {b.target_session_key}, {b.status}, "
                   f"bound {fmt_ms(b.bound_at)}, expires {fmt_ms(b.expires_at)})")
    click.echo(f"  destination {destination_label(d.destination) or 'none'}")
