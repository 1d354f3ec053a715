"""The router's memory in Redis: each event as first received, its sticky decision, duplicates, counters, the stream.

A decision is written once per event, in the same script that dedupes the event (`route.lua`), so two jobs carrying
one event can never both decide, and a retried or replayed job finds the decision of its first attempt. The same
script hands a new decision's delivery off (the delivery engine's `ledger_open`, prepended to it), so a decision and
its hand-off are one atomic step and one round trip.
"""

from __future__ import annotations

import weakref
from typing import Any, Literal

import msgspec
import redis

from adapters.delivery.handoff import HandOffCall
from adapters.delivery.ledger import OPEN_FUNCTION_FILE
from adapters.payloads import RouteMode
from bindings.lua import ScriptSet
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.replies import as_text
from router import keys

ClaimStatus = Literal["duplicate", "sticky", "new"]

_SECRET_HINTS = ("token", "secret", "password")


class DecisionRecord(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True, kw_only=True):
    """A routing decision as stored with its event. `delivery_ids` are the deliveries it hands off (one per
    destination; none when the event has nowhere to go)."""

    event_id: str
    mode: RouteMode
    reason: str
    decided_at: int  # ms epoch
    job_id: str | None = None
    target_session_key: str | None = None
    binding_id: str | None = None
    binding: SessionBindingRecord | None = None  # as it was when decided (metadata secrets removed)
    destination: ConversationRef | None = None
    delivery_ids: list[str] = msgspec.field(default_factory=list)


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    status: ClaimStatus
    decision: DecisionRecord | None = None  # None for a duplicate
    owner_job_id: str | None = None  # the job that owns the event, for a duplicate
    handed_off: list[Any] | None = None  # a new decision handed off with `claim(hand_off=…)`: ledger_open's reply


class EventState(msgspec.Struct, frozen=True, kw_only=True):
    """What `tether explain` shows of an event."""

    event_id: str
    raw: bytes | None
    job_id: str | None
    first_seen_at: int | None
    duplicates: int
    decision: DecisionRecord | None
    history: list[DecisionRecord]


_DECISION_DECODER = msgspec.json.Decoder(DecisionRecord)
_ENCODER = msgspec.json.Encoder()


def without_secrets(binding: SessionBindingRecord) -> SessionBindingRecord:
    """The binding as it may be stored and printed: metadata keys that look like secrets dropped."""
    if not any(h in k.lower() for k in binding.metadata for h in _SECRET_HINTS):
        return binding
    kept = {k: v for k, v in binding.metadata.items() if not any(h in k.lower() for h in _SECRET_HINTS)}
    return msgspec.structs.replace(binding, metadata=kept)


def encode_decision(decision: DecisionRecord) -> bytes:
    return _ENCODER.encode(decision)


def decode_decision(raw: bytes | str) -> DecisionRecord:
    return _DECISION_DECODER.decode(raw)


def destination_label(dest: ConversationRef | None) -> str:
    """`channel/account/conversation`, for streams and log lines."""
    if dest is None:
        return ""
    return f"{dest.channel}/{dest.account_id}/{dest.conversation_id or ''}"


def destination_fields(dest: ConversationRef | None) -> dict[str, str | None] | None:
    """Every field of a destination, `accountId` included (the wire form omits the default one)."""
    if dest is None:
        return None
    return {"channel": dest.channel, "accountId": dest.account_id, "conversationId": dest.conversation_id,
            "parentConversationId": dest.parent_conversation_id}


ScriptName = Literal["route", "requeue"]
SCRIPTS: ScriptSet[ScriptName] = ScriptSet("router", {"route": (OPEN_FUNCTION_FILE, "route"), "requeue": ("requeue",)})


