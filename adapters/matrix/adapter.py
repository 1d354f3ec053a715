"""The Matrix adapter: one `PUT /rooms/{room}/send/m.room.message/{txnId}` per chunk, into a room or a thread.

The transaction id is `tether.<idempotency key>`, deterministic per (delivery, chunk). The homeserver answers a
repeated transaction id from the same device with the event the first one made, so a chunk whose answer was lost is
simply sent again (`Capabilities.idempotency_key`): exactly once, as long as the homeserver still remembers the
transaction (Synapse: the same user and device, within 24 hours; see the README).

A destination is a room (`conversationId = "!room:server"`) or a thread (`conversationId = "$root"`,
`parentConversationId = "!room:server"`). What goes wrong, and what happens:
- 403: the room was upgraded (`m.room.tombstone`) → join the replacement room and send there (a thread gets a new
  root there; the binding moves along, `rooms.follow_upgrade`); the bot is no longer in the room (kicked, banned,
  left, a room it never joined) → `DestinationGone`; still joined but power levels forbid it → permanent `forbidden`;
- everything else → `errors.classify` (429 → retried after `retry_after_ms`, shared by every process).

After every successful send: activity recorded, the thread watched by the sweeper, the binding touched.
"""

from __future__ import annotations

import logging

import redis

from adapters.matrix import keys
from adapters.matrix.client import q
from adapters.matrix.errors import MatrixApiError, classify
from adapters.matrix.events import PREFIX_RESERVE_BYTES, content, identity_prefix, message_txn_id, split_body
from adapters.matrix.rooms import (
    BindingAccess,
    Moves,
    diagnose_forbidden,
    follow_upgrade,
    membership,
    room_and_root,
    root_state,
)
from adapters.matrix.runtime import MatrixRuntime
from adapters.matrix.settings import CHANNEL
from adapters.payloads import Delivery
from adapters.protocol import Capabilities, DestinationGone, OutboundChunk, PermanentError, RetryableError
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.model import ConversationRef

log = logging.getLogger("tether.matrix")

SEND_ROUTE = "PUT /rooms/{room}/send/m.room.message/{txn}"


class MatrixAdapter:
    channel = CHANNEL

    def __init__(self, config: TetherConfig, client: redis.Redis, *, runtime: MatrixRuntime | None = None,
                 bindings: BindingAccess | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.rt = runtime or MatrixRuntime(config, client, clock=clock)
        self.settings = self.rt.settings
        if bindings is None:
            from bindings.service import SessionBindingService

            self.bindings: BindingAccess = SessionBindingService(client, config, clock=clock)
        else:
            self.bindings = bindings
        self.moves = Moves(self.rt)
        self.capabilities = Capabilities(placements=frozenset({"current", "child"}), idempotency_key=True,
                                         max_message_length=self.settings.max_body_bytes)

    # -- Adapter protocol -------------------------------------------------------------------------------------

    def split(self, text: str) -> list[str]:
        budget = self.settings.max_body_bytes
        if self.settings.identity_prefix:
            budget -= PREFIX_RESERVE_BYTES
        return split_body(text, budget)

    def send(self, chunk: OutboundChunk) -> str:
        delivery = chunk.delivery
        dest = self.moves.resolve(delivery.destination)
        body = chunk.text
        if chunk.index == 0 and self.settings.identity_prefix and delivery.identity is not None:
            body = identity_prefix(delivery.identity.username) + body
        followed = False
        while True:
            room_id, root = room_and_root(dest)
            if not room_id.startswith("!"):
                raise PermanentError(f"matrix: {room_id or 'nothing'} is not a room id", reason="invalid-destination")
            try:
                event_id = self._put(dest.account_id, room_id, message_txn_id(chunk.idempotency_key),
                                     content(body, self.settings.message_type, root))
            except MatrixApiError as exc:
                if exc.status != 403 or followed:
                    raise classify(exc) from None
                dest = self._after_forbidden(exc, dest, delivery)
                followed = True
                continue
            self._after_send(delivery, dest, event_id)
            return event_id

    def reconcile(self, chunk: OutboundChunk) -> str | None:
        return None  # never asked: the transaction id makes a resend safe (Capabilities.idempotency_key)

    def validate(self, destination: ConversationRef) -> None:
        dest = self.moves.resolve(destination)
        room_id, root = room_and_root(dest)
        if not room_id.startswith("!"):
            raise PermanentError(f"matrix: {room_id or 'nothing'} is not a room id", reason="invalid-destination")
        try:
            if membership(self.rt, dest.account_id, room_id) != "join":
                raise DestinationGone(f"matrix: the bot is not in room {room_id}")
            if root is not None and root_state(self.rt, dest.account_id, room_id, root) != "present":
                raise DestinationGone(f"matrix: the root of thread {root} was redacted or is unknown")
        except MatrixApiError as exc:
            raise classify(exc) from None

    def close(self) -> None:
        self.rt.close()

    # -- internals --------------------------------------------------------------------------------------------

    def _put(self, account: str, room_id: str, txn_id: str, event: dict[str, object]) -> str:
        s = self.settings
        answer = self.rt.api.request(
            account, "PUT", SEND_ROUTE,
            f"/_matrix/client/v3/rooms/{q(room_id)}/send/m.room.message/{q(txn_id)}",
            json=event, repeatable=True,
            limits=[(keys.account_limit(account), s.account_rate), (keys.room_limit(account, room_id), s.room_rate)])
        event_id = answer.get("event_id") if isinstance(answer, dict) else None
        if not isinstance(event_id, str) or not event_id:
            raise RetryableError("matrix: a send was answered without an event id", reason="bad-answer")
        return event_id

    def _after_forbidden(self, exc: MatrixApiError, dest: ConversationRef, delivery: Delivery) -> ConversationRef:
        room_id, _ = room_and_root(dest)
        try:
            why, detail = diagnose_forbidden(self.rt, dest.account_id, room_id)
        except MatrixApiError as inner:
            raise classify(inner) from None
        if why == "upgraded" and detail is not None:
            return follow_upgrade(self.rt, self.moves, self.bindings, dest, detail, binding_id=delivery.binding_id,
                                  root_text=self.settings.root_text)
        if why == "gone":
            raise DestinationGone(f"matrix: the bot is no longer in room {room_id} (membership {detail or 'none'})")
        raise PermanentError(str(exc), reason="forbidden")

    def _after_send(self, delivery: Delivery, dest: ConversationRef, event_id: str) -> None:
        """Bookkeeping after the event exists: a failure is logged, never raised (it must not cause a resend)."""
        room_id, root = room_and_root(dest)
        try:
            self.rt.activity.record(dest.account_id, room_id, event_id, "bot")
            if root is not None and delivery.mode == "bound":
                self.rt.threads.watch(dest.account_id, room_id, root)
            if delivery.binding_id:
                self.bindings.touch(delivery.binding_id)
        except (redis.RedisError, ValueError) as exc:
            log.warning("bookkeeping after a send failed", extra={"deliveryId": delivery.delivery_id,
                                                                   "eventId": event_id, "error": str(exc)})


def make_adapter(config: TetherConfig, client: redis.Redis) -> MatrixAdapter:
    """Entry point `tether.adapters: matrix`."""
    return MatrixAdapter(config, client)
