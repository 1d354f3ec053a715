"""Telegram for the adapter conformance suite: the local Bot API behind the harness protocol the suite drives
(written against the kit engineer's sketch in ADAPTERS.md; `tests/adapters/conformance/platforms/telegram.py` will be
a thin import of this once the suite is on main).

A conversation is a forum topic of one forum supergroup; its parent is the forum and "outside" is General, where a
hidden reroute would land. Telegram has neither an idempotency key nor a history to read, so `lost_answer` is
"policy" (`channels.telegram.unknownSend`), and its one bot name gives `identity = "prefix"`
(`identityPrefix = true` puts "<username>: " before the first chunk). A "timeout" is a connection dropped before the
API processed the request: for the client, no answer, as with a read timeout (without the 10 s wait).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bindings.model import ConversationRef
from tests.fakes.telegram_api import FakeTelegram

Fault = Literal["lose-answer", "5xx", "429", "timeout"]
State = Literal["archived", "closed", "deleted"]


@dataclass(frozen=True)
class Landed:
    conversation_id: str
    text: str
    message_id: str
    sender: str | None


@dataclass(frozen=True)
class ErrorCase:
    """Put the destination in a state; sending to it must end as `expect` ("destination-gone:<binding end reason>"
    or "permanent:<dead-letter reason>")."""

    name: str
    arrange: Callable[[ConversationRef], None]
    expect: str


class TelegramHarness:
    channel = "telegram"
    unit: Literal["utf16"] = "utf16"
    max_chunk = 4096
    lost_answer: Literal["policy"] = "policy"
    identity: Literal["prefix"] = "prefix"
    supports_child = True

    def __init__(self, *, unknown_send: str = "resend") -> None:
        self.unknown_send = unknown_send
        self._fake: FakeTelegram | None = None
        self.token_path = Path()
        self.forum_id = 0
        self._rotations = 0

    @property
    def fake(self) -> FakeTelegram:
        if self._fake is None:
            raise RuntimeError("TelegramHarness is not started")
        return self._fake

    def start(self, tmp_path: Path) -> None:
        self._fake = FakeTelegram(fractional_retry_after=True).start()
        self.token_path = tmp_path / "telegram.token"
        self.token_path.write_text(self.fake.tokens[0] + "\n")
        self.forum_id = self.fake.add_chat("supergroup", title="conformance", is_forum=True).id

    def stop(self) -> None:
        if self._fake is not None:
            self._fake.stop()
            self._fake = None

    def config_toml(self) -> str:
        return (
            "[channels.telegram]\n"
            f'apiBase = "{self.fake.base_url}"\n'
            f'unknownSend = "{self.unknown_send}"\n'
            "identityPrefix = true\n"
            "[channels.telegram.threadBindings]\nspawnSubagentSessions = true\n"
            "[channels.telegram.rateLimit]\n"
            "perConversationPerSecond = 100\nperConversationBurst = 100\nperGroupPerMinute = 6000\n"
            "globalPerSecond = 1000\n"
            "[channels.telegram.accounts.default]\n"
            f'token = "file:{self.token_path}"\n'
        )

    def secrets(self) -> list[str]:
        return self.fake.tokens

    def new_conversation(self, label: str) -> ConversationRef:
        topic = self.fake.add_topic(self.forum_id, label[:128] or "topic")
        return ConversationRef(channel=self.channel, conversation_id=f"{self.forum_id}:topic:{topic.id}",
                               parent_conversation_id=str(self.forum_id))

    def parent_of(self, ref: ConversationRef) -> ConversationRef:
        return ConversationRef(channel=self.channel, conversation_id=str(self.forum_id))

    def _where(self, ref: ConversationRef) -> tuple[int, int | None]:
        chat, _, topic = (ref.conversation_id or "").partition(":topic:")
        return int(chat), int(topic) if topic else None

    def landed(self, ref: ConversationRef) -> list[Landed]:
        chat, topic = self._where(ref)
        messages = (self.fake.messages(chat, topic) if topic is not None
                    else self.fake.messages(chat, general=True))
        return [Landed(ref.conversation_id or "", m.text, f"{m.chat_id}:{m.message_id}", None) for m in messages]

    def landed_outside(self, ref: ConversationRef) -> list[Landed]:
        chat, _ = self._where(ref)
        return [Landed(str(chat), m.text, f"{m.chat_id}:{m.message_id}", None)
                for m in self.fake.messages(chat, general=True)]

    def fault(self, kind: Fault, *, count: int = 1, retry_after_s: float = 0.2) -> None:
        if kind == "lose-answer":
            self.fake.inject("response_lost", route="sendMessage", times=count)
        elif kind == "5xx":
            self.fake.inject("status", route="sendMessage", status=502, times=count)
        elif kind == "429":
            self.fake.inject("rate_limit", route="sendMessage", retry_after_s=retry_after_s, times=count)
        else:
            self.fake.inject("disconnect", route="sendMessage", times=count)

    def set_state(self, ref: ConversationRef, state: State) -> None:
        chat, topic = self._where(ref)
        if topic is None:
            raise ValueError("only a topic has a state")
        # Telegram topics are closed (reopenable) or deleted; there is no archive: an archived topic is a closed one.
        self.fake.set_topic(chat, topic, "deleted" if state == "deleted" else "closed")

    def error_cases(self) -> list[ErrorCase]:
        def topic_state(state: State) -> Callable[[ConversationRef], None]:
            return lambda ref: self.set_state(ref, state)

        def bot(status: str) -> Callable[[ConversationRef], None]:
            return lambda ref: self.fake.set_chat(self._where(ref)[0], bot_status=status)

        def revoke(ref: ConversationRef) -> None:
            self.fake.set_token("1:revoked")

        return [
            ErrorCase("topic deleted", topic_state("deleted"), "destination-gone:thread-delete"),
            ErrorCase("topic closed", topic_state("closed"), "permanent:topic-closed"),
            ErrorCase("bot kicked", bot("kicked"), "destination-gone:chat-gone"),
            ErrorCase("bot left", bot("left"), "destination-gone:chat-gone"),
            ErrorCase("token revoked", revoke, "permanent:unauthorized"),
        ]

    def rotate_token(self) -> None:
        self._rotations += 1
        token = f"77{self._rotations}:rotated-token-{self._rotations}"
        self.fake.set_token(token)
        self.token_path.write_text(token + "\n")
