"""After a chaos run: compare the fake's message log, the ledger and the dead letters with what each event must have
become. Nothing here trusts tether's own account of what it sent: messages are counted on the Discord side.

Per chunk of every event that must be delivered: exactly one message with the chunk's exact text in the expected
conversation (0 → lost, more → duplicates), none anywhere else (misplaced; in a parent channel for a bound session:
a parent leak). Events that must die: no message at all, and one dead letter with the expected reason. Any other
dead letter, any message that is no chunk of any event, any ledger record not terminal: a failure.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from adapters.delivery import keys as adapter_keys
from adapters.delivery.deadletter import DeadLetter
from tests.chaos.scenario import PlannedEvent, World
from tests.fakes.discord_model import Message

EXAMPLES = 10  # failures listed by name in the summary, at most


@dataclass(frozen=True)
class LedgerView:
    """Status and dead reason of every expected delivery (None: no record)."""

    status: dict[str, str | None]
    dead_reason: dict[str, str | None]
    attempts: dict[str, int]

    @classmethod
    def read(cls, client: redis.Redis, delivery_ids: Sequence[str]) -> LedgerView:
        pipe = client.pipeline(transaction=False)
        for did in delivery_ids:
            pipe.hmget(adapter_keys.delivery(did), ["status", "deadReason", "attempts"])
        status: dict[str, str | None] = {}
        reason: dict[str, str | None] = {}
        attempts: dict[str, int] = {}
        for did, (st, why, n) in zip(delivery_ids, pipe.execute(), strict=True):
            status[did] = st.decode() if st else None
            reason[did] = why.decode() if why else None
            attempts[did] = int(n) if n else 0
        return cls(status, reason, attempts)


@dataclass
class Verdict:
    events: int = 0
    expected_delivered: int = 0
    delivered: int = 0  # events whose every chunk is in its conversation exactly once, and nowhere else
    chunks_expected: int = 0
    duplicates: int = 0  # extra copies of a chunk in its conversation
    lost: int = 0  # events with a chunk missing from its conversation
    misplaced: int = 0  # chunk copies outside the event's conversation
    parent_leaks: int = 0  # of those, bound sessions' chunks in a parent channel
    sent_for_dead: int = 0  # messages of events that had to die
    stray_messages: int = 0  # messages that are no chunk of any event
    identity_mismatches: int = 0  # webhook messages without the event's username
    dead_letters: Counter[str] = field(default_factory=Counter)
    expected_dead_letters: Counter[str] = field(default_factory=Counter)
    unexpected_dead_letters: int = 0
    missing_dead_letters: int = 0
    ledger: Counter[str] = field(default_factory=Counter)
    ledger_mismatches: int = 0  # ledger status (or dead reason) differs from the expected outcome
    max_attempts: int = 0
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def example(self, kind: str, text: str) -> None:
        if len(self.examples[kind]) < EXAMPLES:
            self.examples[kind].append(text)

    @property
    def ok(self) -> bool:
        return (self.delivered == self.expected_delivered and not self.duplicates and not self.lost
                and not self.misplaced and not self.sent_for_dead and not self.stray_messages
                and not self.unexpected_dead_letters and not self.missing_dead_letters and not self.ledger_mismatches
                and not self.identity_mismatches)

    def summary(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "expectedDelivered": self.expected_delivered,
            "delivered": self.delivered,
            "chunksExpected": self.chunks_expected,
            "duplicates": self.duplicates,
            "lost": self.lost,
            "misplaced": self.misplaced,
            "parentLeaks": self.parent_leaks,
            "sentForDeadEvents": self.sent_for_dead,
            "strayMessages": self.stray_messages,
            "identityMismatches": self.identity_mismatches,
            "deadLetters": dict(sorted(self.dead_letters.items())),
            "expectedDeadLetters": dict(sorted(self.expected_dead_letters.items())),
            "unexpectedDeadLetters": self.unexpected_dead_letters,
            "missingDeadLetters": self.missing_dead_letters,
            "ledger": dict(sorted(self.ledger.items())),
            "ledgerMismatches": self.ledger_mismatches,
            "maxAttempts": self.max_attempts,
            "failureExamples": {k: v for k, v in self.examples.items() if v},
        }


def verify(events: Sequence[PlannedEvent], world: World, messages: Sequence[Message], ledger: LedgerView,
           letters: Sequence[DeadLetter]) -> Verdict:
    v = Verdict(events=len(events))
    by_content: dict[str, list[Message]] = defaultdict(list)
    for m in messages:
        by_content[m.content].append(m)
    parents = set(world.parent_ids)
    claimed: set[str] = set()

    for e in events:
        s = e.session
        dead_reason = s.expected_dead_reason
        chunks = e.chunks()
        complete = True
        for index, text in enumerate(chunks):
            copies = by_content.get(text, [])
            claimed.update(m.id for m in copies)
            here = [m for m in copies if m.channel_id == s.destination_id]
            elsewhere = [m for m in copies if m.channel_id != s.destination_id]
            if dead_reason is not None:
                if copies:
                    v.sent_for_dead += len(copies)
                    v.example("sentForDeadEvents", f"{e.event_id} chunk {index}: {len(copies)} message(s)")
                continue
            v.chunks_expected += 1
            if not here:
                complete = False
            if len(here) > 1:
                complete = False
                v.duplicates += len(here) - 1
                v.example("duplicates", f"{e.event_id} chunk {index}/{len(chunks)} ({s.kind}): {len(here)} copies, "
                                        f"ids {[m.id for m in here]}")
            if elsewhere:
                complete = False
                v.misplaced += len(elsewhere)
                leaks = [m for m in elsewhere if m.channel_id in parents and s.kind != "unbound"]
                v.parent_leaks += len(leaks)
                v.example("misplaced", f"{e.event_id} chunk {index} ({s.kind}) in {[m.channel_id for m in elsewhere]}"
                                       f", expected {s.destination_id}")
            for m in here:
                if s.kind == "webhook" and (m.author_kind != "webhook" or m.author_username != s.username):
                    v.identity_mismatches += 1
                    v.example("identityMismatches", f"{e.event_id}: {m.author_kind} {m.author_username!r}")
        if dead_reason is None:
            v.expected_delivered += 1
            if complete:
                v.delivered += 1
            elif not all(any(m.channel_id == s.destination_id for m in by_content.get(t, [])) for t in chunks):
                v.lost += 1
                v.example("lost", f"{e.event_id} ({s.kind}, {len(chunks)} chunk(s)): ledger "
                                  f"{ledger.status.get(e.delivery_id)}")
        else:
            v.expected_dead_letters[dead_reason] += 1
        _check_ledger(v, e, ledger)

    for m in messages:
        if m.id not in claimed:
            v.stray_messages += 1
            v.example("strayMessages", f"{m.id} in {m.channel_id}: {m.content[:60]!r}")

    _check_dead_letters(v, events, letters)
    return v


def _check_ledger(v: Verdict, e: PlannedEvent, ledger: LedgerView) -> None:
    status = ledger.status.get(e.delivery_id)
    v.ledger[status or "missing"] += 1
    v.max_attempts = max(v.max_attempts, ledger.attempts.get(e.delivery_id, 0))
    want = e.session.expected_dead_reason
    if want is None and status != "delivered":
        v.ledger_mismatches += 1
        v.example("ledgerMismatches", f"{e.event_id}: ledger {status}, expected delivered")
    elif want is not None and (status != "dead" or ledger.dead_reason.get(e.delivery_id) != want):
        v.ledger_mismatches += 1
        v.example("ledgerMismatches", f"{e.event_id}: ledger {status}/{ledger.dead_reason.get(e.delivery_id)}, "
                                      f"expected dead/{want}")


def _check_dead_letters(v: Verdict, events: Sequence[PlannedEvent], letters: Sequence[DeadLetter]) -> None:
    expected = {e.event_id: e.session.expected_dead_reason for e in events if e.session.expected_dead_reason}
    seen: set[str] = set()
    for letter in letters:
        v.dead_letters[letter.reason] += 1
        want = expected.get(letter.event_id or "")
        if want is None or want != letter.reason or letter.event_id in seen:
            v.unexpected_dead_letters += 1
            v.example("unexpectedDeadLetters", f"{letter.event_id}: {letter.reason} ({letter.source}): "
                                               f"{(letter.last_error or '')[:160]}")
        seen.add(letter.event_id or "")
    missing = [event_id for event_id in expected if event_id not in seen]
    v.missing_dead_letters = len(missing)
    for event_id in missing:
        v.example("missingDeadLetters", event_id)
