"""`tether dlq list|show|replay|purge`: the dead letters of the router and of every channel, in one queue.

Listing, showing and replaying live in `workers.queries.dead_letters` (the HTTP API answers the same).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue, matches
from adapters.delivery.replay import purge_letters
from bindings.connection import connect
from bindings.process_config import process_config
from workers.output import echo_json, fmt_ms, print_table
from workers.queries.dead_letters import letter_detail, letter_json, list_letters, replay_letters

_redis_option = click.option("--redis-url", envvar="TETHER_REDIS_URL", help="Redis URL (default: configuration).")


@click.group()
def dlq() -> None:
    """Dead letters: deliveries and events tether gave up on, with their reason, until replayed or purged."""


def _destination(letter: DeadLetter) -> str:
    d = letter.destination
    if d is None:
        return "-"
    where = d.conversation_id or "?"
    if d.parent_conversation_id:
        where = f"{d.parent_conversation_id}/{where}"
    return f"{d.channel}/{d.account_id}:{where}"


def _short(text: str | None, width: int = 80) -> str:
    if not text:
        return "-"
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array instead of a table.")
@click.option("--reason", help="Only this reason (a value ending in ':' matches as a prefix, e.g. `no-adapter:`).")
@click.option("--source", type=click.Choice(["router", "delivery"]), help="Only router or delivery dead letters.")
@click.option("--channel", help="Only dead letters for this channel.")
@click.option("--limit", type=int, default=None, help="At most this many (oldest first).")
@_redis_option
def list_(*, as_json: bool, reason: str | None, source: str | None, channel: str | None, limit: int | None,
          redis_url: str | None) -> None:
    """List dead letters, oldest first."""
    letters = list_letters(connect(redis_url), reason=reason, source=source, channel=channel, limit=limit)
    if as_json:
        echo_json([letter_json(lt) for lt in letters])
        return
    print_table(f"dead letters ({len(letters)})", ["id", "reason", "source", "destination", "attempts", "dead at",
                                                   "last error"],
                [(lt.id, lt.reason, lt.source, _destination(lt), lt.attempts, fmt_ms(lt.dead_at),
                  _short(lt.last_error)) for lt in letters], empty="none")


@dlq.command()
@click.argument("letter_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_redis_option
def show(letter_id: str, as_json: bool, redis_url: str | None) -> None:
    """One dead letter in full, with its delivery's ledger record."""
    detail = letter_detail(connect(redis_url), letter_id)
    if detail is None:
        raise click.ClickException(f"no dead letter {letter_id!r}")
    if as_json:
        echo_json(msgspec.to_builtins(detail))
        return
    letter, record = detail.letter, detail.ledger
    decision = letter.decision or {}
    rows: list[tuple[str, Any]] = [
        ("id", letter.id), ("source", letter.source), ("reason", letter.reason), ("event", letter.event_id),
        ("delivery", letter.delivery_id), ("destination", _destination(letter)), ("attempts", letter.attempts),
        ("dead at", fmt_ms(letter.dead_at)), ("last error", letter.last_error),
        ("decision", " ".join(f"{k}={v}" for k, v in decision.items()) or None),
    ]
    if record is not None:
        rows += [("ledger status", record.status), ("chunks sent", f"{record.chunks_done}/{record.chunks or '?'}"),
                 ("message ids", ", ".join(record.message_ids) or None)]
    if letter.delivery is not None:
        rows.append(("text", _short(letter.delivery.content.text, 400)))
    elif letter.event is not None:
        rows.append(("raw event", _short(letter.event, 400)))
    print_table(f"dead letter {letter.id}", ["field", "value"], rows)


@dlq.command()
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Replay every dead letter.")
@click.option("--reroute", is_flag=True, help="Route the event again (a new decision) instead of resending.")
@click.option("--json", "as_json", is_flag=True, help="Print the result of each replay as JSON.")
@_redis_option
def replay(ids: tuple[str, ...], all_: bool, reroute: bool, as_json: bool, redis_url: str | None) -> None:
    """Replay dead letters by ID, or --all. Idempotent: a delivered message is never sent again."""
    if not ids and not all_:
        raise click.UsageError("give dead-letter IDs or --all")
    if ids and all_:
        raise click.UsageError("give either IDs or --all, not both")
    client = connect(redis_url)
    if as_json:
        report = replay_letters(client, ids, all_=all_, reroute=reroute, config=process_config())
        echo_json(msgspec.to_builtins(report))
    else:
        progress = Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=Console(stderr=True))

        def start(total: int) -> Callable[[], None]:
            progress.start()
            task = progress.add_task("replay", total=total)
            return lambda: progress.advance(task)

        try:
            report = replay_letters(client, ids, all_=all_, reroute=reroute, config=process_config(), progress=start)
        finally:
            progress.stop()
        results = report.results
        for r in results:
            if r.outcome not in ("replayed", "rerouted"):
                click.echo(f"{r.id}: {r.outcome}" + (f" ({r.detail})" if r.detail else ""))
        click.echo(f"replayed {report.replayed} of {len(results)} dead letter{'' if len(results) == 1 else 's'}")
    if report.failed:
        raise SystemExit(1)


@dlq.command()
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Purge every dead letter.")
@click.option("--reason", help="With --all: only dead letters with this reason.")
@click.option("--json", "as_json", is_flag=True, help="Print the count as JSON.")
@_redis_option
def purge(ids: tuple[str, ...], all_: bool, reason: str | None, as_json: bool, redis_url: str | None) -> None:
    """Delete dead letters for good (their messages will not be sent)."""
    if not ids and not all_:
        raise click.UsageError("give dead-letter IDs or --all")
    client = connect(redis_url)
    selected: list[str] | None = list(ids) if ids else None
    if all_ and reason is not None:
        selected = [lt.id for lt in DeadLetterQueue(client).letters() if matches(lt, reason=reason)]
    removed = purge_letters(client, selected, config=process_config())
    if as_json:
        echo_json({"purged": removed})
    else:
        click.echo(f"purged {removed} dead letter{'' if removed == 1 else 's'}")