class RouterStore:
    """The router's Redis state through one client, one per client (`for_client`)."""

    def __init__(self, client: redis.Redis, *, dedupe_window_ms: int = 7 * 24 * 3_600_000,
                 decisions_maxlen: int = keys.DECISIONS_MAXLEN) -> None:
        self.client = client
        self.dedupe_window_ms = dedupe_window_ms
        self.decisions_maxlen = decisions_maxlen

    # -- writes -----------------------------------------------------------------------------------------------

    def claim(self, *, event_id: str, job_id: str, raw_event: bytes, proposal: DecisionRecord, now_ms: int,
              encoded_proposal: bytes | None = None, hand_off: HandOffCall | None = None) -> Claim:
        """Dedupe the event and store `proposal` unless the event already has a decision (one round trip). With
        `hand_off` (the delivery of `proposal`), a new decision's delivery is handed off in the same script:
        `Claim.handed_off` is then what `ledger_open` returned, for `adapters.delivery.handoff.finish_hand_off`."""
        encoded = encode_decision(proposal) if encoded_proposal is None else encoded_proposal
        keys_, args = self._claim_call(event_id=event_id, job_id=job_id, raw_event=raw_event, proposal=proposal,
                                       encoded=encoded, now_ms=now_ms)
        if hand_off is not None:
            keys_ += hand_off.keys
            args += hand_off.args
        return self._claim_of(SCRIPTS.run(self.client, "route", keys_, args), proposal)

    def _claim_call(self, *, event_id: str, job_id: str, raw_event: bytes, proposal: DecisionRecord, encoded: bytes,
                    now_ms: int) -> tuple[list[str], list[Any]]:
        return [keys.event(event_id), keys.decisions_stream(), keys.counters()], [
            job_id,
            raw_event,
            encoded,
            now_ms,
            self.dedupe_window_ms,
            self.decisions_maxlen,
            keys.decision_counter(proposal.mode, proposal.reason),
            keys.outcome_counter("duplicate"),
            event_id,
            proposal.mode,
            proposal.reason,
            proposal.binding_id or "",
            destination_label(proposal.destination),
        ]

    @staticmethod
    def _claim_of(reply: Any, proposal: DecisionRecord) -> Claim:
        status = as_text(reply[0])
        if status == "duplicate":
            return Claim(status="duplicate", owner_job_id=as_text(reply[1]))
        if status == "new":
            return Claim(status="new", decision=proposal, handed_off=list(reply[1:]) or None)
        if status != "sticky":
            raise RuntimeError(f"route.lua returned {status!r}")
        return Claim(status="sticky", decision=decode_decision(reply[1]))

    def requeue(self, script_keys: list[str], script_args: list[Any],
                client: redis.Redis | redis.client.Pipeline | None = None) -> Any:
        """Run requeue.lua (arguments from `requeue_args`); with a pipeline, queue it there."""
        return SCRIPTS.run(self.client if client is None else client, "requeue", script_keys, script_args)

    def requeue_args(self, *, event_id: str, job_id: str, reroute: bool, raw_event: bytes,
                     now_ms: int) -> tuple[list[str], list[Any]]:
        return (
            [keys.event(event_id), keys.decision_history(event_id)],
            [job_id, "1" if reroute else "0", raw_event, now_ms, self.dedupe_window_ms],
        )

    def count(self, field: str, by: int = 1) -> None:
        self.client.hincrby(keys.counters(), field, by)

    # -- reads ------------------------------------------------------------------------------------------------

    def load_event(self, event_id: str) -> bytes | None:
        raw = self.client.hget(keys.event(event_id), "event")
        return None if raw is None else bytes(raw)  # type: ignore[arg-type]

    def load_decision(self, event_id: str) -> DecisionRecord | None:
        raw = self.client.hget(keys.event(event_id), "decision")
        return None if raw is None else decode_decision(raw)

    def state(self, event_id: str) -> EventState | None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys.event(event_id))
        pipe.lrange(keys.decision_history(event_id), 0, -1)
        fields, history = pipe.execute()
        if not fields:
            return None
        f = {as_text(k): v for k, v in fields.items()}
        return EventState(
            event_id=event_id,
            raw=f.get("event"),
            job_id=as_text(f["job"]) if "job" in f else None,
            first_seen_at=int(f["firstAt"]) if "firstAt" in f else None,
            duplicates=int(f.get("dups", 0)),
            decision=decode_decision(f["decision"]) if "decision" in f else None,
            history=[decode_decision(h) for h in history],
        )

    def counters(self) -> dict[str, int]:
        raw: dict[bytes, bytes] = self.client.hgetall(keys.counters())  # type: ignore[assignment]
        return {as_text(k): int(v) for k, v in raw.items()}

    def recent_decisions(self, count: int = 100) -> list[dict[str, str]]:
        """Newest first."""
        entries: list[Any] = self.client.xrevrange(keys.decisions_stream(), count=count)  # type: ignore[assignment]
        return [{as_text(k): as_text(v) for k, v in fields.items()} | {"id": as_text(i)} for i, fields in entries]


_stores: weakref.WeakKeyDictionary[redis.Redis, RouterStore] = weakref.WeakKeyDictionary()


def for_client(client: redis.Redis, *, dedupe_window_ms: int | None = None) -> RouterStore:
    """The store of `client`, created once per client and dedupe window."""
    store = _stores.get(client)
    if store is None or (dedupe_window_ms is not None and store.dedupe_window_ms != dedupe_window_ms):
        store = RouterStore(client) if dedupe_window_ms is None else RouterStore(client,
                                                                                  dedupe_window_ms=dedupe_window_ms)
        _stores[client] = store
    return store


def load_event(client: redis.Redis, event_id: str) -> bytes | None:
    """The raw event as the router first received it (None if unknown or past the dedupe window)."""
    return for_client(client).load_event(event_id)


def load_decision(client: redis.Redis, event_id: str) -> DecisionRecord | None:
    return for_client(client).load_decision(event_id)

