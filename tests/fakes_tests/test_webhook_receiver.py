"""The local Standard Webhooks receiver: verifies with `standardwebhooks`, dedupes, and misbehaves on request."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from tests.fakes.webhook_receiver import Fault, WebhookReceiver
from tests.fakes.webhook_remote import ReceiverProcess

SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


def message(text: str = "hello", conversation: str = "c1") -> dict[str, object]:
    return {"type": "tether.message", "timestamp": "2026-01-01T00:00:00.000Z",
            "data": {"deliveryId": "d-1", "eventId": "e-1", "chunk": 0, "chunks": 1, "text": text,
                     "conversation": {"channel": "webhook", "accountId": "default", "conversationId": conversation,
                                      "parentConversationId": None},
                     "identity": {"username": "agent", "avatarUrl": None}, "mode": "bound", "reason": "r",
                     "metadata": {}}}


def signed(msg_id: str, body: bytes, secret: str = SECRET, at: dt.datetime | None = None) -> dict[str, str]:
    """Headers as any Standard Webhooks sender makes them, signed by the reference library."""
    at = at or dt.datetime.now(dt.UTC)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(secret).sign(msg_id, at, body.decode()), "content-type": "application/json"}


def post(http: httpx.Client, url: str, msg_id: str, payload: dict[str, object]) -> httpx.Response:
    body = json.dumps(payload).encode()
    return http.post(url, content=body, headers=signed(msg_id, body))


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET, provisioning=True) as r:
        yield r


def test_a_signed_message_is_acted_on_and_answered_with_its_message_id(receiver: WebhookReceiver,
                                                                       http: httpx.Client) -> None:
    answer = post(http, receiver.url, "msg_1", message("hi"))
    assert answer.status_code == 200
    [m] = receiver.messages()
    assert answer.json() == {"messageId": m.message_id}
    assert (m.webhook_id, m.text, m.conversation_id, m.username) == ("msg_1", "hi", "c1", "agent")


def test_an_altered_body_is_rejected_and_not_acted_on(receiver: WebhookReceiver, http: httpx.Client) -> None:
    body = json.dumps(message("pay 10")).encode()
    headers = signed("msg_1", body)
    answer = http.post(receiver.url, content=body.replace(b"pay 10", b"pay 99"), headers=headers)
    assert answer.status_code == 401
    assert receiver.messages() == [] and [r.webhook_id for r in receiver.rejected()] == ["msg_1"]


def test_an_altered_timestamp_is_rejected(receiver: WebhookReceiver, http: httpx.Client) -> None:
    body = json.dumps(message()).encode()
    headers = signed("msg_1", body)
    headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) + 1)
    assert http.post(receiver.url, content=body, headers=headers).status_code == 401
    assert receiver.messages() == []


def test_a_stale_timestamp_is_rejected_even_when_signed(receiver: WebhookReceiver, http: httpx.Client) -> None:
    body = json.dumps(message()).encode()
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    assert http.post(receiver.url, content=body, headers=signed("msg_1", body, at=old)).status_code == 401


def test_a_request_signed_with_another_secret_is_rejected(receiver: WebhookReceiver, http: httpx.Client) -> None:
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    body = json.dumps(message()).encode()
    assert http.post(receiver.url, content=body, headers=signed("msg_1", body, other)).status_code == 401


def test_a_deduping_receiver_acts_once_per_webhook_id_and_answers_repeats_alike(receiver: WebhookReceiver,
                                                                                http: httpx.Client) -> None:
    first = post(http, receiver.url, "msg_1", message())
    again = post(http, receiver.url, "msg_1", message())
    assert len(receiver.messages()) == 1 and first.json() == again.json()
    assert [r.duplicate for r in receiver.requests()] == [False, True]


def test_a_receiver_that_does_not_dedupe_acts_on_every_repeat(http: httpx.Client) -> None:
    with WebhookReceiver(SECRET, dedupe=False) as r:
        post(http, r.url, "msg_1", message())
        post(http, r.url, "msg_1", message())
        assert [m.webhook_id for m in r.messages()] == ["msg_1", "msg_1"]


def test_a_status_fault_answers_without_acting(receiver: WebhookReceiver, http: httpx.Client) -> None:
    receiver.fault(Fault(kind="status", status=429, retry_after="3", count=1))
    limited = post(http, receiver.url, "msg_1", message())
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    assert receiver.messages() == []
    assert post(http, receiver.url, "msg_1", message()).status_code == 200


def test_a_dropped_answer_acts_then_closes_the_connection(receiver: WebhookReceiver, http: httpx.Client) -> None:
    receiver.fault(Fault(kind="drop"))
    with pytest.raises(httpx.RemoteProtocolError):
        post(http, receiver.url, "msg_1", message())
    assert [m.webhook_id for m in receiver.messages()] == ["msg_1"]


def test_a_delayed_answer_times_the_sender_out_after_acting(receiver: WebhookReceiver) -> None:
    receiver.fault(Fault(kind="delay", delay_s=1.0))
    with httpx.Client(timeout=0.2) as impatient, pytest.raises(httpx.ReadTimeout):
        post(impatient, receiver.url, "msg_1", message())
    assert len(receiver.messages()) == 1


def test_a_gone_conversation_answers_410(receiver: WebhookReceiver, http: httpx.Client) -> None:
    receiver.set_gone("c1")
    assert post(http, receiver.url, "msg_1", message(conversation="c1")).status_code == 410
    assert receiver.messages() == []


def test_provisioning_creates_a_conversation_once_per_webhook_id(receiver: WebhookReceiver,
                                                                 http: httpx.Client) -> None:
    create = {"type": "tether.conversation.create", "timestamp": "t",
              "data": {"conversation": {"parentConversationId": "room"}, "label": "x", "targetSessionKey": "s"}}
    first = post(http, receiver.url, "conv_1", create)
    assert first.status_code == 201
    assert post(http, receiver.url, "conv_1", create).json() == first.json()
    assert post(http, receiver.url, "conv_2", create).json() != first.json()


def test_without_provisioning_a_create_call_is_404(http: httpx.Client) -> None:
    with WebhookReceiver(SECRET) as r:
        create = {"type": "tether.conversation.create", "timestamp": "t", "data": {}}
        assert post(http, r.url, "conv_1", create).status_code == 404


def test_the_receiver_runs_as_its_own_process(tmp_path: Path, http: httpx.Client) -> None:
    with ReceiverProcess(tmp_path / "receiver", SECRET) as proc:
        proc.control.fault(Fault(kind="status", status=503))
        assert post(http, proc.url, "msg_1", message()).status_code == 503
        assert post(http, proc.url, "msg_1", message("x")).status_code == 200
        assert [m.text for m in proc.control.messages()] == ["x"]
        assert [r.answered for r in proc.control.requests()] == [503, 200]
        assert json.loads(proc.log_path.read_text().splitlines()[0])["text"] == "x"


def test_a_fault_can_hit_every_nth_request(receiver: WebhookReceiver, http: httpx.Client) -> None:
    receiver.fault(Fault(kind="status", status=503, every=3, count=-1))
    statuses = [post(http, receiver.url, f"msg_{i}", message()).status_code for i in range(6)]
    assert statuses == [200, 200, 503, 200, 200, 503]


def test_a_request_cut_off_mid_body_is_neither_verified_nor_acted_on(receiver: WebhookReceiver) -> None:
    import socket
    from urllib.parse import urlsplit

    url = urlsplit(receiver.url)
    body = json.dumps(message()).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in signed("msg_1", body).items())
    with socket.create_connection((url.hostname, url.port)) as sock:  # a sender killed halfway through its body
        sock.sendall(f"POST {url.path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode()
                     + body[: len(body) // 2])
    from tests.support.waiting import wait_for

    wait_for(lambda: receiver.incomplete() == 1, timeout_s=5, what="the cut-off request")
    assert receiver.rejected() == [] and receiver.messages() == []
