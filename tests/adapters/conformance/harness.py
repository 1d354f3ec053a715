"""What the conformance suite needs from a platform: its local API, and a way to see and spoil what happens there.

One module per platform under `platforms/` defines a class implementing `PlatformHarness` and is listed in
`platforms/__init__.py`; that is the whole of adding a platform to the suite. The suite starts the platform's
local API (`start`), writes a configuration from `config_toml`, runs real worker processes (`tether worker router`
and two `tether worker <channel>`) against it and a private redis-server, and then plays each case through the
router: it binds a conversation from `new_conversation`, enqueues a completion event for the bound session, waits for
the ledger to settle, and reads back what landed (`landed`, `landed_outside`).

A case the platform cannot have is skipped with a reason naming the missing capability (no API answer to lose, no
rate limits, no token, no archived state, ...): a harness says so by raising `NotApplicable` from the method that
would provoke it (`fault`, `rotate_token`, `set_state`), by returning no `error_cases` / `secrets`, or by
`supports_child = False`.

Changes from the sketch the platform engineers were given, all additions except the first:

- `start(tmp_path, redis_url)`: also the Redis URL, for platforms whose conversations need tether-side setup before a
  bound send (Discord: the parent channel's webhook, created as the provisioner would).
- `ErrorCase` has `kind` ("retryable" | "permanent" | "destination-gone") and the ledger `reason` it must end with;
  retryable cases must end `delivered`, the others `dead` with the reason (destination-gone also ends the binding).
- `states`: what the adapter documents for each conversation state it can have (`StateOutcome`), read by the state
  case; a state missing there is skipped.
- `rate_limited_answers()`: every 429 (or the platform's equivalent) the local API gave, with whether the suite
  injected it; the rate-limit case checks that no other 429 was earned (a request sent into a known limit), allowing
  requests already on their way when the injected one was answered (`IN_FLIGHT_MS`).
- `worker_env()`: extra environment for the worker processes (the console writes its JSON lines to a file).
- `unfired_faults()`: faults asked for and not yet hit, so a case cannot pass because its fault never happened.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from bindings.model import ConversationRef

Unit = Literal["chars", "utf16", "bytes"]
LostAnswer = Literal["idempotency-key", "reconcile", "policy"]
IdentitySupport = Literal["full", "username", "prefix", "none"]
FaultKind = Literal["lose-answer", "5xx", "429", "timeout"]
ConversationState = Literal["archived", "closed", "deleted"]
ErrorKind = Literal["retryable", "permanent", "destination-gone"]

IN_FLIGHT_MS = 50  # a request already on its way when a 429 was answered is not one sent in spite of it


class NotApplicable(Exception):
    """The platform cannot have this (no API to lose an answer of, no token, ...); the case is skipped with it."""


@dataclass(frozen=True)
class Landed:
    """One message as the platform holds it."""

    conversation_id: str
    text: str
    message_id: str
    sender: str | None  # the display name the platform shows (None: the bot's own / no identity)


@dataclass(frozen=True)
class ErrorCase:
    """One platform error: `provoke(ref)` makes the next send to `ref` meet it."""

    name: str
    provoke: Callable[[ConversationRef], None]
    kind: ErrorKind
    reason: str | None  # the ledger's deadReason for permanent / destination-gone cases


@dataclass(frozen=True)
class StateOutcome:
    """What the adapter documents for a send to a conversation in some state."""

    status: Literal["delivered", "dead"]
    reason: str | None = None  # deadReason when dead
    lands: bool = False  # whether the message ends up in the conversation itself (e.g. unarchived and sent)
    binding_ends: bool = False


@dataclass(frozen=True)
class RateLimitAnswer:
    at_ms: int  # on the local API's clock
    injected: bool


class PlatformHarness(Protocol):
    channel: str
    unit: Unit  # the unit of the platform's message limit
    max_chunk: int  # the limit, in `unit`
    lost_answer: LostAnswer  # how a lost answer is handled (policy: `channels.<ch>.unknownSend`, default "resend")
    identity: IdentitySupport
    supports_child: bool
    states: dict[ConversationState, StateOutcome]

    def start(self, tmp_path: Path, redis_url: str) -> None:
        """Start the local API (thread, process or real server) and write its token files under `tmp_path`."""
        ...

    def stop(self) -> None: ...

    def config_toml(self) -> str:
        """`[channels.<channel>...]` pointing at the local API, tokens as `file:`, thread bindings with
        `spawnSubagentSessions = true` enabled. The suite adds `[delivery]` (short backoffs and leases)."""
        ...

    def worker_env(self) -> dict[str, str]: ...

    def secrets(self) -> list[str]:
        """Every secret value the suite must never find in logs, errors or dead letters (asked after the cases)."""
        ...

    def new_conversation(self, label: str) -> ConversationRef:
        """A conversation (thread, topic, room) that exists and can be bound with placement "current"."""
        ...

    def parent_of(self, ref: ConversationRef) -> ConversationRef:
        """Where a child of the same parent would be created (`bind(placement="child")` under it)."""
        ...

    def landed(self, ref: ConversationRef) -> list[Landed]:
        """Read back from the platform, oldest first."""
        ...

    def landed_outside(self, ref: ConversationRef) -> list[Landed]:
        """Messages anywhere but the conversations `new_conversation` and child binds made (channel root, General,
        main timeline): where a misrouted message would go."""
        ...

    def fault(self, kind: FaultKind, *, count: int = 1, retry_after_s: float = 0.2) -> None:
        """Spoil the next `count` sends: lose the answer (the message is stored), answer 5xx or 429 (with
        `retry_after_s`, enforced by the local API as the platform does), or time out."""
        ...

    def unfired_faults(self) -> int:
        """How many spoiled answers `fault` and `ErrorCase.provoke` asked for have not happened yet: a case checks
        its fault really hit (0), so that it cannot pass without it."""
        ...

    def rate_limited_answers(self) -> list[RateLimitAnswer]: ...

    def error_cases(self) -> list[ErrorCase]: ...

    def set_state(self, ref: ConversationRef, state: ConversationState) -> None: ...

    def rotate_token(self) -> None:
        """The platform accepts only a new token from now on, and the token file holds it."""
        ...
