"""The sweeper's check of bound Matrix threads (`ConversationCheck`, entry point `tether.conversation_checks`).

Each pass looks at the due threads of the index (`threads.ThreadIndex`) and, for each one with an active binding:

- the room was upgraded (tombstone) → the binding follows the replacement room if the bot can join it
  (`rooms.follow_upgrade`, counted `moved`), else ends `room-upgraded` (counted `archived`);
- the bot is no longer in the room (kicked, banned, left) → ended `room-left` (counted `closed`), no farewell (it
  could not be posted);
- the thread root was redacted or is unknown → ended `thread-delete` (counted `deleted`), no farewell (the thread
  is gone for its readers);
- otherwise, or when the homeserver cannot be asked right now → kept, looked at again after `interval_s`.
A watched thread without an active binding is dropped from the index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from adapters.matrix.errors import MatrixApiError
from adapters.matrix.rooms import Moves, follow_upgrade, membership, replacement, root_state
from adapters.matrix.runtime import MatrixRuntime
from adapters.matrix.settings import CHANNEL
from adapters.matrix.threads import DEFAULT_INTERVAL_S
from adapters.protocol import DeliveryError, DestinationGone
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.model import ConversationRef, SessionBindingRecord

log = logging.getLogger("tether.matrix.check")


class MatrixThreadCheck:
    channel = CHANNEL

    def __init__(self, config: TetherConfig, client: redis.Redis, *, runtime: MatrixRuntime | None = None,
                 clock: Clock = SYSTEM_CLOCK, limit: int = 100, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        from bindings.service import SessionBindingService

        self.rt = runtime or MatrixRuntime(config, client, clock=clock)
        self.svc = SessionBindingService(client, config, clock=clock)
        self.moves = Moves(self.rt)
        self.limit = limit
        self.interval_s = interval_s

    def run_once(self, on_ended: Callable[[SessionBindingRecord], object]) -> dict[str, int]:
        # The protocol's vocabulary: archived (upgraded, not followed), closed (the bot is out), deleted (root gone).
        counts = {"checked": 0, "kept": 0, "dropped": 0, "moved": 0, "archived": 0, "closed": 0, "deleted": 0}
        for account, room_id, root in self.rt.threads.due(self.limit):
            counts["checked"] += 1
            ref = ConversationRef(channel=CHANNEL, account_id=account, conversation_id=root,
                                  parent_conversation_id=room_id)
            record = self.svc.resolve_by_conversation(ref)
            if record is None:
                self.rt.threads.unwatch(account, room_id, root)
                counts["dropped"] += 1
                continue
            try:
                outcome = self._check(record, ref, account, room_id, root)
            except (MatrixApiError, DeliveryError) as exc:
                log.info("thread check failed; keeping the binding", extra={
                    "bindingId": record.binding_id, "roomId": room_id, "error": str(exc)})
                outcome = "kept"
            counts[outcome] += 1
            if outcome == "kept":
                self.rt.threads.reschedule(account, room_id, root, after_s=self.interval_s)
            else:
                self.rt.threads.unwatch(account, room_id, root)
        if counts["checked"] != counts["kept"]:
            log.info("matrix threads checked", extra=counts)
        return counts

    def _check(self, record: SessionBindingRecord, ref: ConversationRef, account: str, room_id: str,
               root: str) -> str:
        new_room = replacement(self.rt, account, room_id)
        if new_room is not None:
            try:
                follow_upgrade(self.rt, self.moves, self.svc, ref, new_room, binding_id=record.binding_id,
                               root_text=self.rt.settings.root_text)
            except DestinationGone:
                self.svc.unbind(binding_id=record.binding_id, reason="room-upgraded")
                return "archived"
            return "moved"
        if membership(self.rt, account, room_id) != "join":
            self.svc.unbind(binding_id=record.binding_id, reason="room-left")
            return "closed"
        if root_state(self.rt, account, room_id, root) != "present":
            self.svc.unbind(binding_id=record.binding_id, reason="thread-delete")
            return "deleted"
        return "kept"

    def close(self) -> None:
        self.rt.close()


def make_check(config: TetherConfig, client: redis.Redis) -> MatrixThreadCheck:
    """Entry point `tether.conversation_checks: matrix`."""
    return MatrixThreadCheck(config, client)
