"""The local Discord API behaves like Discord's REST API v10 where tether depends on it.

Each test talks HTTP to a real server on a loopback port with httpx, as the adapter does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from bindings.clock import ManualClock
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_limits import bucket_hash
from tests.fakes.discord_remote import FakeDiscordProcess
from tests.support.waiting import wait_for

# ---------------------------------------------------------------------- helpers


def post_message(bot: httpx.Client, channel_id: str, **body: object) -> httpx.Response:
    return bot.post(f"/channels/{channel_id}/messages", json=body)


def execute(
    fake: FakeDiscord, webhook_id: str, token: str, body: Mapping[str, object], **params: str
) -> httpx.Response:
    return httpx.post(f"{fake.base_url}/webhooks/{webhook_id}/{token}", params=params, json=body, timeout=5.0)


@pytest.fixture
def frozen() -> Iterator[tuple[FakeDiscord, httpx.Client]]:
    """A fake whose clock only moves when the test says so, and a bot client for it."""
    with FakeDiscord(clock=ManualClock()) as fake:
        headers = {"Authorization": f"Bot {fake.tokens[0]}"}
        with httpx.Client(base_url=fake.base_url, headers=headers, timeout=5.0) as client:
            yield fake, client


# ---------------------------------------------------------------------- create message, nonce


def test_message_create_returns_the_message_with_nonce_and_records_allowed_mentions(
    fake_discord: FakeDiscord, bot: httpx.Client
) -> None:
    channel = fake_discord.add_channel()
    mentions: dict[str, list[str]] = {"parse": []}
    r = post_message(bot, channel.id, content="hello", nonce="d1:0", enforce_nonce=True, allowed_mentions=mentions)

    assert r.status_code == 200
    body = r.json()
    assert body["content"] == "hello"
    assert body["channel_id"] == channel.id
    assert body["nonce"] == "d1:0"
    assert body["author"] == {
        "id": fake_discord.bot_user_id,
        "username": "tether-bot",
        "avatar": None,
        "discriminator": "0",
        "global_name": None,
        "bot": True,
    }
    [stored] = fake_discord.messages(channel.id)
    assert (stored.id, stored.author_kind, stored.allowed_mentions) == (body["id"], "bot", mentions)


def test_same_nonce_with_enforce_nonce_returns_the_existing_message(
    fake_discord: FakeDiscord, bot: httpx.Client
) -> None:
    channel = fake_discord.add_channel()
    first = post_message(bot, channel.id, content="chunk 1", nonce="abc", enforce_nonce=True)
    again = post_message(bot, channel.id, content="chunk 1", nonce="abc", enforce_nonce=True)

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert len(fake_discord.messages(channel.id)) == 1
    assert [r.deduped for r in fake_discord.requests("message_create")] == [False, True]


def test_same_nonce_without_enforce_nonce_creates_a_second_message(
    fake_discord: FakeDiscord, bot: httpx.Client
) -> None:
    channel = fake_discord.add_channel()
    post_message(bot, channel.id, content="x", nonce=42)
    post_message(bot, channel.id, content="x", nonce=42)

    assert len(fake_discord.messages(channel.id)) == 2


def test_nonce_dedupe_ends_with_its_window(frozen: tuple[FakeDiscord, httpx.Client]) -> None:
    fake, bot = frozen
    channel = fake.add_channel()
    first = post_message(bot, channel.id, content="x", nonce=7, enforce_nonce=True)
    fake.advance(301)
    late = post_message(bot, channel.id, content="x", nonce=7, enforce_nonce=True)

    assert late.json()["id"] != first.json()["id"]


def test_nonce_over_25_characters_is_an_invalid_form_body(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    channel = fake_discord.add_channel()
    r = post_message(bot, channel.id, content="x", nonce="n" * 26)

    assert r.status_code == 400
    assert r.json()["code"] == 50035
    assert r.json()["errors"]["nonce"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"


def test_content_over_2000_code_points_is_50035_with_an_errors_object(
    fake_discord: FakeDiscord, bot: httpx.Client
) -> None:
    channel = fake_discord.add_channel()
    at_limit = post_message(bot, channel.id, content="😀" * 2000)  # 2000 code points, 4000 UTF-16 units
    over = post_message(bot, channel.id, content="a" * 2001)

    assert at_limit.status_code == 200
    assert over.status_code == 400
    assert over.json() == {
        "message": "Invalid Form Body",
        "code": 50035,
        "errors": {
            "content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}
        },
    }
    assert len(fake_discord.messages(channel.id)) == 1


def test_empty_message_is_50006(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    channel = fake_discord.add_channel()
    r = post_message(bot, channel.id, content="")

    assert (r.status_code, r.json()) == (400, {"message": "Cannot send an empty message", "code": 50006})


def test_unknown_channel_and_message_answer_10003_and_10008(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    channel = fake_discord.add_channel()
    missing_channel = post_message(bot, "123", content="x")
    missing_message = bot.get(f"/channels/{channel.id}/messages/456")

    assert (missing_channel.status_code, missing_channel.json()["code"]) == (404, 10003)
    assert (missing_message.status_code, missing_message.json()["code"]) == (404, 10008)


def test_denied_permissions_answer_50001_and_50013(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    hidden = fake_discord.add_channel("hidden", deny=["view"])
    read_only = fake_discord.add_channel("read-only", deny=["send", "manage_webhooks"])

    no_access = post_message(bot, hidden.id, content="x")
    no_send = post_message(bot, read_only.id, content="x")
    no_webhook = bot.post(f"/channels/{read_only.id}/webhooks", json={"name": "tether"})

    assert (no_access.status_code, no_access.json()) == (403, {"message": "Missing Access", "code": 50001})
    assert (no_send.status_code, no_send.json()["code"]) == (403, 50013)
    assert (no_webhook.status_code, no_webhook.json()["code"]) == (403, 50013)


def test_messages_are_listed_newest_first_with_after_and_limit(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    channel = fake_discord.add_channel()
    ids = [post_message(bot, channel.id, content=str(i)).json()["id"] for i in range(4)]

    after = bot.get(f"/channels/{channel.id}/messages", params={"after": ids[0], "limit": 2}).json()
    latest = bot.get(f"/channels/{channel.id}/messages", params={"limit": 2}).json()

    assert [m["id"] for m in after] == [ids[2], ids[1]]
    assert [m["id"] for m in latest] == [ids[3], ids[2]]
    assert "nonce" not in after[0]
    assert int(ids[0]) < int(ids[1]) < int(ids[2]) < int(ids[3])


# ---------------------------------------------------------------------- threads


def test_start_thread_without_message_creates_a_public_thread(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    parent = fake_discord.add_channel()
    r = bot.post(f"/channels/{parent.id}/threads", json={"name": "sub-agent", "type": 11, "auto_archive_duration": 60})

    assert r.status_code == 201
    thread = r.json()
    assert (thread["type"], thread["parent_id"], thread["name"]) == (11, parent.id, "sub-agent")
    assert thread["thread_metadata"]["archived"] is False
    assert thread["thread_metadata"]["locked"] is False
    assert thread["thread_metadata"]["auto_archive_duration"] == 60
    assert bot.get(f"/channels/{thread['id']}").json()["thread_metadata"]["archived"] is False
    # Discord announces the thread in its parent with a system message, which `messages()` leaves out.
    assert [m.type for m in fake_discord.messages(parent.id, include_system=True)] == [18]
    assert fake_discord.messages(parent.id) == []


def test_start_thread_requires_type_and_a_name_of_at_most_100(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    parent = fake_discord.add_channel()
    no_type = bot.post(f"/channels/{parent.id}/threads", json={"name": "x"})
    long_name = bot.post(f"/channels/{parent.id}/threads", json={"name": "n" * 101, "type": 11})

    assert no_type.json()["code"] == 50035 and "type" in no_type.json()["errors"]
    assert long_name.json()["code"] == 50035 and "name" in long_name.json()["errors"]


def test_sending_to_an_archived_thread_unarchives_it(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    parent = fake_discord.add_channel()
    thread = fake_discord.add_thread(parent.id, archived=True)
    r = post_message(bot, thread.id, content="wake up")

    assert r.status_code == 200
    channel = fake_discord.channel(thread.id)
    assert channel is not None and channel.archived is False


def test_archived_thread_can_be_set_to_answer_50083_and_be_unarchived_by_patch(
    fake_discord: FakeDiscord, bot: httpx.Client
) -> None:
    fake_discord.configure(archived_send="reject")
    parent = fake_discord.add_channel()
    thread = fake_discord.add_thread(parent.id, archived=True)

    refused = post_message(bot, thread.id, content="x")
    patched = bot.patch(f"/channels/{thread.id}", json={"archived": False})
    sent = post_message(bot, thread.id, content="x")

    assert (refused.status_code, refused.json()) == (403, {"message": "Thread is archived", "code": 50083})
    assert patched.status_code == 200 and patched.json()["thread_metadata"]["archived"] is False
    assert sent.status_code == 200


def test_locked_thread_answers_160005_on_both_paths(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    parent = fake_discord.add_channel()
    thread = fake_discord.add_thread(parent.id, archived=True, locked=True)
    hook = fake_discord.add_webhook(parent.id)

    by_bot = post_message(bot, thread.id, content="x")
    by_webhook = execute(fake_discord, hook.id, hook.token, {"content": "x"}, thread_id=thread.id, wait="true")

    assert (by_bot.status_code, by_bot.json()["code"]) == (403, 160005)
    assert (by_webhook.status_code, by_webhook.json()["code"]) == (403, 160005)
    assert fake_discord.messages() == []


def test_deleted_thread_answers_10003_on_both_paths(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    parent = fake_discord.add_channel()
    thread = fake_discord.add_thread(parent.id)
    hook = fake_discord.add_webhook(parent.id)

    deleted = bot.delete(f"/channels/{thread.id}")
    by_bot = post_message(bot, thread.id, content="x")
    by_webhook = execute(fake_discord, hook.id, hook.token, {"content": "x"}, thread_id=thread.id, wait="true")
    get = bot.get(f"/channels/{thread.id}")

    assert deleted.status_code == 200
    assert [(r.status_code, r.json()["code"]) for r in (by_bot, by_webhook, get)] == [(404, 10003)] * 3
    assert fake_discord.messages() == []


def test_idle_thread_archives_itself_after_auto_archive_duration(frozen: tuple[FakeDiscord, httpx.Client]) -> None:
    fake, bot = frozen
    parent = fake.add_channel()
    thread = fake.add_thread(parent.id, auto_archive_duration=60)
    fake.advance(3600)

    assert bot.get(f"/channels/{thread.id}").json()["thread_metadata"]["archived"] is True


# ---------------------------------------------------------------------- webhooks


def test_webhook_without_wait_answers_204_and_stores_the_message_with_its_identity(
    fake_discord: FakeDiscord, bot: httpx.Client
) -> None:
    parent = fake_discord.add_channel()
    hook = bot.post(f"/channels/{parent.id}/webhooks", json={"name": "tether"}).json()
    body = {"content": "done", "username": "research-agent", "avatar_url": "https://example.com/a.png"}

    r = execute(fake_discord, hook["id"], hook["token"], body)

    assert (r.status_code, r.content) == (204, b"")
    [msg] = fake_discord.messages(parent.id)
    assert (msg.author_kind, msg.webhook_id, msg.author_id) == ("webhook", hook["id"], hook["id"])
    assert (msg.author_username, msg.avatar_url, msg.content) == ("research-agent", "https://example.com/a.png", "done")


def test_webhook_with_wait_and_thread_id_posts_in_the_thread_and_can_be_found_again(
    fake_discord: FakeDiscord, bot: httpx.Client
) -> None:
    parent = fake_discord.add_channel()
    thread = fake_discord.add_thread(parent.id)
    hook = fake_discord.add_webhook(parent.id)

    r = execute(
        fake_discord, hook.id, hook.token, {"content": "hi", "username": "sub"}, wait="true", thread_id=thread.id
    )
    message = r.json()
    found = httpx.get(
        f"{fake_discord.base_url}/webhooks/{hook.id}/{hook.token}/messages/{message['id']}",
        params={"thread_id": thread.id},
    )
    not_in_parent = httpx.get(f"{fake_discord.base_url}/webhooks/{hook.id}/{hook.token}/messages/{message['id']}")

    assert r.status_code == 200
    assert (message["channel_id"], message["webhook_id"], message["author"]["username"]) == (thread.id, hook.id, "sub")
    assert found.status_code == 200 and found.json()["id"] == message["id"]
    assert (not_in_parent.status_code, not_in_parent.json()["code"]) == (404, 10008)
    assert fake_discord.messages(parent.id) == []


def test_webhooks_are_listed_per_channel_with_their_tokens(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    parent = fake_discord.add_channel()
    created = bot.post(f"/channels/{parent.id}/webhooks", json={"name": "tether"}).json()
    listed = bot.get(f"/channels/{parent.id}/webhooks").json()

    assert [(w["id"], w["token"], w["channel_id"]) for w in listed] == [(created["id"], created["token"], parent.id)]


def test_unknown_webhook_is_10015_and_a_wrong_token_is_50027(fake_discord: FakeDiscord) -> None:
    parent = fake_discord.add_channel()
    hook = fake_discord.add_webhook(parent.id)

    wrong_token = execute(fake_discord, hook.id, "not-the-token", {"content": "x"})
    fake_discord.delete_webhook(hook.id)
    gone = execute(fake_discord, hook.id, hook.token, {"content": "x"})

    assert (wrong_token.status_code, wrong_token.json()) == (401, {"message": "Invalid Webhook Token", "code": 50027})
    assert (gone.status_code, gone.json()) == (404, {"message": "Unknown Webhook", "code": 10015})
    assert "not-the-token" not in str(fake_discord.requests()[0].path)


# ---------------------------------------------------------------------- auth


def test_rotated_token_makes_the_old_one_answer_401_code_0(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    channel = fake_discord.add_channel()
    fake_discord.set_token("new-token")

    old = post_message(bot, channel.id, content="x")
    new = bot.post(
        f"/channels/{channel.id}/messages", json={"content": "x"}, headers={"Authorization": "Bot new-token"}
    )

    assert (old.status_code, old.json()) == (401, {"message": "401: Unauthorized", "code": 0})
    assert new.status_code == 200
    assert [r.token for r in fake_discord.requests()] == ["test-bot-token", "new-token"]
    assert fake_discord.invalid_requests == 1


# ---------------------------------------------------------------------- rate limits


def test_bucket_headers_count_down_and_the_sixth_message_is_429(frozen: tuple[FakeDiscord, httpx.Client]) -> None:
    fake, bot = frozen
    channel = fake.add_channel()
    other = fake.add_channel("other")
    responses = [post_message(bot, channel.id, content=str(i)) for i in range(6)]

    assert [r.headers["X-RateLimit-Remaining"] for r in responses[:5]] == ["4", "3", "2", "1", "0"]
    assert {r.headers["X-RateLimit-Limit"] for r in responses} == {"5"}
    assert {r.headers["X-RateLimit-Bucket"] for r in responses} == {bucket_hash("message_create")}
    assert responses[0].headers["X-RateLimit-Reset-After"] == "5.000"
    assert float(responses[0].headers["X-RateLimit-Reset"]) == pytest.approx((fake.now_ms() + 5000) / 1000)
    limited = responses[5]
    assert limited.status_code == 429
    assert limited.json() == {"message": "You are being rate limited.", "retry_after": 5.0, "global": False}
    assert limited.headers["Retry-After"] == "5"
    assert limited.headers["X-RateLimit-Scope"] == "user"
    assert "X-RateLimit-Global" not in limited.headers
    # The major parameter keeps other channels' buckets apart; time reopens the bucket.
    assert post_message(bot, other.id, content="x").status_code == 200
    fake.advance(5)
    assert post_message(bot, channel.id, content="x").headers["X-RateLimit-Remaining"] == "4"
    assert len(fake.messages(channel.id)) == 6
    assert fake.invalid_requests == 1


def test_global_limit_answers_a_global_429(frozen: tuple[FakeDiscord, httpx.Client]) -> None:
    fake, bot = frozen
    fake.configure(global_limit=3)
    channel = fake.add_channel()
    ok = [bot.get(f"/channels/{channel.id}") for _ in range(3)]
    limited = bot.get(f"/channels/{channel.id}")

    assert [r.status_code for r in ok] == [200] * 3
    assert limited.status_code == 429
    assert limited.json() == {"message": "You are being rate limited.", "retry_after": 1.0, "global": True}
    assert limited.headers["X-RateLimit-Global"] == "true"
    assert limited.headers["X-RateLimit-Scope"] == "global"
    assert "X-RateLimit-Bucket" not in limited.headers
    assert fake.requests()[-1].global_limit is True
    fake.advance(1)
    assert bot.get(f"/channels/{channel.id}").status_code == 200


def test_webhook_executions_do_not_count_against_the_global_limit(frozen: tuple[FakeDiscord, httpx.Client]) -> None:
    fake, bot = frozen
    fake.configure(global_limit=1)
    channel = fake.add_channel()
    hook = fake.add_webhook(channel.id)
    statuses = [execute(fake, hook.id, hook.token, {"content": str(i)}).status_code for i in range(3)]

    assert statuses == [204] * 3
    assert bot.get(f"/channels/{channel.id}").status_code == 200


def test_injected_429_blocks_its_bucket_until_retry_after(frozen: tuple[FakeDiscord, httpx.Client]) -> None:
    fake, bot = frozen
    channel = fake.add_channel()
    fake.inject("rate_limit", route="message_create", retry_after_s=2.5)

    injected = post_message(bot, channel.id, content="x")
    too_early = post_message(bot, channel.id, content="x")
    fake.advance(2.5)
    after = post_message(bot, channel.id, content="x")

    assert injected.status_code == 429 and injected.json()["retry_after"] == 2.5
    assert too_early.status_code == 429
    assert after.status_code == 200
    assert [r.injected for r in fake.requests()] == ["rate_limit", None, None]
    assert [f.kind for f in fake.fault_records()] == ["rate_limit"]


def test_invalid_requests_count_401_403_and_429_but_not_shared_429(frozen: tuple[FakeDiscord, httpx.Client]) -> None:
    fake, bot = frozen
    channel = fake.add_channel()
    hidden = fake.add_channel("hidden", deny=["view"])
    fake.inject("rate_limit", route="channel_get", scope="shared", retry_after_s=0.5)

    shared = bot.get(f"/channels/{channel.id}")
    forbidden = bot.get(f"/channels/{hidden.id}")
    unauthorized = bot.get(f"/channels/{channel.id}", headers={"Authorization": "Bot wrong"})
    not_found = bot.get("/channels/1")

    assert (shared.status_code, shared.headers["X-RateLimit-Scope"]) == (429, "shared")
    assert [forbidden.status_code, unauthorized.status_code, not_found.status_code] == [403, 401, 404]
    assert fake.invalid_requests == 2


# ---------------------------------------------------------------------- fault injection


def test_response_lost_stores_the_message_and_drops_the_connection(
    fake_discord: FakeDiscord, bot: httpx.Client
) -> None:
    channel = fake_discord.add_channel()
    fake_discord.inject("response_lost", route="message_create")

    with pytest.raises(httpx.RemoteProtocolError):
        post_message(bot, channel.id, content="created", nonce="d:0", enforce_nonce=True)
    retry = post_message(bot, channel.id, content="created", nonce="d:0", enforce_nonce=True)

    [stored] = fake_discord.messages(channel.id)
    assert retry.json()["id"] == stored.id
    [fault] = fake_discord.fault_records()
    assert (fault.kind, fault.message_id, fault.status) == ("response_lost", stored.id, None)


def test_response_lost_on_a_webhook_leaves_the_message_for_reconciliation(fake_discord: FakeDiscord) -> None:
    parent = fake_discord.add_channel()
    thread = fake_discord.add_thread(parent.id)
    hook = fake_discord.add_webhook(parent.id)
    fake_discord.inject("response_lost", route="webhook_execute")

    with pytest.raises(httpx.RemoteProtocolError):
        execute(fake_discord, hook.id, hook.token, {"content": "once"}, wait="true", thread_id=thread.id)

    assert [m.content for m in fake_discord.messages(thread.id)] == ["once"]


def test_5xx_before_processing_stores_nothing_and_after_processing_stores_the_message(
    fake_discord: FakeDiscord, bot: httpx.Client
) -> None:
    channel = fake_discord.add_channel()
    fake_discord.inject("status", status=503, route="message_create", times=2)
    fake_discord.inject("status", status=500, route="message_create", stage="after")

    first = post_message(bot, channel.id, content="a")
    second = post_message(bot, channel.id, content="b")
    third = post_message(bot, channel.id, content="c")
    fourth = post_message(bot, channel.id, content="d")

    assert [first.status_code, second.status_code, third.status_code, fourth.status_code] == [503, 503, 500, 200]
    assert first.headers["Content-Type"] == "text/plain"
    assert third.json() == {"message": "500: Internal Server Error", "code": 0}
    assert [m.content for m in fake_discord.messages(channel.id)] == ["c", "d"]
    assert [f.status for f in fake_discord.fault_records()] == [503, 503, 500]


def test_probabilistic_faults_repeat_with_the_same_seed() -> None:
    def run(seed: int) -> list[int]:
        with FakeDiscord(seed=seed, limits={"message_create": (100, 1)}) as fake:
            channel = fake.add_channel()
            fake.inject("status", status=502, probability=0.3, path=f"^/channels/{channel.id}/")
            headers = {"Authorization": f"Bot {fake.tokens[0]}"}
            with httpx.Client(base_url=fake.base_url, headers=headers) as client:
                return [post_message(client, channel.id, content="x").status_code for _ in range(20)]

    first, again, other = run(7), run(7), run(8)

    assert first == again
    assert 502 in first and 200 in first
    assert first != other


def test_latency_and_skip(fake_discord: FakeDiscord, bot: httpx.Client) -> None:
    channel = fake_discord.add_channel()
    fake_discord.inject("latency", delay_s=0.3, skip=1)

    fast = post_message(bot, channel.id, content="a")
    with pytest.raises(httpx.ReadTimeout):
        bot.post(f"/channels/{channel.id}/messages", json={"content": "b"}, timeout=0.05)

    assert fast.status_code == 200
    fake_discord.clear_faults()
    assert post_message(bot, channel.id, content="c").status_code == 200
    # The slow request is still processed after its delay, as a timed-out request on Discord may be.
    wait_for(lambda: len(fake_discord.messages(channel.id)) == 3, timeout_s=5, what="the delayed message")
    assert [m.content for m in fake_discord.messages(channel.id)] == ["a", "c", "b"]


# ---------------------------------------------------------------------- another process


def test_runs_as_its_own_process_controlled_and_read_over_http(tmp_path: Path) -> None:
    with FakeDiscordProcess(tmp_path / "discord", args=["--channels", "2", "--token", "t1"]) as proc:
        control = proc.control
        channel_id = proc.info["channel_ids"][0]
        thread = control.add_thread(channel_id, name="bound")
        control.inject("response_lost", route="message_create")
        headers = {"Authorization": "Bot t1"}
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(f"{proc.base_url}/channels/{thread.id}/messages", json={"content": "x"}, headers=headers)
        control.set_token("t2")
        rejected = httpx.post(f"{proc.base_url}/channels/{thread.id}/messages", json={"content": "y"}, headers=headers)

        assert rejected.status_code == 401
        assert [m.content for m in control.messages(thread.id)] == ["x"]
        assert control.state().invalid_requests == 1
        assert len(proc.info["channel_ids"]) == 2

    final = proc.final_state()
    assert [m.content for m in final.messages] == ["x"]
    assert [r.status for r in final.requests] == [0, 401]
