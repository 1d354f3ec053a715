"""`tether enqueue [FILE|-]` and `tether explain EVENT_ID`: completion events by hand, and why one went where."""

from __future__ import annotations

import sys
from typing import Any

import click

from bindings.connection import connect
from bindings.process_config import process_config
from router.enqueue import enqueue_prepared
from router.store import DecisionRecord, destination_label
from workers.output import echo_json, fmt_ms, print_table, to_builtins
from workers.queries.events import EnqueueReport, read_events
from workers.queries.explain import Explanation, explain_event

_redis_option = click.option("--redis-url", envvar="TETHER_REDIS_URL", help="Redis URL (default: configuration).")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")

BATCH = 1000  # events per pipeline

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
        echo_json(to_builtins(EnqueueReport(enqueued=len(job_ids), rejected=len(bad), job_ids=job_ids, errors=bad)))
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
    if not found.found:
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
