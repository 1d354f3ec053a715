"""`/v1/dead-letters`: list (filters as `tether dlq list`), show one, replay."""

from __future__ import annotations

from adapters.delivery.deadletter import DeadLetter
from workers.api.endpoint import Answer, Call, Endpoint, Reply, problem_answer
from workers.api.errors import invalid, not_found
from workers.api.wire import LettersQuery, ReplayRequest
from workers.queries.dead_letters import LetterDetail, ReplayReport, letter_detail, list_letters, replay_letters


def list_(call: Call) -> Reply:
    q: LettersQuery = call.query
    return Reply(200, list_letters(call.ctx.client, reason=q.reason, source=q.source, channel=q.channel,
                                   limit=q.limit))


def show(call: Call) -> Reply:
    detail = letter_detail(call.ctx.client, call.path["letterId"])
    if detail is None:
        raise not_found("no such dead letter")
    return Reply(200, detail)


def replay(call: Call) -> Reply:
    req: ReplayRequest = call.body
    if req.all == (req.ids is not None):
        raise invalid("ids", "give exactly one of `ids` and `all: true`")
    report = replay_letters(call.ctx.client, req.ids or [], all_=req.all, reroute=req.reroute,
                            config=call.ctx.config)
    return Reply(200, report)


_AUTH = problem_answer(401, "missing or invalid bearer token")
_BAD = problem_answer(422, "invalid body or parameter (the field is named)")
_DOWN = problem_answer(503, "Redis unreachable: retry after Retry-After")

ENDPOINTS = [
    Endpoint(
        "GET", "/v1/dead-letters", list_, "Dead letters, oldest first", "dead-letters", query=LettersQuery,
        operation_id="listDeadLetters",
        answers={200: Answer("the dead letters (as `tether dlq list --json`)", list[DeadLetter]), 401: _AUTH,
                 422: _BAD, 503: _DOWN},
    ),
    Endpoint(
        "GET", "/v1/dead-letters/{letterId}", show, "One dead letter with its delivery's ledger record",
        "dead-letters", operation_id="showDeadLetter", path_converters={"letterId": "path"},
        answers={200: Answer("the letter and its ledger record (as `tether dlq show --json`)", LetterDetail),
                 401: _AUTH, 404: problem_answer(404, "no such dead letter"), 503: _DOWN},
    ),
    Endpoint(
        "POST", "/v1/dead-letters/replay", replay, "Replay dead letters (idempotent)", "dead-letters",
        body=ReplayRequest, operation_id="replayDeadLetters",
        description="A delivered message is never sent again. Named ids that do not exist are reported with "
                    "outcome `missing`.",
        answers={200: Answer("what became of each (as `tether dlq replay --json`)", ReplayReport), 401: _AUTH,
                 413: problem_answer(413, "body over api.maxRequestBytes"), 422: _BAD, 503: _DOWN},
    ),
]
