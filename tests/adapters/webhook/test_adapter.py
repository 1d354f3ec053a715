"""The webhook adapter against a real local receiver that verifies every request with `standardwebhooks`."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from adapters.protocol import DestinationGone, PermanentError, RetryableError
from adapters.ratelimit import RateLimited
from adapters.secrets import SecretUnavailable
from adapters.webhook import keys
from adapters.webhook.endpoints import SecretInvalid, UnknownEndpoint
from bindings.model import ConversationRef
from tests.adapters.webhook.conftest import WebhookWorld, chunk_of, delivery, new_secret
from tests.fakes.webhook_receiver import Fault, WebhookReceiver


def test_a_chunk_is_one_verified_post_carrying_the_message(world: WebhookWorld) -> None:
    adapter = world.adapter()
    message_id = adapter.send(chunk_of(delivery("hello there")))
    [m] = world.receiver.messages()
    assert message_id == m.message_id
    assert (m.text, m.conversation_id, m.parent_conversation_id, m.username) == ("hello there", "room-1", "lobby",
                                                                                "research-agent")
    [r] = world.receiver.requests()
    assert r.type == "tether.message"
    assert r.data["deliveryId"] == "d-1" and r.data["eventId"] == "e-d-1"
    assert (r.data["chunk"], r.data["chunks"], r.data["mode"], r.data["reason"]) == (0, 1, "bound", "requester-match")
    assert r.data["metadata"] == {"targetSessionKey": "agent:main:subagent:abc"}
    assert world.receiver.rejected() == []


def test_the_webhook_id_is_derived_from_the_chunks_idempotency_key_and_the_same_on_a_resend(
        world: WebhookWorld) -> None:
    adapter = world.adapter()
    chunk = chunk_of(delivery())
    first = adapter.send(chunk)
    again = world.adapter().send(chunk)  # another process, say
    ids = [r.webhook_id for r in world.receiver.requests()]
    assert ids == [f"msg_{chunk.idempotency_key}"] * 2
    assert first == again and len(world.receiver.messages()) == 1  # the receiver deduped the resend
    other = chunk_of(delivery(), index=1, count=2)
    adapter.send(other)
    assert world.receiver.requests()[-1].webhook_id == f"msg_{other.idempotency_key}" != ids[0]


def test_without_a_message_id_in_the_answer_the_webhook_id_is_recorded(world: WebhookWorld) -> None:
    world.receiver.state.message_ids = False
    chunk = chunk_of(delivery())
    assert world.adapter().send(chunk) == f"msg_{chunk.idempotency_key}"


def test_410_is_destination_gone_ending_the_binding_endpoint_gone(world: WebhookWorld) -> None:
    world.receiver.set_gone("room-1")
    with pytest.raises(DestinationGone) as caught:
        world.adapter().send(chunk_of(delivery()))
    assert caught.value.end_reason == "endpoint-gone"


def test_a_429_is_retried_after_its_retry_after_and_holds_back_every_process(world: WebhookWorld) -> None:
    world.receiver.fault(Fault(kind="status", status=429, retry_after="30"))
    with pytest.raises(RetryableError) as caught:
        world.adapter().send(chunk_of(delivery()))
    assert caught.value.retry_after_s == 30.0 and caught.value.reason == "rate-limited"
    # The block is in Redis: a second adapter (another worker) does not even try, it is told when to come back.
    before = len(world.receiver.requests())
    with pytest.raises(RateLimited) as held:
        world.adapter().send(chunk_of(delivery(delivery_id="d-2")))
    assert held.value.retry_after_s is not None and held.value.retry_after_s > 20
    assert len(world.receiver.requests()) == before
    assert world.redis.exists(keys.rate_limit("default"))


@pytest.mark.parametrize(("status", "kind"), [(503, RetryableError), (500, RetryableError), (400, PermanentError),
                                              (403, PermanentError)])
def test_other_statuses(world: WebhookWorld, status: int, kind: type[Exception]) -> None:
    world.receiver.fault(Fault(kind="status", status=status, body="nope"))
    with pytest.raises(kind, match=f"webhook default: HTTP {status}: nope"):
        world.adapter().send(chunk_of(delivery()))


def test_a_lost_answer_is_retryable_and_the_resend_is_deduped(world: WebhookWorld) -> None:
    world.receiver.fault(Fault(kind="drop"))
    adapter = world.adapter()
    chunk = chunk_of(delivery())
    with pytest.raises(RetryableError, match="RemoteProtocolError"):
        adapter.send(chunk)
    message_id = adapter.send(chunk)
    assert [m.message_id for m in world.receiver.messages()] == [message_id]


def test_a_timeout_is_retryable(world: WebhookWorld) -> None:
    world.receiver.fault(Fault(kind="delay", delay_s=1.0))
    with pytest.raises(RetryableError) as caught:
        world.adapter(timeout_s=0.2).send(chunk_of(delivery()))
    assert caught.value.reason == "timeout"


def test_a_refused_connection_is_retryable(world: WebhookWorld) -> None:
    world.receiver.stop()  # nothing listens on its port any more
    with pytest.raises(RetryableError) as caught:
        world.adapter().send(chunk_of(delivery()))
    assert caught.value.reason == "connection-error"


class _Redirect(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", "http://127.0.0.1:1/elsewhere")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def redirecting() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_redirects_are_not_followed(world: WebhookWorld, redirecting: str) -> None:
    world.point_at(redirecting)
    with pytest.raises(PermanentError) as caught:
        world.adapter().send(chunk_of(delivery()))
    assert caught.value.reason == "http-307"


def test_an_unknown_account_is_permanent(world: WebhookWorld) -> None:
    with pytest.raises(UnknownEndpoint, match=r"accounts\.elsewhere"):
        world.adapter().send(chunk_of(delivery(account="elsewhere")))


def test_the_secret_is_read_at_every_send_and_a_rotation_signs_with_both(world: WebhookWorld) -> None:
    old_path = world.secret_path.with_name("old.secret")
    old_path.write_text(world.secret)
    world.write_config(account=f'previousSecrets = ["file:{old_path}"]\n')
    adapter = world.adapter()
    new = new_secret()
    world.secret_path.write_text(new)  # the operator rotates; the receiver still knows the old secret only
    adapter.send(chunk_of(delivery(delivery_id="d-1")))
    world.receiver.set_secret(new)  # then the receiver moves on
    adapter.send(chunk_of(delivery(delivery_id="d-2")))
    assert len(world.receiver.messages()) == 2 and world.receiver.rejected() == []
    old_path.unlink()  # the retired secret is removed: the current one alone signs
    adapter.send(chunk_of(delivery(delivery_id="d-3")))
    assert len(world.receiver.messages()) == 3


def test_an_unreadable_or_invalid_secret_fails_without_showing_it(world: WebhookWorld) -> None:
    adapter = world.adapter()
    world.secret_path.unlink()
    with pytest.raises(SecretUnavailable):
        adapter.send(chunk_of(delivery()))
    world.secret_path.write_text("whsec_***")
    with pytest.raises(SecretInvalid, match=r"accounts\.default\.secret") as caught:
        adapter.send(chunk_of(delivery()))
    assert "***" not in str(caught.value)
    assert world.receiver.requests() == []


def test_configured_headers_are_sent_and_may_come_from_the_environment(world: WebhookWorld,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_TEST_BRIDGE_TOKEN", "Bearer t0ken")
    world.write_config(account='headers = { X-Team = "ops", Authorization = "env:TETHER_TEST_BRIDGE_TOKEN" }\n')
    seen: list[dict[str, str]] = []
    original = world.receiver.state.handle

    def spy(body: bytes, headers: dict[str, str]):  # type: ignore[no-untyped-def]
        seen.append(headers)
        return original(body, headers)

    world.receiver.state.handle = spy  # type: ignore[method-assign]
    world.adapter().send(chunk_of(delivery()))
    assert seen[0]["x-team"] == "ops" and seen[0]["authorization"] == "Bearer t0ken"


def test_chunks_are_split_at_max_chunk_chars_and_zero_never_splits(world: WebhookWorld) -> None:
    text = "word " * 2000  # 10,000 characters
    assert [len(c) <= 4000 for c in world.adapter().split(text)] == [True, True, True]
    world.write_config(extra="maxChunkChars = 0\n")
    assert world.adapter().split(text) == [text]
    world.write_config(extra="maxChunkChars = 100\n")
    assert all(len(c) <= 100 for c in world.adapter().split(text))


def test_a_successful_send_touches_the_binding(world: WebhookWorld) -> None:
    from bindings.service import SessionBindingService

    svc = SessionBindingService(world.redis, world.config)
    record = svc.bind(target_session_key="agent:main:subagent:abc", target_kind="subagent",
                      conversation=ConversationRef(channel="webhook", conversation_id="room-1"))
    world.adapter().send(chunk_of(delivery(binding_id=record.binding_id)))
    touched = svc.get(record.binding_id)
    assert touched is not None and touched.last_activity_at is not None
    assert world.redis.zscore(keys.activity("default"), "room-1") is not None


def test_global_per_second_paces_sends_across_adapters(world: WebhookWorld) -> None:
    world.write_config(extra="[channels.webhook.rateLimit]\nglobalPerSecond = 1\nmaxWaitSeconds = 0\n")
    world.adapter().send(chunk_of(delivery(delivery_id="d-1")))
    with pytest.raises(RateLimited):
        world.adapter().send(chunk_of(delivery(delivery_id="d-2")))


def test_a_second_receiver_is_picked_by_the_accounts_name(world: WebhookWorld) -> None:
    with WebhookReceiver(world.secret) as other:
        world.config_path.write_text(world.config_path.read_text() + (
            f'[channels.webhook.accounts.ops]\nurl = "{other.url}"\nsecret = "file:{world.secret_path}"\n'))
        from bindings.config import load_config

        world.config = load_config(world.config_path)
        world.adapter().send(chunk_of(delivery(account="ops")))
        assert len(other.messages()) == 1 and world.receiver.messages() == []


def test_a_huge_answer_is_read_only_in_part_and_kept_only_as_a_short_excerpt(world: WebhookWorld) -> None:
    from adapters.webhook.sender import MAX_ANSWER_BYTES

    world.receiver.fault(Fault(kind="status", status=422, body="e" * (4 * 1024 * 1024)))
    with pytest.raises(PermanentError) as caught:
        world.adapter().send(chunk_of(delivery()))
    assert caught.value.reason == "http-422" and len(str(caught.value)) < 200
    world.receiver.fault(Fault(kind="status", status=200, body="{" + " " * (2 * MAX_ANSWER_BYTES)))
    chunk = chunk_of(delivery(delivery_id="d-2"))
    assert world.adapter().send(chunk) == f"msg_{chunk.idempotency_key}"  # no id to be read: the webhook-id
