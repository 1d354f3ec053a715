"""SessionBindingService: which chat conversation a session is bound to, kept in Redis (DESIGN §3, §7).

Every change is one Lua script (atomic); every read is one round trip. Key layout: `bindings.keys`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import redis

from bindings import keys
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.codec import deadline, decode, encode_new
from bindings.config import DEFAULT_REDIS_URL, TetherConfig, load_config, redis_url
from bindings.connection import connect
from bindings.errors import InvalidInput, ProvisionerMissing, ProvisioningError, TetherError
from bindings.model import TARGET_KINDS, ConversationRef, SessionBindingRecord, TargetKind
from bindings.normalize import normalize_conversation
from bindings.provisioner import ConversationProvisioner, discover_provisioners
from bindings.replies import as_text
from bindings.scripts import BindingScripts, raw_record

log = logging.getLogger(__name__)

PLACEMENTS = ("current", "child")
EndListener = Callable[[SessionBindingRecord], None]

_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford's base 32, lower case
_ID_CHARS = 12  # 60 random bits: short, because every id is stored four times


def new_binding_id() -> str:
    n = secrets.randbits(5 * _ID_CHARS)
    return "".join(_ID_ALPHABET[(n >> (5 * i)) & 31] for i in range(_ID_CHARS))



def _require_session_key(target_session_key: str) -> str:
    if not isinstance(target_session_key, str) or not target_session_key.strip():
        raise InvalidInput("target_session_key", "must be a non-empty string")
    return target_session_key.strip()


def _optional_ms(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(field, f"must be an integer number of milliseconds, got {type(value).__name__}")
    if value < 0:
        raise InvalidInput(field, f"must be ≥ 0, got {value}")
    return value


class SessionBindingService:
    def __init__(
        self,
        client: redis.Redis,
        config: TetherConfig | None = None,
        *,
        clock: Clock = SYSTEM_CLOCK,
        provisioners: Mapping[str, ConversationProvisioner] | None = None,
    ) -> None:
        """`config` None: the built-in defaults (`from_url` reads the configuration file instead).
        `provisioners` None: the registered ones (entry points), found on the first child bind."""
        self.client = client
        self.config = config if config is not None else TetherConfig()
        self.clock = clock
        self.grace_ms = self.config.bindings.grace_s * 1000
        self.scripts = BindingScripts(client)
        self._provisioners = None if provisioners is None else {k.strip().lower(): v for k, v in provisioners.items()}
        self._end_listeners: list[EndListener] = []

    @classmethod
    def from_url(
        cls, url: str | None = None, *, config: TetherConfig | None = None, clock: Clock = SYSTEM_CLOCK
    ) -> SessionBindingService:
        config = config if config is not None else load_config()
        return cls(connect(url or redis_url(config) or DEFAULT_REDIS_URL), config, clock=clock)

    # ---- observers -------------------------------------------------------------------------------------------

    def add_end_listener(self, listener: EndListener) -> None:
        """Called with every record this service ends (unbind, replacement, sweep), after the change is stored.
        A listener that raises is logged and does not stop the others."""
        self._end_listeners.append(listener)

    def notify_ended(self, records: Sequence[SessionBindingRecord]) -> None:
        for record in records:
            for listener in self._end_listeners:
                try:
                    listener(record)
                except Exception:
                    log.exception("binding end listener failed for %s", record.binding_id)

    # ---- writes ----------------------------------------------------------------------------------------------

    def bind(
        self,
        *,
        target_session_key: str,
        target_kind: str,
        conversation: ConversationRef,
        metadata: dict[str, str] | None = None,
        ttl_ms: int | None = None,
        placement: str = "current",
        label: str | None = None,
        max_age_ms: int | None = None,
    ) -> SessionBindingRecord:
        """Bind `conversation` to the session; a binding the conversation already had ends with `replaced`.

        ttl_ms: idle timeout (None: configured `idleHours`; 0: no idle expiry). max_age_ms: likewise `maxAgeHours`.
        placement "child": `conversation` names the parent (`parent_conversation_id`, no `conversation_id`) and
        the channel's provisioner creates the conversation first.
        """
        session_key = _require_session_key(target_session_key)
        if target_kind not in TARGET_KINDS:
            raise InvalidInput("target_kind", f"must be one of {', '.join(TARGET_KINDS)} (got {target_kind!r})")
        if placement not in PLACEMENTS:
            raise InvalidInput("placement", f"must be one of {', '.join(PLACEMENTS)} (got {placement!r})")
        ttl_ms = _optional_ms(ttl_ms, "ttl_ms")
        max_age_ms = _optional_ms(max_age_ms, "max_age_ms")
        if metadata is not None and not (
            isinstance(metadata, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        ):
            raise InvalidInput("metadata", "must map strings to strings")
        if label is not None and not isinstance(label, str):
            raise InvalidInput("label", "must be a string")
        if not isinstance(conversation, ConversationRef):
            raise InvalidInput("conversation", "must be a ConversationRef")
        conv = normalize_conversation(conversation)
        meta = dict(metadata or {})
        if placement == "current":
            if conv.conversation_id is None:
                raise InvalidInput("conversation.conversation_id", "required for placement 'current'")
        else:
            if conv.conversation_id is not None:
                raise InvalidInput(
                    "conversation.conversation_id",
                    "must be empty for placement 'child': the provisioner creates the conversation under "
                    "parent_conversation_id",
                )
            if conv.parent_conversation_id is None:
                raise InvalidInput("conversation.parent_conversation_id", "required for placement 'child'")
            conv, provisioned_meta = self._provision(conv, label=label, target_session_key=session_key)
            meta.update(provisioned_meta)

        resolved = self.config.thread_bindings(conv.channel, conv.account_id)
        idle = resolved.idle_timeout_ms if ttl_ms is None else (ttl_ms or None)
        max_age = resolved.max_age_ms if max_age_ms is None else (max_age_ms or None)
        while True:
            call_keys, args = self.bind_call(
                binding_id=new_binding_id(),
                session_key=session_key,
                target_kind=cast(TargetKind, target_kind),
                conv=conv,
                metadata=meta,
                idle_timeout_ms=idle,
                max_age_ms=max_age,
                label=label,
                now_ms=self.clock.now_ms(),
            )
            result = self.scripts.run("bind", call_keys, args)
            if result:  # empty: the id was taken (60 random bits: in theory only), draw another
                break
        records = self.decode_many(result)
        self.notify_ended(records[1:])
        return records[0]

    def bind_call(
        self,
        *,
        binding_id: str,
        session_key: str,
        target_kind: TargetKind,
        conv: ConversationRef,
        metadata: dict[str, str],
        idle_timeout_ms: int | None,
        max_age_ms: int | None,
        label: str | None,
        now_ms: int,
    ) -> tuple[list[str], list[str | int]]:
        """KEYS and ARGV of bind.lua for an already validated, normalised binding (also used for bulk loads)."""
        assert conv.conversation_id is not None
        record = SessionBindingRecord(
            binding_id=binding_id,
            target_session_key=session_key,
            target_kind=target_kind,
            conversation=conv,
            status="active",
            bound_at=now_ms,
            expires_at=deadline(now_ms, now_ms, idle_timeout_ms, max_age_ms),
            idle_timeout_ms=idle_timeout_ms,
            max_age_ms=max_age_ms,
            last_activity_at=now_ms,
            label=label,
            metadata=metadata,
        )
        conv_key, conv_field = keys.conversation_bucket(conv.channel, conv.account_id, conv.conversation_id)
        session_key_name, session_field = keys.session_bucket(session_key)
        shard = keys.expiry_shard_name(binding_id)
        call_keys = [
            keys.record(binding_id),
            conv_key,
            session_key_name,
            keys.expiry_shard(shard),
            keys.expiry_directory(),
            keys.events(),
            keys.active_count(),
        ]
        args: list[str | int] = [
            keys.PREFIX, now_ms, self.grace_ms, binding_id, conv_field, session_field,
            conv.channel, conv.account_id, conv.conversation_id, session_key,
            "" if record.expires_at is None else record.expires_at, shard,
            *encode_new(record),
        ]  # fmt: skip
        return call_keys, args

    def _provision(
        self, parent: ConversationRef, *, label: str | None, target_session_key: str
    ) -> tuple[ConversationRef, dict[str, str]]:
        if self._provisioners is None:
            self._provisioners = discover_provisioners(self.config, self.client)
        provisioner = self._provisioners.get(parent.channel)
        if provisioner is None:
            known = ", ".join(sorted(self._provisioners)) or "none"
            raise ProvisionerMissing(
                f"placement 'child' needs a conversation provisioner for channel {parent.channel!r}, and none is "
                f"registered (registered: {known}); install or enable that channel's adapter, or bind with "
                "placement 'current'"
            )
        try:
            made = provisioner.provision(parent, label=label, target_session_key=target_session_key)
        except TetherError:
            raise
        except Exception as exc:
            raise ProvisioningError(
                f"the {parent.channel!r} provisioner failed to create a conversation: {type(exc).__name__}"
            ) from exc
        child = normalize_conversation(
            ConversationRef(
                channel=parent.channel,
                account_id=parent.account_id,
                conversation_id=made.conversation_id,
                parent_conversation_id=parent.parent_conversation_id,
            )
        )
        if child.conversation_id is None:
            raise ProvisioningError(f"the {parent.channel!r} provisioner returned an empty conversation id")
        return child, dict(made.metadata)

    def touch(self, binding_id: str, at: int | None = None) -> SessionBindingRecord | None:
        """Record activity at `at` (default now): the idle deadline moves, never past max age. None when the
        binding is gone, ended or expired."""
        now_ms = self.clock.now_ms()
        at_ms = now_ms if at is None else at
        if isinstance(at_ms, bool) or not isinstance(at_ms, int) or at_ms < 0:
            raise InvalidInput("at", "must be a time in ms since the epoch")
        shard = keys.expiry_shard(keys.expiry_shard_name(binding_id))
        flat = self.scripts.run("touch", [keys.record(binding_id), shard], [now_ms, at_ms, self.grace_ms, binding_id])
        return decode(binding_id, flat) if flat else None

    def unbind(
        self,
        binding_id: str | None = None,
        target_session_key: str | None = None,
        reason: str = "unbound",
    ) -> list[SessionBindingRecord]:
        """End one binding (by id) or all of a session's; returns the records this call ended (an active one
        already past its deadline ends with its expiry reason). Exactly one selector must be given."""
        if (binding_id is None) == (target_session_key is None):
            raise InvalidInput("binding_id", "give exactly one of binding_id and target_session_key")
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("reason", "must be a non-empty string")
        reason = reason.strip()
        now_ms = self.clock.now_ms()
        if binding_id is not None:
            if not isinstance(binding_id, str) or not binding_id.strip():
                raise InvalidInput("binding_id", "must be a non-empty string")
            binding_id = binding_id.strip()
            result = self.scripts.run(
                "unbind_ids",
                [keys.events(), keys.active_count(), keys.record(binding_id)],
                [keys.PREFIX, now_ms, self.grace_ms, reason, binding_id],
            )
        else:
            session_key = _require_session_key(target_session_key or "")
            bucket, field = keys.session_bucket(session_key)
            result = self.scripts.run(
                "unbind_session",
                [bucket, keys.events(), keys.active_count()],
                [keys.PREFIX, now_ms, self.grace_ms, reason, field, session_key],
            )
        ended = self.decode_many(result)
        self.notify_ended(ended)
        return ended

    def rebind_conversations(
        self, channel: str, account_id: str, moves: Mapping[str, str]
    ) -> list[SessionBindingRecord]:
        """Move the active bindings of conversations `old → new` (ids of `channel`/`account_id`), atomically: the
        platform renamed them (e.g. a chat that got a new id). A parent conversation
        id that is one of the old ids moves too. A binding whose new conversation is already bound ends `replaced`
        instead. Returns the records moved or ended."""
        ref = normalize_conversation(ConversationRef(channel=channel, account_id=account_id, conversation_id="x"))
        pairs = [(old.strip(), new.strip()) for old, new in moves.items()]
        if not pairs:
            return []
        if any(not old or not new or old == new for old, new in pairs):
            raise InvalidInput("moves", "every old and new conversation id must be non-empty and differ")
        call_keys: list[str] = [keys.events(), keys.active_count()]
        args: list[str | int] = [keys.PREFIX, self.clock.now_ms(), self.grace_ms, ref.channel, ref.account_id]
        for old, new in pairs:
            old_key, old_field = keys.conversation_bucket(ref.channel, ref.account_id, old)
            new_key, new_field = keys.conversation_bucket(ref.channel, ref.account_id, new)
            call_keys += [old_key, new_key]
            args += [old, old_field, new, new_field]
        records = self.decode_many(self.scripts.run("rebind", call_keys, args))
        self.notify_ended([r for r in records if r.status == "ended"])
        return records

    # ---- reads -----------------------------------------------------------------------------------------------

    def get(self, binding_id: str) -> SessionBindingRecord | None:
        """The record in any status (an active one may be past its deadline: see `is_active`); None once gone."""
        raw = self.client.hgetall(keys.record(binding_id))
        if not raw:
            return None
        return decode(binding_id, [x for pair in raw.items() for x in pair])

    def list_by_session(self, target_session_key: str) -> list[SessionBindingRecord]:
        """The session's active, unexpired bindings, oldest first."""
        return self.decode_many(self.scripts.run("list_session", *self._list_session_call(target_session_key)))

    def queue_list_by_session(self, target_session_key: str, pipe: redis.client.Pipeline) -> str:
        """`list_by_session` as one command queued on `pipe` (its reply goes to `decode_many`; it may be a
        NoScriptError, see `BindingScripts.queue_evalsha`). Returns the session key as it was looked up."""
        call_keys, args = self._list_session_call(target_session_key)
        self.scripts.queue_evalsha("list_session", call_keys, args, pipe)
        return str(args[3])

    def _list_session_call(self, target_session_key: str) -> tuple[list[str], list[str | int]]:
        session_key = _require_session_key(target_session_key)
        bucket, field = keys.session_bucket(session_key)
        return [bucket], [keys.PREFIX, self.clock.now_ms(), field, session_key]

    def resolve_by_conversation(self, ref: ConversationRef) -> SessionBindingRecord | None:
        """The conversation's active, unexpired binding, if any (one round trip)."""
        conv = normalize_conversation(ref)
        if conv.conversation_id is None:
            raise InvalidInput("conversation.conversation_id", "required to resolve a conversation")
        bucket, field = keys.conversation_bucket(conv.channel, conv.account_id, conv.conversation_id)
        found = self.scripts.run(
            "resolve",
            [bucket],
            [keys.PREFIX, self.clock.now_ms(), field, conv.channel, conv.account_id, conv.conversation_id],
        )
        return decode(*raw_record(found)) if found else None

    def count_active(self) -> int:
        """Bindings not yet ended (O(1)); includes ones past their deadline that no sweeper has ended yet."""
        raw = self.client.get(keys.active_count())
        return max(0, int(raw)) if raw is not None else 0

    def events(self, count: int = 100) -> list[dict[str, str]]:
        """The newest bind/unbind events, newest first; each has `id` (stream id), `type`, `bindingId`,
        `targetSessionKey`, `channel`, `accountId`, `conversationId`, `at` and, for unbind, `reason`."""
        entries = self.client.xrevrange(keys.events(), count=count) or []
        return [
            {"id": as_text(eid or b""), **{as_text(k): as_text(v) for k, v in (fields or {}).items()}}
            for eid, fields in entries
        ]

    @staticmethod
    def decode_many(result: Sequence[Any]) -> list[SessionBindingRecord]:
        return [decode(*raw_record(item)) for item in result]
