"""What every platform adapter provides, and the three kinds of failure it may report.

The delivery engine owns ordering, leases, retries and dead letters; an adapter only knows how to split a text for
its platform and send one chunk of it. Every failure an adapter raises is one of:

- `RetryableError`: try again later (429 with `retry_after_s`, 5xx, timeouts, connection errors);
- `PermanentError`: will never succeed as is (401, 403, locked thread, invalid payload) → dead letter with `reason`;
- `DestinationGone`: the conversation no longer exists → binding ended `thread-delete`, dead letter
  `destination-gone`, and nothing is sent anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import msgspec

from adapters.payloads import Delivery
from bindings.errors import TetherError
from bindings.model import ConversationRef, SessionBindingRecord


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What the platform offers; the engine decides from it what to do after a send whose answer was lost.

    - `idempotency_key`: the platform dedupes a resent chunk by a key tether chooses (Discord bot nonce, Matrix
      transaction id, the webhook receiver's `webhook-id`): resend with the same key;
    - `reconcile`: tether can find a sent message afterwards (`Adapter.reconcile`): look first, send only if absent;
    - neither (Telegram): `channels.<channel>.unknownSend` decides: "resend" (at-least-once, the default) or
      "dead-letter" (at-most-once, dead letter `unknown-send` for a person to check).
    """

    placements: frozenset[str] = frozenset({"current"})  # "child": can create a conversation (thread)
    idempotency_key: bool = False
    reconcile: bool = False
    max_message_length: int = 2000


class DeliveryError(TetherError):
    reason: str = "delivery-error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class RetryableError(DeliveryError):
    """`unsent`: the chunk certainly did not reach the platform (refused before sending: a rate-limit wait, a 429,
    a connection never made, a token not readable). The engine then forgets its in-flight mark, so the next attempt
    sends it plainly instead of treating it as a send whose answer was lost (`unknownSend`)."""

    reason = "retryable"
    unsent = False

    def __init__(self, message: str, *, retry_after_s: float | None = None, reason: str | None = None,
                 unsent: bool | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after_s = retry_after_s
        if unsent is not None:
            self.unsent = unsent


class PermanentError(DeliveryError):
    reason = "permanent"


class DestinationGone(DeliveryError):
    """`end_reason`: what the binding ends with (`thread-delete` by default; Telegram says `chat-gone` when the
    whole chat is out of reach)."""

    reason = "destination-gone"

    def __init__(self, message: str, *, reason: str | None = None, end_reason: str = "thread-delete") -> None:
        super().__init__(message, reason=reason)
        self.end_reason = end_reason


class OutboundChunk(msgspec.Struct, frozen=True, kw_only=True):
    """One platform message of a delivery. `idempotency_key` is deterministic per (delivery, chunk)."""

    delivery: Delivery
    index: int
    count: int
    text: str
    idempotency_key: str


@runtime_checkable
class Adapter(Protocol):
    channel: str
    capabilities: Capabilities

    def split(self, text: str) -> list[str]:
        """Deterministic: the same text always gives the same chunks (the ledger counts them)."""
        ...

    def send(self, chunk: OutboundChunk) -> str:
        """Send one chunk; return the platform message id. Raises DeliveryError subclasses only."""
        ...

    def reconcile(self, chunk: OutboundChunk) -> str | None:
        """After an attempt whose outcome is unknown: the id of the message if it did arrive, else None."""
        ...

    def validate(self, destination: ConversationRef) -> None:
        """Check the destination can receive (raise DestinationGone / PermanentError / RetryableError)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ConversationCheck(Protocol):
    """The sweeper's look at a platform's bound conversations (archived, closed, deleted), one batch a pass.

    Found through the entry-point group `tether.conversation_checks`, named for the channel; the factory takes the
    configuration and a Redis client and is built once per sweeper process. `run_once` ends the bindings of
    conversations that are gone (through `bindings`, with the reason the adapter documents), calls `on_ended` for
    each ended record (the farewell), and returns counts for the sweeper's log line (`{"archived": 1, …}`).
    """

    channel: str

    def run_once(self, on_ended: Callable[[SessionBindingRecord], object]) -> dict[str, int]: ...

    def close(self) -> None: ...
