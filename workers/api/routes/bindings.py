"""`/v1/bindings`: bind (idempotent with `Idempotency-Key`), list, resolve, touch, unbind."""

from __future__ import annotations

import msgspec

from bindings.model import ConversationRef, SessionBindingRecord
from workers.api.endpoint import Answer, Call, Endpoint, Reply, encode, problem_answer
from workers.api.errors import ApiProblem, invalid, not_found
from workers.api.idempotency import MAX_KEY_CHARS, Held, fingerprint
from workers.api.wire import (
    BindRequest,
    Ended,
    ResolveQuery,
    SessionQuery,
    TouchRequest,
    UnbindQuery,
    UnbindRequest,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"


def _bind(call: Call) -> SessionBindingRecord:
    req: BindRequest = call.body
    return call.ctx.bindings.bind(
        target_session_key=req.target_session_key,
        target_kind=req.target_kind,
        conversation=req.conversation,
        metadata=req.metadata,
        ttl_ms=req.ttl_ms,
        max_age_ms=req.max_age_ms,
        placement=req.placement,
        label=req.label,
    )


def bind(call: Call) -> Reply:
    key = call.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return Reply(201, _bind(call))
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise invalid(IDEMPOTENCY_HEADER, f"must be 1 to {MAX_KEY_CHARS} printable characters")
    store = call.ctx.idempotency
    fp = fingerprint(msgspec.json.encode(call.body, order="deterministic"))
    held = store.reserve(key, fp)
    if isinstance(held, Held):
        if held.state == "mismatch":
            raise invalid(IDEMPOTENCY_HEADER, "this key was used for a different request body; use a new key")
        if held.state == "pending":
            raise ApiProblem(409, "in-progress", "a request with this Idempotency-Key is still running; retry",
                             field=IDEMPOTENCY_HEADER, headers={"Retry-After": "1"})
        return Reply(held.status, held.body, {"Idempotent-Replayed": "true"})
    try:
        reply = Reply(201, encode(_bind(call)))
    except BaseException:
        store.release(held)  # nothing was bound: a retry with this key runs again
        raise
    store.store(held, reply.status, reply.body)
    return reply


def list_by_session(call: Call) -> Reply:
    q: SessionQuery = call.query
    return Reply(200, call.ctx.bindings.list_by_session(q.target_session_key))


def resolve(call: Call) -> Reply:
    q: ResolveQuery = call.query
    ref = ConversationRef(channel=q.channel, account_id=q.account_id, conversation_id=q.conversation_id)
    record = call.ctx.bindings.resolve_by_conversation(ref)
    if record is None:
        raise not_found("no active binding for that conversation")
    return Reply(200, record)


def touch(call: Call) -> Reply:
    req: TouchRequest = call.body
    record = call.ctx.bindings.touch(call.path["bindingId"], at=req.at)
    if record is None:
        raise not_found("no active binding with that id (ended, expired or never bound)")
    return Reply(200, record)


def unbind_one(call: Call) -> Reply:
    q: UnbindQuery = call.query
    ended = call.ctx.bindings.unbind(binding_id=call.path["bindingId"], reason=q.reason)
    if not ended:
        raise not_found("no active binding with that id (ended, expired or never bound)")
    return Reply(200, Ended(ended=ended))


def unbind_session(call: Call) -> Reply:
    req: UnbindRequest = call.body
    return Reply(200, Ended(ended=call.ctx.bindings.unbind(target_session_key=req.target_session_key,
                                                             reason=req.reason)))


_BAD = problem_answer(422, "invalid body, parameter or header (the field is named)")
_AUTH = problem_answer(401, "missing or invalid bearer token")
_DOWN = problem_answer(503, "Redis unreachable (or the platform asked to wait): retry after Retry-After")
_GONE = problem_answer(404, "no active binding with that id")

ENDPOINTS = [
    Endpoint(
        "POST", "/v1/bindings", bind, "Bind a session to a conversation", "bindings", body=BindRequest,
        operation_id="bind",
        description="Placement `current` binds `conversation.conversationId`; placement `child` creates a new "
                    "conversation (a thread) under `conversation.parentConversationId` and binds it. With an "
                    "`Idempotency-Key`, a retry returns the first answer (for `api.idempotencyHours`) instead of "
                    "binding again; a retry while the first still runs gets 409 with `Retry-After`.",
        headers={IDEMPOTENCY_HEADER: "makes the bind idempotent: retries with the same key get the first answer"},
        answers={201: Answer("bound: the new record", SessionBindingRecord, ("Idempotent-Replayed",)),
                 401: _AUTH, 409: problem_answer(409, "a request with this Idempotency-Key is still running"),
                 413: problem_answer(413, "body over api.maxRequestBytes"), 422: _BAD,
                 502: problem_answer(502, "the platform could not create the child conversation"), 503: _DOWN},
    ),
    Endpoint(
        "GET", "/v1/bindings", list_by_session, "Active bindings of a session", "bindings", query=SessionQuery,
        operation_id="listBindings",
        answers={200: Answer("the session's active bindings, oldest first", list[SessionBindingRecord]),
                 401: _AUTH, 422: _BAD, 503: _DOWN},
    ),
    Endpoint(
        "GET", "/v1/bindings/resolve", resolve, "The active binding of a conversation", "bindings",
        query=ResolveQuery, operation_id="resolveBinding",
        answers={200: Answer("the conversation's active binding", SessionBindingRecord), 401: _AUTH,
                 404: problem_answer(404, "the conversation is not bound"), 422: _BAD, 503: _DOWN},
    ),
    Endpoint(
        "POST", "/v1/bindings/{bindingId}/touch", touch, "Record activity (extends the idle deadline)", "bindings",
        body=TouchRequest, body_required=False, operation_id="touchBinding",
        answers={200: Answer("the binding with its new deadline", SessionBindingRecord), 401: _AUTH,
                 404: _GONE, 413: problem_answer(413, "body over api.maxRequestBytes"), 422: _BAD, 503: _DOWN},
    ),
    Endpoint(
        "DELETE", "/v1/bindings/{bindingId}", unbind_one, "End a binding", "bindings", query=UnbindQuery,
        operation_id="unbind",
        answers={200: Answer("the ended record", Ended), 401: _AUTH, 404: _GONE, 422: _BAD, 503: _DOWN},
    ),
    Endpoint(
        "POST", "/v1/bindings/unbind", unbind_session, "End every binding of a session", "bindings",
        body=UnbindRequest, operation_id="unbindSession",
        answers={200: Answer("the ended records (empty when none was active)", Ended), 401: _AUTH,
                 413: problem_answer(413, "body over api.maxRequestBytes"), 422: _BAD, 503: _DOWN},
    ),
]
