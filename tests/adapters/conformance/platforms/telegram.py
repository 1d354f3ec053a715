"""Telegram through its local Bot API (`tests/fakes/telegram_api.py`, in this process, over real HTTP on loopback).

Conversations are forum topics of one forum supergroup; "outside" is everywhere else, General first (where a
hidden reroute would land). The Bot API has neither an idempotency key nor a history to read, so a lost answer
follows `channels.telegram.unknownSend` ("policy", default "resend": the one documented duplicate), and the bot has
one name, so `identityPrefix = true` puts "<username>: " before the first chunk ("prefix"). Topics are open, closed
or deleted: there is no archived state. The fake's flood limits (and tether's, the same figures) are raised so the
cases do not queue behind each other in the one forum; the rate-limit case injects its own 429.
"""

from __future__ import annotations

import itertools
from pathlib import Path

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
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_model import Message

ACCOUNT = "default"
SEND = "sendMessage"


class TelegramHarness:
    channel = "telegram"
    unit = "utf16"
    max_chunk = 4096
    lost_answer = "policy"
    identity = "prefix"
    supports_child = True
    states: dict[ConversationState, StateOutcome] = {
        "closed": StateOutcome("dead", reason="topic-closed"),  # the binding stays: the topic may be reopened
        "deleted": StateOutcome("dead", reason="destination-gone", binding_ends=True),
    }

    def __init__(self) -> None:
        self.fake = FakeTelegram(fractional_retry_after=True)
        self.token_path = Path()
        self.forum_id = 0
        self._tokens: list[str] = []
        self._rotations = itertools.count(1)

    def start(self, tmp_path: Path, redis_url: str) -> None:
        self.fake.start()
        self.fake.set_limits(per_chat_per_s=200.0, per_chat_burst=50, per_group=12_000, global_limit=1000)
        self._tokens = list(self.fake.tokens)
        self.token_path = tmp_path / "telegram.token"
        self.token_path.write_text(self._tokens[0] + "\n")
        self.forum_id = self.fake.add_chat("supergroup", title="conformance", is_forum=True).id

    def stop(self) -> None:
        self.fake.stop()

    def config_toml(self) -> str:
        return (f'[channels.telegram]\napiBase = "{self.fake.base_url}"\nidentityPrefix = true\n'
                "[channels.telegram.threadBindings]\nenabled = true\nspawnSubagentSessions = true\n"
                "[channels.telegram.rateLimit]\nperConversationPerSecond = 200\nperConversationBurst = 50\n"
                "perGroupPerMinute = 12000\nglobalPerSecond = 1000\n"
                f'[channels.telegram.accounts.{ACCOUNT}]\ntoken = "file:{self.token_path}"\n')

    def worker_env(self) -> dict[str, str]:
        return {}

    def secrets(self) -> list[str]:
        return list(self._tokens)

    def new_conversation(self, label: str) -> ConversationRef:
        topic = self.fake.add_topic(self.forum_id, label[:128] or "topic")
        return ConversationRef(channel=self.channel, account_id=ACCOUNT,
                               conversation_id=f"{self.forum_id}:topic:{topic.id}",
                               parent_conversation_id=str(self.forum_id))

    def parent_of(self, ref: ConversationRef) -> ConversationRef:
        return ConversationRef(channel=self.channel, account_id=ACCOUNT, conversation_id=str(self.forum_id))

    @staticmethod
    def _where(ref: ConversationRef) -> tuple[int, int]:
        chat, _, topic = (ref.conversation_id or "").partition(":topic:")
        return int(chat), int(topic)

    @staticmethod
    def _one(m: Message) -> Landed:
        conversation = f"{m.chat_id}:topic:{m.thread_id}" if m.thread_id is not None else str(m.chat_id)
        return Landed(conversation_id=conversation, text=m.text, message_id=f"{m.chat_id}:{m.message_id}",
                      sender=None)

    def landed(self, ref: ConversationRef) -> list[Landed]:
        chat, topic = self._where(ref)
        return [self._one(m) for m in self.fake.messages(chat, topic)]

    def landed_outside(self, ref: ConversationRef) -> list[Landed]:
        # Every topic is one of the suite's (new_conversation, or a child bind): outside is a chat itself.
        return [self._one(m) for m in self.fake.messages() if m.thread_id is None]

    def fault(self, kind: FaultKind, *, count: int = 1, retry_after_s: float = 0.2) -> None:
        if kind == "lose-answer":
            self.fake.inject("response_lost", route=SEND, times=count)
        elif kind == "5xx":
            self.fake.inject("status", route=SEND, status=502, times=count)
        elif kind == "429":
            self.fake.inject("rate_limit", route=SEND, times=count, retry_after_s=retry_after_s)
        else:
            raise NotApplicable("telegram harness: a timeout costs the client's whole timeout (10 s); "
                                "tests/adapters/telegram covers it")

    def unfired_faults(self) -> int:
        return sum((r.times or 0) - r.fired for r in self.fake.fault_rules() if not r.exhausted)

    def rate_limited_answers(self) -> list[RateLimitAnswer]:
        return [RateLimitAnswer(r.at_ms, r.injected == "rate_limit") for r in self.fake.requests() if r.status == 429]

    def error_cases(self) -> list[ErrorCase]:
        def server_error(ref: ConversationRef) -> None:
            self.fake.inject("status", route=SEND, status=502)  # refused before storing: the resend lands once

        def closed(ref: ConversationRef) -> None:
            self.fake.set_topic(*self._where(ref), "closed")

        def deleted(ref: ConversationRef) -> None:
            self.fake.set_topic(*self._where(ref), "deleted")

        # A kicked bot or a revoked token would break the shared forum for the cases after it:
        # tests/adapters/telegram covers those (chat-gone, unauthorized).
        return [
            ErrorCase("server-error", server_error, "retryable", None),
            ErrorCase("topic-closed", closed, "permanent", "topic-closed"),
            ErrorCase("topic-deleted", deleted, "destination-gone", "destination-gone"),
        ]

    def set_state(self, ref: ConversationRef, state: ConversationState) -> None:
        if state == "archived":
            raise NotApplicable("telegram: forum topics are open, closed or deleted; none is archived")
        self.fake.set_topic(*self._where(ref), state)

    def rotate_token(self) -> None:
        token = f"77{next(self._rotations)}:rotated-bot-token"
        self._tokens.append(token)
        self.fake.set_token(token)
        self.token_path.write_text(token + "\n")


class TelegramAtMostOnceHarness(TelegramHarness):
    """Telegram with `unknownSend = "dead-letter"`: a send whose answer was lost is dead-lettered `unknown-send`
    instead of sent again; a 5xx is such a send (the Bot API cannot say whether it was stored), a 429 is not."""

    def config_toml(self) -> str:
        return super().config_toml().replace("identityPrefix = true\n",
                                              'identityPrefix = true\nunknownSend = "dead-letter"\n')

    def error_cases(self) -> list[ErrorCase]:
        return [ErrorCase(c.name, c.provoke, "permanent", "unknown-send") if c.kind == "retryable" else c
                for c in super().error_cases()]
