"""The completion event on the wire (DESIGN §7) and the one function that validates it.

Decoding is strict: types are never coerced (`"createdAt": "1"` or `1.0` is rejected, so is `"failClosed": 1`).
Unknown fields are ignored, so a producer of a newer version can add fields without breaking older routers; the
raw event, unknown fields included, is what the router stores and what a replay re-enqueues.
Every error is an `InvalidInput` whose `field` is the wire path of the offending field (`requester.channel`),
or `event` when the whole document is wrong (not JSON, not an object, too large).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from adapters.payloads import Content, Identity
from bindings.errors import InvalidInput
from bindings.model import ConversationRef
from bindings.normalize import normalize_account_id, normalize_channel, normalize_conversation

TASK_COMPLETION = "task_completion"
SUPPORTED_KINDS: frozenset[str] = frozenset({TASK_COMPLETION})
DEFAULT_MAX_EVENT_BYTES = 64 * 1024
MAX_EVENT_ID_CHARS = 512
WHOLE_EVENT = "event"


class _Wire(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True, kw_only=True):
    pass


class Requester(_Wire, frozen=True):
    """Where the completion was asked for: ConversationRef-shaped, every field optional on the wire, because a
    requester without a channel or conversation id is a routing outcome (`invalid-requester`), not a bad event."""

    channel: str | None = None
    account_id: str | None = None
    conversation_id: str | None = None
    parent_conversation_id: str | None = None

    def to_ref(self) -> ConversationRef:
        """Normalised as DESIGN §3 (`bindings.normalize`); an empty channel stays empty, for the decision table
        to report (`invalid-requester`)."""
        ref = ConversationRef(channel=self.channel or "", account_id=self.account_id or "",
                              conversation_id=self.conversation_id, parent_conversation_id=self.parent_conversation_id)
        if normalize_channel(self.channel):
            return normalize_conversation(ref)
        return ConversationRef(channel="", account_id=normalize_account_id(self.account_id),
                               conversation_id=(self.conversation_id or "").strip() or None)


class CompletionEvent(_Wire, frozen=True):
    event_id: str
    kind: str
    content: Content
    target_session_key: str | None = None
    requester: Requester | None = None
    spawn_mode: str | None = None  # "session" | "run" from today's runners; carried, not interpreted
    fail_closed: bool = False
    identity: Identity | None = None
    created_at: int | None = None  # ms epoch
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)

    def requester_ref(self) -> ConversationRef | None:
        return None if self.requester is None else self.requester.to_ref()


_DECODER = msgspec.json.Decoder(CompletionEvent)
_ENCODER = msgspec.json.Encoder()
_AT_PATH = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]+)`")


def encode_event(event: CompletionEvent | dict[str, Any] | str | bytes) -> bytes:
    """The JSON bytes of an event given in any accepted form (bytes and str are taken as they are)."""
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode()
    if isinstance(event, CompletionEvent | dict):
        try:
            return _ENCODER.encode(event)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidInput(WHOLE_EVENT, f"not representable as JSON: {exc}") from None
    raise InvalidInput(WHOLE_EVENT, f"expected a CompletionEvent, a dict or JSON text, got {type(event).__name__}")


def parse_event(raw: bytes, *, max_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> CompletionEvent:
    """Validate raw JSON bytes into a CompletionEvent, or raise InvalidInput naming the field."""
    if len(raw) > max_bytes:
        raise InvalidInput(WHOLE_EVENT, f"event is {len(raw)} bytes, over the limit of {max_bytes} "
                                        "(router.maxEventBytes)")
    try:
        event = _DECODER.decode(raw)
    except msgspec.ValidationError as exc:
        field, message = describe_validation_error(str(exc))
        raise InvalidInput(field, message) from None
    except msgspec.DecodeError as exc:
        raise InvalidInput(WHOLE_EVENT, f"not valid JSON: {_lower_first(str(exc))}") from None
    check_event(event)
    return event


def check_event(event: CompletionEvent) -> None:
    """What the schema cannot say."""
    if not event.event_id.strip():
        raise InvalidInput("eventId", "must not be empty")
    if len(event.event_id) > MAX_EVENT_ID_CHARS:
        raise InvalidInput("eventId", f"longer than {MAX_EVENT_ID_CHARS} characters")
    if event.kind not in SUPPORTED_KINDS:
        raise InvalidInput("kind", f"unsupported event kind {event.kind!r}; only {TASK_COMPLETION!r} is accepted")
    if not event.content.text:
        raise InvalidInput("content.text", "must not be empty")
    if event.created_at is not None and event.created_at < 0:
        raise InvalidInput("createdAt", "must be a non-negative ms epoch")


def describe_validation_error(message: str) -> tuple[str, str]:
    """msgspec's "Expected `str`, got `int` - at `$.requester.channel`" → ("requester.channel", "expected …")."""
    match = _AT_PATH.match(message)
    what, path = (match.group("what"), match.group("path") or "") if match else (message, "")
    path = path.lstrip(".")
    missing = _MISSING.match(what)
    if missing:
        path = ".".join(p for p in (path, missing.group("name")) if p)
        what = "required field is missing"
    return (path or WHOLE_EVENT), _lower_first(what)


def peek_event_id(raw: bytes) -> str | None:
    """The eventId of a payload that failed validation, when it has a usable one (to name its dead letter)."""
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    value = obj.get("eventId") if isinstance(obj, dict) else None
    return value if isinstance(value, str) and value.strip() and len(value) <= MAX_EVENT_ID_CHARS else None


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
