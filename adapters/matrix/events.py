"""What tether puts in a Matrix event: the message content, its transaction id, and chunks that fit an event.

A thread reply carries `m.relates_to: {rel_type: "m.thread", event_id: <root>, is_falling_back: true,
"m.in_reply_to": {event_id: <root>}}`: thread-aware clients show it in the thread, older ones as a reply to the root.

Chunks are cut by `adapters.chunking` in UTF-8 bytes (words, code fences and surrogate pairs stay whole). The
homeserver limits the whole event as canonical JSON, where a quote or a newline takes two bytes and a control
character six: a chunk whose JSON-escaped body is still over `MAX_BODY_JSON_BYTES` is cut again, smaller. Both steps
depend only on the text, so a retry sees the same chunks.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from adapters.chunking import split_message
from adapters.matrix.settings import MAX_BODY_JSON_BYTES

TXN_PREFIX = "tether."
MAX_NAME_BYTES = 32  # a sub-agent's name in the identity prefix, in UTF-8 bytes (cut at a character boundary)
PREFIX_RESERVE_BYTES = MAX_NAME_BYTES + 2  # room for "<name>: " on the first chunk
_encoder = msgspec.json.Encoder()


def message_txn_id(idempotency_key: str) -> str:
    """Deterministic per (delivery, chunk): a resend is the same transaction."""
    return TXN_PREFIX + idempotency_key


def root_txn_id(account: str, room_id: str, target_session_key: str, label: str | None) -> str:
    """Deterministic per (account, room, session, label): a retried bind posts one root."""
    digest = hashlib.sha256("\x1f".join((account, room_id, target_session_key, label or "")).encode()).hexdigest()
    return f"{TXN_PREFIX}root.{digest[:32]}"


def moved_root_txn_id(old_root: str) -> str:
    """The new root of a thread that follows its room's upgrade: one per old root."""
    return f"{TXN_PREFIX}moved.{hashlib.sha256(old_root.encode()).hexdigest()[:32]}"


def content(body: str, msgtype: str, thread_root: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {"msgtype": msgtype, "body": body}
    if thread_root is not None:
        event["m.relates_to"] = {
            "rel_type": "m.thread",
            "event_id": thread_root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": thread_root},
        }
    return event


def json_size(text: str) -> int:
    return len(_encoder.encode(text))


def split_body(text: str, max_bytes: int) -> list[str]:
    chunks: list[str] = []
    for chunk in split_message(text, max_bytes, unit="bytes"):
        if json_size(chunk) <= MAX_BODY_JSON_BYTES or max_bytes <= 64:
            chunks.append(chunk)
        else:
            chunks += split_body(chunk, max_bytes // 2)
    return chunks


def identity_prefix(username: str | None) -> str:
    """"<name>: ", the name's white space collapsed and cut to MAX_NAME_BYTES; "" without a name."""
    name = " ".join((username or "").split()).encode()[:MAX_NAME_BYTES].decode(errors="ignore").strip()
    return f"{name}: " if name else ""
