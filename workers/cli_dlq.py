"""`tether dlq list|show|replay|purge`: the dead letters of the router and of every channel, in one queue.

Replay is idempotent: a delivery dead letter goes back through the ledger (a delivered record sends nothing, a dead
one is revived once); a router dead letter is routed again with `router.enqueue.requeue_event`. `--reroute`
re-runs routing and records a new decision (for delivery dead letters, from the event the router stored).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
import msgspec
import redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue, matches
from adapters.delivery.ledger import Ledger
from adapters.delivery.replay import ReplayResult, purge_letters, replay_delivery_letter
from bindings.config import TetherConfig
from bindings.connection import connect
from bindings.errors import TetherError
from bindings.process_config import process_config
from workers.output import echo_json, fmt_ms, print_table

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


def letter_json(letter: DeadLetter) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(letter)
    return out


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
    letters = [lt for lt in DeadLetterQueue(connect(redis_url)).letters()
               if matches(lt, reason=reason, source=source, channel=channel)]
    if limit is not None:
        letters = letters[:limit]
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
    client = connect(redis_url)
    letter = DeadLetterQueue(client).get(letter_id)
    if letter is None:
        raise click.ClickException(f"no dead letter {letter_id!r}")
    record = Ledger(client).get(letter.delivery_id) if letter.delivery_id else None
    if as_json:
        echo_json({"letter": letter_json(letter), "ledger": msgspec.to_builtins(record) if record else None})
        return
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


def replay_letter(client: redis.Redis, letter: DeadLetter, *, reroute: bool, config: TetherConfig) -> ReplayResult:
    """Replay one dead letter of either source. The router is imported only here: adapters never import it."""
    if letter.source == "router":
        if letter.event is None:
            return ReplayResult(id=letter.id, outcome="not-replayable", detail="no event kept")
        from router.enqueue import requeue_event

        try:
            job_id = requeue_event(client, letter.event, reroute=reroute)
        except TetherError as exc:
            return ReplayResult(id=letter.id, outcome="failed", detail=str(exc))
        DeadLetterQueue(client).remove(letter.id)
        return ReplayResult(id=letter.id, outcome="rerouted" if reroute else "replayed", detail=job_id)
    if not reroute:
        return replay_delivery_letter(client, letter, config=config)
    if letter.event_id is None:
        return ReplayResult(id=letter.id, outcome="not-replayable", detail="no event id to route again")
    from router.enqueue import requeue_event
    from router.store import load_event

    raw = load_event(client, letter.event_id)
    if raw is None:
        return ReplayResult(id=letter.id, outcome="not-replayable",
                            detail="the router no longer stores this event; replay without --reroute")
    armed = replay_delivery_letter(client, letter, config=config, rearm=True)
    if armed.outcome != "rearmed":
        return armed
    try:
        job_id = requeue_event(client, raw, reroute=True)
    except TetherError as exc:
        return ReplayResult(id=letter.id, outcome="failed", detail=str(exc))
    return ReplayResult(id=letter.id, outcome="rerouted", detail=job_id)


def _selected(dlq_: DeadLetterQueue, ids: Iterable[str], all_: bool) -> tuple[list[DeadLetter], list[str]]:
    if all_:
        return dlq_.letters(), []
    letters, missing = [], []
    for letter_id in ids:
        letter = dlq_.get(letter_id)
        if letter is None:
            missing.append(letter_id)
        else:
            letters.append(letter)
    return letters, missing


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
    config = process_config()
    letters, missing = _selected(DeadLetterQueue(client), ids, all_)
    results: list[ReplayResult] = []
    if len(letters) > 1 and not as_json:
        progress = Progress(TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=Console(stderr=True))
        with progress:
            task = progress.add_task("replay", total=len(letters))
            for letter in letters:
                results.append(replay_letter(client, letter, reroute=reroute, config=config))
                progress.advance(task)
    else:
        results = [replay_letter(client, letter, reroute=reroute, config=config) for letter in letters]
    results += [ReplayResult(id=i, outcome="missing", detail="no such dead letter") for i in missing]
    replayed = sum(1 for r in results if r.outcome in ("replayed", "rerouted"))
    if as_json:
        echo_json({"replayed": replayed, "results": msgspec.to_builtins(results)})
    else:
        for r in results:
            if r.outcome not in ("replayed", "rerouted"):
                click.echo(f"{r.id}: {r.outcome}" + (f" ({r.detail})" if r.detail else ""))
        click.echo(f"replayed {replayed} of {len(results)} dead letter{'' if len(results) == 1 else 's'}")
    if missing or any(r.outcome == "failed" for r in results):
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
