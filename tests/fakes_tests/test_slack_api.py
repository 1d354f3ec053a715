"""The local Slack Web API answers as Slack does: HTTP 200 + ok:false errors, 429 + Retry-After, metadata only on
request, threads vs channel root, and the faults tests inject."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_remote import FakeSlackProcess


def call(fake: FakeSlack, method: str, *, token: str | None = None, form: bool = False, timeout_s: float = 5.0,
         **args: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or fake.token}"}
    with httpx.Client(base_url=fake.base_url, headers=headers, timeout=timeout_s) as http:
        if form:
            return http.post(method, data={k: str(v) for k, v in args.items()})
        return http.post(method, json=args)


def body(response: httpx.Response) -> dict[str, Any]:
    data: dict[str, Any] = response.json()
    return data


def test_auth_test_checks_the_bearer_token(fake_slack: FakeSlack) -> None:
    assert body(call(fake_slack, "auth.test"))["ok"] is True
    wrong = call(fake_slack, "auth.test", token="xoxb-wrong")
    assert wrong.status_code == 200 and body(wrong) == {"ok": False, "error": "invalid_auth"}
    with httpx.Client(base_url=fake_slack.base_url) as http:
        assert http.post("auth.test").json() == {"ok": False, "error": "not_authed"}
    fake_slack.revoke_token(fake_slack.token)
    assert body(call(fake_slack, "auth.test"))["error"] == "token_revoked"


def test_a_reply_lands_in_its_thread_and_not_in_the_channel_root(fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("general")
    root = fake_slack.post(channel.id, "bind me")
    answer = body(call(fake_slack, "chat.postMessage", channel=channel.id, thread_ts=root.ts, text="done"))
    assert answer["ok"] is True and answer["channel"] == channel.id
    assert [m.text for m in fake_slack.messages(channel.id, thread_ts=root.ts)] == ["done"]
    assert [m.text for m in fake_slack.root_messages(channel.id)] == ["bind me"]
    broadcast = call(fake_slack, "chat.postMessage", channel=channel.id, thread_ts=root.ts, text="x",
                     reply_broadcast=True)
    assert body(broadcast)["ok"] is True
    assert [m.text for m in fake_slack.root_messages(channel.id)] == ["bind me", "x"]


def test_metadata_is_returned_only_with_include_all_metadata(fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("general")
    root = fake_slack.post(channel.id, "root")
    metadata = {"event_type": "tether_delivery", "event_payload": {"deliveryId": "d-1", "chunk": 0}}
    call(fake_slack, "chat.postMessage", channel=channel.id, thread_ts=root.ts, text="hi", metadata=metadata)
    plain = body(call(fake_slack, "conversations.replies", form=True, channel=channel.id, ts=root.ts))
    assert [m["text"] for m in plain["messages"]] == ["root", "hi"]
    assert all("metadata" not in m for m in plain["messages"])
    full = body(call(fake_slack, "conversations.replies", form=True, channel=channel.id, ts=root.ts,
                     include_all_metadata="true"))
    assert full["messages"][1]["metadata"] == metadata
    history = body(call(fake_slack, "conversations.history", form=True, channel=channel.id,
                        include_all_metadata="1"))
    assert [m["text"] for m in history["messages"]] == ["root"]  # replies stay in their thread
    assert history["messages"][0]["reply_count"] == 1


def test_metadata_given_as_a_form_field_is_json(fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("general")
    meta = json.dumps({"event_type": "tether_delivery", "event_payload": {"chunk": 1}})
    assert body(call(fake_slack, "chat.postMessage", form=True, channel=channel.id, text="t", metadata=meta))["ok"]
    bad = call(fake_slack, "chat.postMessage", channel=channel.id, text="t", metadata={"event_type": "x"})
    assert body(bad)["error"] == "invalid_metadata_format"


@pytest.mark.parametrize(("setup", "error"), [
    ("missing-channel", "channel_not_found"),
    ("deleted-channel", "channel_not_found"),
    ("archived", "is_archived"),
    ("not-member", "not_in_channel"),
    ("deleted-root", "thread_not_found"),
    ("unknown-root", "thread_not_found"),
])
def test_post_errors_are_http_200_with_ok_false(fake_slack: FakeSlack, setup: str, error: str) -> None:
    channel = fake_slack.add_channel("general")
    root = fake_slack.post(channel.id, "root")
    target, thread_ts = channel.id, root.ts
    if setup == "missing-channel":
        target = "C0NOPE"
    elif setup == "deleted-channel":
        fake_slack.set_channel(channel.id, deleted=True)
    elif setup == "archived":
        fake_slack.set_channel(channel.id, is_archived=True)
    elif setup == "not-member":
        fake_slack.set_channel(channel.id, is_member=False)
    elif setup == "deleted-root":
        fake_slack.delete_message(channel.id, root.ts)
    else:
        thread_ts = "1.000001"
    response = call(fake_slack, "chat.postMessage", channel=target, thread_ts=thread_ts, text="x")
    assert response.status_code == 200 and body(response) == {"ok": False, "error": error}
    assert fake_slack.bot_messages() == []


def test_customized_identity_needs_the_customize_scope(fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("general")
    fake_slack.set_token(fake_slack.token, ["chat:write", "channels:history"])
    refused = body(call(fake_slack, "chat.postMessage", channel=channel.id, text="x", username="agent"))
    assert refused["error"] == "missing_scope" and refused["needed"] == "chat:write.customize"
    assert body(call(fake_slack, "chat.postMessage", channel=channel.id, text="x"))["ok"] is True


def test_posting_faster_than_a_channel_allows_answers_429_with_retry_after(fake_slack: FakeSlack) -> None:
    fake_slack.configure(post_per_channel=(1.0, 2))
    a, b = fake_slack.add_channel("a"), fake_slack.add_channel("b")
    answers = [call(fake_slack, "chat.postMessage", channel=a.id, text=str(i)) for i in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 429]
    assert body(answers[2]) == {"ok": False, "error": "ratelimited"}
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert call(fake_slack, "chat.postMessage", channel=b.id, text="other channel").status_code == 200
    assert len(fake_slack.bot_messages(a.id)) == 2


def test_other_methods_are_limited_by_tier(fake_slack: FakeSlack) -> None:
    fake_slack.configure(method_limits={"conversations.info": (0.5, 1)}, fractional_retry_after=True)
    channel = fake_slack.add_channel("a")
    first = call(fake_slack, "conversations.info", form=True, channel=channel.id)
    second = call(fake_slack, "conversations.info", form=True, channel=channel.id)
    assert body(first)["channel"]["is_archived"] is False
    assert second.status_code == 429 and 0 < float(second.headers["Retry-After"]) <= 2


def test_a_lost_answer_still_stores_the_message(fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("a")
    fake_slack.inject("lose-answer", method="chat.postMessage")
    with pytest.raises(httpx.TransportError):
        call(fake_slack, "chat.postMessage", channel=channel.id, text="landed")
    assert [m.text for m in fake_slack.bot_messages(channel.id)] == ["landed"]


def test_5xx_and_timeouts_store_nothing_unless_told(fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("a")
    fake_slack.inject("5xx", method="chat.postMessage", status=503)
    failed = call(fake_slack, "chat.postMessage", channel=channel.id, text="lost")
    assert failed.status_code == 503 and failed.headers["Content-Type"].startswith("text/html")
    fake_slack.inject("timeout", method="chat.postMessage", delay_s=0.3)
    with pytest.raises(httpx.TransportError):
        call(fake_slack, "chat.postMessage", channel=channel.id, text="slow", timeout_s=0.1)
    fake_slack.inject("5xx", method="chat.postMessage", stored=True)
    assert call(fake_slack, "chat.postMessage", channel=channel.id, text="stored").status_code == 500
    assert [m.text for m in fake_slack.bot_messages(channel.id)] == ["stored"]


def test_replies_page_with_a_cursor(fake_slack: FakeSlack) -> None:
    channel = fake_slack.add_channel("a")
    root = fake_slack.post(channel.id, "root")
    for i in range(5):
        fake_slack.post(channel.id, f"r{i}", thread_ts=root.ts)
    texts: list[str] = []
    cursor = ""
    while True:
        page = body(call(fake_slack, "conversations.replies", form=True, channel=channel.id, ts=root.ts, limit=2,
                         **({"cursor": cursor} if cursor else {})))
        texts += [m["text"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not page["has_more"]:
            break
    assert texts == ["root", "r0", "r1", "r2", "r3", "r4"]


def test_runs_as_its_own_process(tmp_path: Path) -> None:
    with FakeSlackProcess(tmp_path / "s", args=["--channels", "2"]) as proc:
        channel = proc.info["channels"][0]
        with httpx.Client(base_url=proc.base_url, headers={"Authorization": f"Bearer {proc.info['token']}"}) as http:
            answer = http.post("chat.postMessage", json={"channel": channel["id"], "thread_ts": channel["root_ts"],
                                                         "text": "over there"}).json()
        assert answer["ok"] is True
        assert [m.text for m in proc.control.messages(channel["id"], thread_ts=channel["root_ts"])] == ["over there"]
    assert len(proc.final_state().messages) == 3


def test_an_injected_429_holds_for_its_retry_after(fake_slack: FakeSlack) -> None:
    channel, other = fake_slack.add_channel("a"), fake_slack.add_channel("b")
    fake_slack.configure(fractional_retry_after=True)
    fake_slack.inject("429", method="chat.postMessage", retry_after_s=30)
    first = call(fake_slack, "chat.postMessage", channel=channel.id, text="x")
    again = call(fake_slack, "chat.postMessage", channel=channel.id, text="x")
    assert (first.status_code, again.status_code) == (429, 429)
    assert 0 < float(again.headers["Retry-After"]) <= 30
    assert [r.fault for r in fake_slack.requests] == ["429", None]
    assert call(fake_slack, "chat.postMessage", channel=other.id, text="y").status_code == 200
