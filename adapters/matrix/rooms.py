"""What tether reads of a room's state, and how a conversation follows its room's upgrade.

- `membership`: the bot's own membership (`join`, `invite`, `leave`, `ban`), None when the homeserver will not say
  (a room the bot never saw answers 403 or 404);
- `replacement`: the `replacement_room` of the room's `m.room.tombstone`, if it was upgraded;
- `root_state`: a thread root is `present`, `redacted` (the thread is gone for its readers) or `missing`;
- `diagnose_forbidden`: why a send was refused with 403 — upgraded (→ follow), the bot is no longer in the room
  (kicked, banned, left, unknown room → destination gone), or power levels forbid it (permanent `forbidden`);
- `follow_upgrade`: join the replacement room; a thread gets a new root there (a deterministic transaction id, so
  every process following the same tombstone makes one root); the move is kept in Redis (`keys.moved`, first writer
  wins) so later chunks and deliveries to the old conversation go to the new one, and the binding is moved (bound
  anew to the new conversation, the old binding ended `room-upgraded`). If the bot cannot join, `DestinationGone`.
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

import msgspec

from adapters.matrix import keys
from adapters.matrix.client import q
from adapters.matrix.errors import MatrixApiError
from adapters.matrix.events import content, moved_root_txn_id
from adapters.matrix.runtime import MatrixRuntime
from adapters.protocol import DestinationGone
from bindings.model import ConversationRef, SessionBindingRecord

log = logging.getLogger("tether.matrix.rooms")

RootState = Literal["present", "redacted", "missing"]
MOVE_TTL_S = 30 * 86_400
MAX_HOPS = 5


class BindingAccess(Protocol):
    def get(self, binding_id: str) -> SessionBindingRecord | None: ...

    def touch(self, binding_id: str, at: int | None = None) -> SessionBindingRecord | None: ...

    def bind(self, *, target_session_key: str, target_kind: str, conversation: ConversationRef,
             metadata: dict[str, str] | None = None, ttl_ms: int | None = None, placement: str = "current",
             label: str | None = None, max_age_ms: int | None = None) -> SessionBindingRecord: ...

    def unbind(self, binding_id: str | None = None, target_session_key: str | None = None,
               reason: str = "unbound") -> list[SessionBindingRecord]: ...


def is_thread(ref: ConversationRef) -> bool:
    return bool(ref.parent_conversation_id and ref.conversation_id and ref.conversation_id.startswith("$"))


def room_and_root(ref: ConversationRef) -> tuple[str, str | None]:
    """(room id, thread root or None) of a destination."""
    if is_thread(ref):
        return ref.parent_conversation_id or "", ref.conversation_id
    return ref.conversation_id or ref.parent_conversation_id or "", None


def membership(rt: MatrixRuntime, account: str, room_id: str) -> str | None:
    try:
        body = rt.api.request(account, "GET", "GET /rooms/{room}/state/m.room.member/{me}",
                              rt.state_path(room_id, "m.room.member", rt.user_id(account)))
    except MatrixApiError as exc:
        if exc.status in (403, 404):
            return None
        raise
    value = body.get("membership") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def replacement(rt: MatrixRuntime, account: str, room_id: str) -> str | None:
    try:
        body = rt.api.request(account, "GET", "GET /rooms/{room}/state/m.room.tombstone",
                              rt.state_path(room_id, "m.room.tombstone"))
    except MatrixApiError as exc:
        if exc.status in (403, 404):
            return None
        raise
    new_room = body.get("replacement_room") if isinstance(body, dict) else None
    return new_room if isinstance(new_room, str) and new_room.startswith("!") else None


def root_state(rt: MatrixRuntime, account: str, room_id: str, root: str) -> RootState:
    try:
        body = rt.api.request(account, "GET", "GET /rooms/{room}/event/{event}",
                              f"/_matrix/client/v3/rooms/{q(room_id)}/event/{q(root)}")
    except MatrixApiError as exc:
        if exc.status == 404:
            return "missing"
        raise
    if not isinstance(body, dict):
        return "missing"
    unsigned = body.get("unsigned")
    if (isinstance(unsigned, dict) and unsigned.get("redacted_because")) or not body.get("content"):
        return "redacted"
    return "present"


def diagnose_forbidden(rt: MatrixRuntime, account: str, room_id: str) -> tuple[str, str | None]:
    """("upgraded", new room) | ("gone", membership) | ("forbidden", None)."""
    new_room = replacement(rt, account, room_id)
    if new_room is not None:
        return "upgraded", new_room
    member = membership(rt, account, room_id)
    if member != "join":
        return "gone", member
    return "forbidden", None


class Moves:
    """Conversations that moved to a replacement room, per account (first writer wins)."""

    def __init__(self, rt: MatrixRuntime) -> None:
        self.rt = rt

    def get(self, account: str, conversation_id: str) -> ConversationRef | None:
        raw = self.rt.redis.get(keys.moved(account, conversation_id))
        return None if raw is None else msgspec.json.decode(raw, type=ConversationRef)

    def put(self, account: str, conversation_id: str, new: ConversationRef) -> tuple[ConversationRef, bool]:
        """Record the move unless another process did first; returns the move that holds, and whether it is ours."""
        key = keys.moved(account, conversation_id)
        if self.rt.redis.set(key, msgspec.json.encode(new), nx=True, ex=MOVE_TTL_S):
            return new, True
        held = self.get(account, conversation_id)
        return (held, False) if held is not None else (new, False)

    def resolve(self, ref: ConversationRef) -> ConversationRef:
        """Where a conversation lives now (after any number of upgrades, up to MAX_HOPS)."""
        for _ in range(MAX_HOPS):
            moved = self.get(ref.account_id, ref.conversation_id or "") if ref.conversation_id else None
            if moved is None:
                return ref
            ref = moved
        return ref


def follow_upgrade(rt: MatrixRuntime, moves: Moves, bindings: BindingAccess | None, ref: ConversationRef,
                   new_room: str, *, binding_id: str | None, root_text: str) -> ConversationRef:
    """Move `ref` into `new_room` (see the module's doc); raises DestinationGone if the bot cannot join it."""
    account = ref.account_id
    try:
        rt.api.request(account, "POST", "POST /join/{room}", f"/_matrix/client/v3/join/{q(new_room)}", json={})
    except MatrixApiError as exc:
        raise DestinationGone(f"matrix room upgraded to {new_room}, and the bot cannot join it: {exc}") from None
    record = bindings.get(binding_id) if bindings is not None and binding_id else None
    _, old_root = room_and_root(ref)
    if old_root is not None:
        label = (record.label if record else None) or (record.target_session_key if record else "") or "thread"
        body = content(root_text.replace("{label}", label), rt.settings.message_type, None)
        try:
            made = rt.api.request(account, "PUT", "PUT /rooms/{room}/send/m.room.message/{txn}",
                                  f"/_matrix/client/v3/rooms/{q(new_room)}/send/m.room.message/"
                                  f"{q(moved_root_txn_id(old_root))}", json=body)
        except MatrixApiError as exc:
            raise DestinationGone(f"matrix room upgraded to {new_room}; no thread root there: {exc}") from None
        new = ConversationRef(channel=ref.channel, account_id=account, conversation_id=str(made["event_id"]),
                              parent_conversation_id=new_room)
    else:
        new = ConversationRef(channel=ref.channel, account_id=account, conversation_id=new_room)
    held, ours = moves.put(account, ref.conversation_id or "", new)
    if ours and record is not None and record.status == "active" and bindings is not None:
        metadata = dict(record.metadata)
        room, root = room_and_root(new)
        metadata["roomId"] = room
        if root is not None:
            metadata["rootEventId"] = root
        bindings.bind(target_session_key=record.target_session_key, target_kind=record.target_kind,
                      conversation=new, metadata=metadata, label=record.label)
        bindings.unbind(binding_id=record.binding_id, reason="room-upgraded")
        if root is not None:
            rt.threads.watch(account, room, root)
    log.info("conversation followed its room's upgrade", extra={"account": account, "from": ref.conversation_id,
                                                                "to": held.conversation_id})
    return held
