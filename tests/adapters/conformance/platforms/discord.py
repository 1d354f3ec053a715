"""Discord through its local API (`tests/fakes/discord_api.py`, in this process, over real HTTP on loopback).

Conversations are threads under one text channel, with the channel's webhook set up as the provisioner would, so a
bound send goes by webhook with the sub-agent's name and avatar (identity "full"); a lost webhook answer is
reconciled by searching the thread. The token is rotated on the fake and in the token file; the rotation case
sends through the bot (an unbound completion to the requester's conversation), which is what uses the token.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import redis

from adapters.discord.runtime import DiscordRuntime
from bindings.config import parse_config
from bindings.model import ConversationRef
from tests.adapters.conformance.harness import (
    ConversationState,
    ErrorCase,
    FaultKind,
    Landed,
    NotApplicable,
    RateLimitAnswer,
    StateOutcome,
)
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_model import Message

ACCOUNT = "default"
SEND_ROUTE = "webhook_execute"  # bound sends to a thread whose parent has tether's webhook


class DiscordHarness:
    channel = "discord"
    unit = "utf16"
    max_chunk = 2000
    lost_answer = "reconcile"
    identity = "full"
    supports_child = True
    states: dict[ConversationState, StateOutcome] = {
        "archived": StateOutcome("delivered", lands=True),  # unarchived, then sent
        "closed": StateOutcome("dead", reason="thread-locked"),  # a locked thread
        "deleted": StateOutcome("dead", reason="destination-gone", binding_ends=True),
    }

    def __init__(self) -> None:
        self.fake = FakeDiscord()
        self.token_path = Path()
        self.redis_url = ""
        self.parent_id = ""
        self._tokens: list[str] = []
        self._rotations = itertools.count(1)

    def start(self, tmp_path: Path, redis_url: str) -> None:
        self.fake.start()
        self.redis_url = redis_url
        self._tokens = list(self.fake.tokens)
        self.token_path = tmp_path / "discord.token"
        self.token_path.write_text(self._tokens[0] + "\n")
        self.parent_id = self.fake.add_channel("general").id
        # Every case shares the parent's webhook bucket; Discord's 5 per 5 s would queue the cases behind each
        # other. The rate-limit case injects its own 429.
        for route in (SEND_ROUTE, "message_create"):
            self.fake.set_limit(route, 50, 1.0)

    def stop(self) -> None:
        self.fake.stop()

    def config_toml(self) -> str:
        return (f'[channels.discord]\napiBase = "{self.fake.base_url}"\n'
                "[channels.discord.threadBindings]\nenabled = true\nspawnSubagentSessions = true\n"
                f'[channels.discord.accounts.{ACCOUNT}]\ntoken = "file:{self.token_path}"\n')

    def worker_env(self) -> dict[str, str]:
        return {}

    def secrets(self) -> list[str]:
        return self._tokens + [w.token for w in self.fake.webhooks(include_deleted=True)]

    def new_conversation(self, label: str) -> ConversationRef:
        thread = self.fake.add_thread(self.parent_id, name=label)
        self._ensure_webhook()
        return ConversationRef(channel=self.channel, account_id=ACCOUNT, conversation_id=thread.id,
                               parent_conversation_id=self.parent_id)

    def _ensure_webhook(self) -> None:
        """What the provisioner does for a child bind: the parent channel's webhook, known to tether."""
        client = redis.Redis.from_url(self.redis_url)
        runtime = DiscordRuntime(parse_config(self.config_toml()), client)
        try:
            runtime.webhooks.ensure(ACCOUNT, self.parent_id)
        finally:
            runtime.close()
            client.close()

    def parent_of(self, ref: ConversationRef) -> ConversationRef:
        return ConversationRef(channel=self.channel, account_id=ACCOUNT, conversation_id=self.parent_id)

    @staticmethod
    def _one(m: Message) -> Landed:
        return Landed(conversation_id=m.channel_id, text=m.content, message_id=m.id,
                      sender=m.author_username if m.author_kind == "webhook" else None)

    def landed(self, ref: ConversationRef) -> list[Landed]:
        return [self._one(m) for m in self.fake.messages(ref.conversation_id)]

    def landed_outside(self, ref: ConversationRef) -> list[Landed]:
        # Every thread is one of the suite's (bound, or made by a child bind): outside means a channel itself.
        return [self._one(m) for m in self.fake.messages() if m.parent_id is None]

    def fault(self, kind: FaultKind, *, count: int = 1, retry_after_s: float = 0.2) -> None:
        if kind == "lose-answer":
            self.fake.inject("response_lost", route=SEND_ROUTE, times=count)
        elif kind == "5xx":
            self.fake.inject("status", route=SEND_ROUTE, status=503, times=count)
        elif kind == "429":
            self.fake.inject("rate_limit", route=SEND_ROUTE, times=count, retry_after_s=retry_after_s, scope="user")
        else:
            raise NotApplicable("discord harness: a timeout costs the client's whole timeout (10 s); "
                                "tests/adapters/discord covers it")

    def unfired_faults(self) -> int:
        return sum((r.times or 0) - r.fired for r in self.fake.fault_rules() if not r.exhausted)

    def rate_limited_answers(self) -> list[RateLimitAnswer]:
        return [RateLimitAnswer(r.at_ms, r.injected == "rate_limit") for r in self.fake.requests() if r.status == 429]

    def error_cases(self) -> list[ErrorCase]:
        def server_error(ref: ConversationRef) -> None:
            self.fake.inject("status", route=SEND_ROUTE, status=500, times=2)

        def forbidden(ref: ConversationRef) -> None:
            self.fake.inject("status", route=SEND_ROUTE, status=403)

        def deleted(ref: ConversationRef) -> None:
            assert ref.conversation_id is not None
            self.fake.delete_channel(ref.conversation_id)

        return [
            ErrorCase("server-error", server_error, "retryable", None),
            ErrorCase("forbidden", forbidden, "permanent", "forbidden"),
            ErrorCase("thread-deleted", deleted, "destination-gone", "destination-gone"),
        ]

    def set_state(self, ref: ConversationRef, state: ConversationState) -> None:
        assert ref.conversation_id is not None
        if state == "deleted":
            self.fake.delete_channel(ref.conversation_id)
        elif state == "archived":
            self.fake.set_channel(ref.conversation_id, archived=True)
        else:
            self.fake.set_channel(ref.conversation_id, locked=True, archived=True)

    def rotate_token(self) -> None:
        token = f"rotated-bot-token-{next(self._rotations)}"
        self._tokens.append(token)
        self.fake.set_token(token)
        self.token_path.write_text(token + "\n")
