"""Dead letters as `tether dlq` and `/v1/dead-letters` show them, and their replay.

Replay is idempotent: a delivery dead letter goes back through the ledger (a delivered record sends nothing, a dead
one is revived once); a router dead letter is routed again with `router.enqueue.requeue_event`. `reroute`
re-runs routing and records a new decision (for delivery dead letters, from the event the router stored).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import msgspec
import redis

from adapters.delivery.deadletter import DeadLetter, DeadLetterQueue, matches
from adapters.delivery.ledger import Ledger, LedgerRecord
from adapters.delivery.replay import ReplayResult, replay_delivery_letter
from bindings.config import TetherConfig
from bindings.errors import TetherError

LetterSource = Literal["router", "delivery"]


def letter_json(letter: DeadLetter) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(letter)
    return out


def list_letters(client: redis.Redis, *, reason: str | None = None, source: str | None = None,
                 channel: str | None = None, limit: int | None = None) -> list[DeadLetter]:
    """Dead letters, oldest first, filtered as `tether dlq list` filters them."""
    letters = [lt for lt in DeadLetterQueue(client).letters()
               if matches(lt, reason=reason, source=source, channel=channel)]
    return letters if limit is None else letters[:limit]


class LetterDetail(msgspec.Struct, frozen=True, kw_only=True):
    """`tether dlq show --json`: the letter and its delivery's ledger record."""

    letter: DeadLetter
    ledger: LedgerRecord | None


def letter_detail(client: redis.Redis, letter_id: str) -> LetterDetail | None:
    letter = DeadLetterQueue(client).get(letter_id)
    if letter is None:
        return None
    record = Ledger(client).get(letter.delivery_id) if letter.delivery_id else None
    return LetterDetail(letter=letter, ledger=record)


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


def select_letters(client: redis.Redis, ids: Iterable[str], all_: bool) -> tuple[list[DeadLetter], list[str]]:
    """The letters to replay (all, or those named) and the named ids that do not exist."""
    dlq = DeadLetterQueue(client)
    if all_:
        return dlq.letters(), []
    letters, missing = [], []
    for letter_id in ids:
        letter = dlq.get(letter_id)
        if letter is None:
            missing.append(letter_id)
        else:
            letters.append(letter)
    return letters, missing


class ReplayReport(msgspec.Struct, frozen=True, kw_only=True):
    """`tether dlq replay --json`: how many went back, and what became of each."""

    replayed: int
    results: list[ReplayResult]

    @property
    def failed(self) -> bool:
        return any(r.outcome in ("failed", "missing") for r in self.results)


def replay_letters(client: redis.Redis, ids: Iterable[str], *, all_: bool, reroute: bool, config: TetherConfig,
                   progress: Callable[[int], Callable[[], None]] | None = None) -> ReplayReport:
    """Replay the named letters (or all); `progress(total)` returns a function called after each one."""
    letters, missing = select_letters(client, ids, all_)
    step = progress(len(letters)) if progress is not None and len(letters) > 1 else None
    results: list[ReplayResult] = []
    for letter in letters:
        results.append(replay_letter(client, letter, reroute=reroute, config=config))
        if step is not None:
            step()
    results += [ReplayResult(id=i, outcome="missing", detail="no such dead letter") for i in missing]
    replayed = sum(1 for r in results if r.outcome in ("replayed", "rerouted"))
    return ReplayReport(replayed=replayed, results=results)
