"""Slack through its local Web API (`tests/fakes/slack_api.py`, in this process, over real HTTP on loopback).

Each conversation is a thread (a root a person posted) in a channel of its own, so archiving one conversation's
channel leaves the other cases alone. A bound send posts into the thread with `username`/`icon_url` (identity
"full"); a lost answer is reconciled by reading the thread for the chunk's metadata. Outside means any message of
tether's in a channel root (or broadcast from a thread), except the roots child binds posted.
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
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_model import Message

ACCOUNT = "default"
POST = "chat.postMessage"


class SlackHarness:
    channel = "slack"
    unit = "chars"
    max_chunk = 4000
    lost_answer = "reconcile"
    identity = "full"
    supports_child = True
    states: dict[ConversationState, StateOutcome] = {
        "archived": StateOutcome("dead", reason="channel-archived"),  # Slack refuses posts into an archived channel
        "deleted": StateOutcome("dead", reason="destination-gone", binding_ends=True),  # the thread root deleted
    }

    def __init__(self) -> None:
        self.fake = FakeSlack(fractional_retry_after=True)
        self.token_path = Path()
        self._tokens: list[str] = []
        self._rotations = itertools.count(1)
        self._names = itertools.count(1)

    def start(self, tmp_path: Path, redis_url: str) -> None:
        self.fake.start()
        self._tokens = [self.fake.token]
        self.token_path = tmp_path / "slack.token"
        self.token_path.write_text(self.fake.token + "\n")

    def stop(self) -> None:
        self.fake.stop()

    def config_toml(self) -> str:
        return (f'[channels.slack]\napiBase = "{self.fake.base_url}"\n'
                "[channels.slack.threadBindings]\nenabled = true\nspawnSubagentSessions = true\n"
                f'[channels.slack.accounts.{ACCOUNT}]\ntoken = "file:{self.token_path}"\n')

    def worker_env(self) -> dict[str, str]:
        return {}

    def secrets(self) -> list[str]:
        return list(self._tokens)

    def new_conversation(self, label: str) -> ConversationRef:
        channel = self.fake.add_channel(f"case-{next(self._names)}")
        root = self.fake.post(channel.id, f"thread for {label}")
        return ConversationRef(channel=self.channel, account_id=ACCOUNT, conversation_id=root.ts,
                               parent_conversation_id=channel.id)

    def parent_of(self, ref: ConversationRef) -> ConversationRef:
        return ConversationRef(channel=self.channel, account_id=ACCOUNT,
                               conversation_id=ref.parent_conversation_id or ref.conversation_id)

    @staticmethod
    def _one(m: Message) -> Landed:
        return Landed(conversation_id=m.thread_ts if m.in_thread and m.thread_ts else m.channel, text=m.text,
                      message_id=m.ts, sender=m.username)

    def landed(self, ref: ConversationRef) -> list[Landed]:
        if ref.parent_conversation_id is None:  # a channel
            return [self._one(m) for m in self.fake.root_messages(str(ref.conversation_id)) if m.bot_id]
        return [self._one(m) for m in self.fake.messages(ref.parent_conversation_id, thread_ts=ref.conversation_id)
                if m.bot_id]

    def landed_outside(self, ref: ConversationRef) -> list[Landed]:
        return [self._one(m) for m in self.fake.bot_messages()
                if (not m.in_thread or m.reply_broadcast)
                and (m.metadata or {}).get("event_type") != "tether_thread_root"]

    def fault(self, kind: FaultKind, *, count: int = 1, retry_after_s: float = 0.2) -> None:
        if kind == "lose-answer":
            self.fake.inject("lose-answer", method=POST, count=count)
        elif kind == "5xx":
            self.fake.inject("5xx", method=POST, status=503, count=count)
        elif kind == "429":
            self.fake.inject("429", method=POST, count=count, retry_after_s=retry_after_s)
        else:
            raise NotApplicable("slack harness: a timeout costs the client's whole timeout (10 s); "
                                "tests/adapters/slack covers it with a short one")

    def unfired_faults(self) -> int:
        return sum(r.count for r in self.fake.faults if r.count > 0)

    def rate_limited_answers(self) -> list[RateLimitAnswer]:
        return [RateLimitAnswer(int(r.at * 1000), r.fault == "429") for r in self.fake.requests if r.status == 429]

    def error_cases(self) -> list[ErrorCase]:
        def server_error(ref: ConversationRef) -> None:
            self.fake.inject("5xx", method=POST, status=500, count=2)

        def internal_error(ref: ConversationRef) -> None:
            self.fake.inject("error", method=POST, error="internal_error")

        def restricted(ref: ConversationRef) -> None:
            self.fake.inject("error", method=POST, error="restricted_action")

        def not_in_channel(ref: ConversationRef) -> None:
            self.fake.set_channel(str(ref.parent_conversation_id), is_member=False)

        def root_deleted(ref: ConversationRef) -> None:
            self.fake.delete_message(str(ref.parent_conversation_id), str(ref.conversation_id))

        def channel_deleted(ref: ConversationRef) -> None:
            self.fake.set_channel(str(ref.parent_conversation_id), deleted=True)

        return [
            ErrorCase("server-error", server_error, "retryable", None),
            ErrorCase("internal-error", internal_error, "retryable", None),
            ErrorCase("restricted-action", restricted, "permanent", "restricted-action"),
            ErrorCase("not-in-channel", not_in_channel, "permanent", "not-in-channel"),
            ErrorCase("thread-root-deleted", root_deleted, "destination-gone", "destination-gone"),
            ErrorCase("channel-deleted", channel_deleted, "destination-gone", "destination-gone"),
        ]

    def set_state(self, ref: ConversationRef, state: ConversationState) -> None:
        if state == "deleted":
            self.fake.delete_message(str(ref.parent_conversation_id), str(ref.conversation_id))
        elif state == "archived":
            self.fake.set_channel(str(ref.parent_conversation_id), is_archived=True)
        else:
            raise NotApplicable("slack: a thread cannot be closed or locked")

    def rotate_token(self) -> None:
        token = f"xoxb-rotated-{next(self._rotations)}"
        self._tokens.append(token)
        self.fake.set_token(token)
        self.token_path.write_text(token + "\n")
