"""The local Telegram Bot API answers as the Bot API does where tether depends on it: over real HTTP, with httpx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bindings.clock import ManualClock
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_model import Limits
from tests.fakes.telegram_remote import FakeTelegramProcess


def call(fake: FakeTelegram, method: str, token: str | None = None, **params: Any) -> httpx.Response:
    return httpx.post(f"{fake.base_url}/bot{token or fake.tokens[0]}/{method}", json=params, timeout=5.0)


@pytest.fixture
def frozen() -> Iterator[tuple[FakeTelegram, ManualClock]]:
    clock = ManualClock()
    with FakeTelegram(clock=clock) as fake:
        yield fake, clock


def test_send_message_to_a_topic_lands_in_the_topic_and_answers_the_message(fake_telegram: FakeTelegram) -> None:
    forum = fake_telegram.add_chat("supergroup", is_forum=True)
    topic = fake_telegram.add_topic(forum.id, "research")
    r = call(fake_telegram, "sendMessage", chat_id=forum.id, message_thread_id=topic.id, text="done",
             link_preview_options={"is_disabled": True})
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True
    assert body["result"]["message_thread_id"] == topic.id and body["result"]["text"] == "done"
    [m] = fake_telegram.messages(forum.id, topic.id)
    assert (m.message_id, m.link_preview_disabled, m.parse_mode) == (body["result"]["message_id"], True, None)
    assert fake_telegram.messages(forum.id, general=True) == []


def test_without_thread_id_a_forum_message_lands_in_general(fake_telegram: FakeTelegram) -> None:
    forum = fake_telegram.add_chat("supergroup", is_forum=True)
    fake_telegram.add_topic(forum.id)
    assert call(fake_telegram, "sendMessage", chat_id=forum.id, text="hi").status_code == 200
    assert [m.text for m in fake_telegram.messages(forum.id, general=True)] == ["hi"]


def test_form_and_query_parameters_are_accepted(fake_telegram: FakeTelegram) -> None:
    chat = fake_telegram.add_chat("private")
    url = f"{fake_telegram.base_url}/bot{fake_telegram.tokens[0]}/sendMessage"
    assert httpx.post(url, data={"chat_id": str(chat.id), "text": "form"}).status_code == 200
    assert httpx.get(url, params={"chat_id": str(chat.id), "text": "query"}).status_code == 200
    assert [m.text for m in fake_telegram.messages(chat.id)] == ["form", "query"]


@pytest.mark.parametrize(("setup", "code", "description"), [
    ("unknown-topic", 400, "Bad Request: message thread not found"),
    ("general-id", 400, "Bad Request: message thread not found"),
    ("deleted", 400, "Bad Request: TOPIC_DELETED"),
    ("closed", 400, "Bad Request: TOPIC_CLOSED"),
    ("unknown-chat", 400, "Bad Request: chat not found"),
    ("kicked", 403, "Forbidden: bot was kicked from the supergroup chat"),
    ("left", 403, "Forbidden: bot is not a member of the supergroup chat"),
])
def test_send_errors_are_telegrams(fake_telegram: FakeTelegram, setup: str, code: int, description: str) -> None:
    forum = fake_telegram.add_chat("supergroup", is_forum=True)
    topic = fake_telegram.add_topic(forum.id)
    chat_id, thread_id = forum.id, topic.id
    if setup == "unknown-topic":
        thread_id = 999
    elif setup == "general-id":
        thread_id = 1
    elif setup == "deleted":
        fake_telegram.set_topic(forum.id, topic.id, "deleted")
    elif setup == "closed":
        fake_telegram.set_topic(forum.id, topic.id, "closed")
    elif setup == "unknown-chat":
        chat_id = -100999
    else:
        fake_telegram.set_chat(forum.id, bot_status=setup)
    r = call(fake_telegram, "sendMessage", chat_id=chat_id, message_thread_id=thread_id, text="x")
    assert r.status_code == code
    assert r.json() == {"ok": False, "error_code": code, "description": description}
    assert fake_telegram.messages() == []


def test_blocked_private_chat_and_kicked_group(fake_telegram: FakeTelegram) -> None:
    private = fake_telegram.add_chat("private")
    fake_telegram.set_chat(private.id, blocked=True)
    group = fake_telegram.add_chat("group", bot_status="kicked")
    assert call(fake_telegram, "sendMessage", chat_id=private.id, text="x").json()["description"] == (
        "Forbidden: bot was blocked by the user")
    assert call(fake_telegram, "sendMessage", chat_id=group.id, text="x").json()["description"] == (
        "Forbidden: bot was kicked from the group chat")


def test_a_migrated_group_answers_with_the_new_chat_id(fake_telegram: FakeTelegram) -> None:
    group = fake_telegram.add_chat("group")
    new = fake_telegram.migrate(group.id)
    r = call(fake_telegram, "sendMessage", chat_id=group.id, text="x")
    assert r.status_code == 400
    assert r.json() == {"ok": False, "error_code": 400,
                        "description": "Bad Request: group chat was upgraded to a supergroup chat",
                        "parameters": {"migrate_to_chat_id": new.id}}
    assert str(new.id).startswith("-100")
    assert call(fake_telegram, "sendMessage", chat_id=new.id, text="y").status_code == 200


def test_message_length_is_counted_in_utf16_units(fake_telegram: FakeTelegram) -> None:
    chat = fake_telegram.add_chat("private")
    assert call(fake_telegram, "sendMessage", chat_id=chat.id, text="😀" * 2048).status_code == 200
    r = call(fake_telegram, "sendMessage", chat_id=chat.id, text="😀" * 2048 + "a")
    assert (r.status_code, r.json()["description"]) == (400, "Bad Request: message is too long")


def test_wrong_token_is_401_and_unknown_method_404(fake_telegram: FakeTelegram) -> None:
    chat = fake_telegram.add_chat("private")
    assert call(fake_telegram, "sendMessage", token="1:wrong", chat_id=chat.id, text="x").json() == {
        "ok": False, "error_code": 401, "description": "Unauthorized"}
    assert call(fake_telegram, "sendSticker", chat_id=chat.id).status_code == 404
    fake_telegram.set_token("1:rotated")
    assert call(fake_telegram, "getMe", token="1:rotated").json()["result"]["username"] == "tether_bot"


def test_create_forum_topic_needs_a_forum_and_the_right(fake_telegram: FakeTelegram) -> None:
    plain = fake_telegram.add_chat("supergroup")
    forum = fake_telegram.add_chat("supergroup", is_forum=True)
    weak = fake_telegram.add_chat("supergroup", is_forum=True, can_manage_topics=False)
    made = call(fake_telegram, "createForumTopic", chat_id=forum.id, name="🤖 research").json()["result"]
    assert made["name"] == "🤖 research" and made["message_thread_id"] > 1
    assert fake_telegram.chat(forum.id).topics[made["message_thread_id"]].state == "open"
    assert call(fake_telegram, "createForumTopic", chat_id=plain.id, name="x").json()["description"] == (
        "Bad Request: the chat is not a forum")
    assert call(fake_telegram, "createForumTopic", chat_id=weak.id, name="x").json()["description"] == (
        "Bad Request: not enough rights to create a topic")
    assert call(fake_telegram, "createForumTopic", chat_id=forum.id, name="x" * 129).status_code == 400


def test_close_and_delete_forum_topic(fake_telegram: FakeTelegram) -> None:
    forum = fake_telegram.add_chat("supergroup", is_forum=True)
    a, b = fake_telegram.add_topic(forum.id, "a"), fake_telegram.add_topic(forum.id, "b")
    assert call(fake_telegram, "closeForumTopic", chat_id=forum.id, message_thread_id=a.id).json()["result"] is True
    assert call(fake_telegram, "deleteForumTopic", chat_id=forum.id, message_thread_id=b.id).json()["ok"] is True
    topics = fake_telegram.chat(forum.id).topics
    assert (topics[a.id].state, topics[b.id].state) == ("closed", "deleted")


def test_get_chat_and_get_me(fake_telegram: FakeTelegram) -> None:
    forum = fake_telegram.add_chat("supergroup", title="agents", is_forum=True)
    assert call(fake_telegram, "getChat", chat_id=forum.id).json()["result"] == {
        "id": forum.id, "type": "supergroup", "title": "agents", "is_forum": True}
    assert call(fake_telegram, "getMe").json()["result"]["is_bot"] is True


def test_per_chat_limit_allows_a_burst_then_one_per_second(frozen: tuple[FakeTelegram, ManualClock]) -> None:
    fake, clock = frozen
    chat = fake.add_chat("private")
    codes = [call(fake, "sendMessage", chat_id=chat.id, text=str(i)).status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    r = call(fake, "sendMessage", chat_id=chat.id, text="x")
    assert r.json()["parameters"] == {"retry_after": 1}
    assert r.json()["description"] == "Too Many Requests: retry after 1"
    clock.advance(1000)
    assert call(fake, "sendMessage", chat_id=chat.id, text="later").status_code == 200
    assert [r.limited_by for r in fake.requests("sendMessage") if r.status == 429] == ["chat", "chat"]


def test_group_limit_is_twenty_a_minute(frozen: tuple[FakeTelegram, ManualClock]) -> None:
    fake, clock = frozen
    group = fake.add_chat("supergroup")
    for _ in range(20):
        assert call(fake, "sendMessage", chat_id=group.id, text="x").status_code == 200
        clock.advance(1000)
    r = call(fake, "sendMessage", chat_id=group.id, text="x")
    assert r.status_code == 429 and r.json()["parameters"]["retry_after"] == 40
    clock.advance(40_000)
    assert call(fake, "sendMessage", chat_id=group.id, text="x").status_code == 200


def test_global_limit_is_thirty_a_second(frozen: tuple[FakeTelegram, ManualClock]) -> None:
    fake, _ = frozen
    chats = [fake.add_chat("private") for _ in range(31)]
    codes = [call(fake, "sendMessage", chat_id=c.id, text="x").status_code for c in chats]
    assert codes == [200] * 30 + [429]
    assert fake.requests()[-1].limited_by == "global"


def test_faults_lost_answer_stores_the_message_and_drops_the_connection(fake_telegram: FakeTelegram) -> None:
    chat = fake_telegram.add_chat("private")
    fake_telegram.inject("response_lost", route="sendMessage")
    with pytest.raises(httpx.RemoteProtocolError):
        call(fake_telegram, "sendMessage", chat_id=chat.id, text="lost")
    assert [m.text for m in fake_telegram.messages(chat.id)] == ["lost"]
    [record] = fake_telegram.requests("sendMessage")
    assert (record.status, record.injected, record.message_id) == (0, "response_lost", 2)


def test_faults_5xx_before_stores_nothing_and_injected_429_has_retry_after(fake_telegram: FakeTelegram) -> None:
    chat = fake_telegram.add_chat("private")
    fake_telegram.inject("status", route="sendMessage", status=502)
    fake_telegram.inject("rate_limit", route="sendMessage", retry_after_s=3)
    assert call(fake_telegram, "sendMessage", chat_id=chat.id, text="a").status_code == 502
    r = call(fake_telegram, "sendMessage", chat_id=chat.id, text="b")
    assert r.status_code == 429 and r.json()["parameters"] == {"retry_after": 3}
    assert fake_telegram.messages() == []


def test_latency_fault_makes_a_timeout(fake_telegram: FakeTelegram) -> None:
    chat = fake_telegram.add_chat("private")
    fake_telegram.inject("latency", route="sendMessage", delay_s=0.5)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fake_telegram.base_url}/bot{fake_telegram.tokens[0]}/sendMessage",
                   json={"chat_id": chat.id, "text": "slow"}, timeout=0.1)


def test_runs_as_its_own_process_controlled_over_http(tmp_path: Path) -> None:
    with FakeTelegramProcess(tmp_path / "tg", args=["--per-group", "5"]) as proc:
        control = proc.control
        forum = control.add_chat("supergroup", is_forum=True)
        topic = control.add_topic(forum.id, "t")
        r = httpx.post(f"{proc.base_url}/bot123456:test-bot-token/sendMessage",
                       json={"chat_id": forum.id, "message_thread_id": topic.id, "text": "remote"})
        assert r.status_code == 200
        assert [m.text for m in control.messages(forum.id, topic.id)] == ["remote"]
        assert control.snapshot().limits == Limits(per_group=5)
    assert [m.text for m in proc.final_state().messages if not m.service] == ["remote"]
