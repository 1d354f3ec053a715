"""Generic webhooks through the local Standard Webhooks receiver (`tests/fakes/webhook_receiver.py`, in this process,
over real HTTP on loopback), which verifies every request with `standardwebhooks`, dedupes by `webhook-id` (the
idempotency key a lost answer relies on) and creates conversations on `tether.conversation.create`.

Conversations are the receiver's own ids under one parent ("lobby"); a gone conversation answers 410 (binding ended
`endpoint-gone`). The "token" is the signing secret: rotating it changes the secret file and the receiver's secret
together. A receiver has no archived or closed state.
"""

from __future__ import annotations

import base64
import itertools
import os
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
from tests.fakes.webhook_receiver import Fault, WebhookReceiver

PARENT = "lobby"
TIMEOUT_FAULT_S = 11.0  # longer than the adapter's 10 s request timeout


class WebhookHarness:
    channel = "webhook"
    unit = "chars"
    max_chunk = 4000
    lost_answer = "idempotency-key"
    identity = "full"
    supports_child = True
    states: dict[ConversationState, StateOutcome] = {
        "deleted": StateOutcome("dead", reason="destination-gone", binding_ends=True),  # 410 → endpoint-gone
    }

    def __init__(self) -> None:
        self._secrets = [_new_secret()]
        self.receiver = WebhookReceiver(self._secrets[0], dedupe=True, provisioning=True)
        self.secret_path = Path()
        self._made: set[str] = set()
        self._n = itertools.count(1)

    def start(self, tmp_path: Path, redis_url: str) -> None:
        self.secret_path = tmp_path / "webhook.secret"
        self.secret_path.write_text(self._secrets[0] + "\n")
        self.receiver.start()

    def stop(self) -> None:
        self.receiver.stop()

    def config_toml(self) -> str:
        return ("[channels.webhook.threadBindings]\nspawnSubagentSessions = true\n"
                f'[channels.webhook.accounts.default]\nurl = "{self.receiver.url}"\n'
                f'secret = "file:{self.secret_path}"\n')

    def worker_env(self) -> dict[str, str]:
        return {}

    def secrets(self) -> list[str]:
        return list(self._secrets)

    def new_conversation(self, label: str) -> ConversationRef:
        conversation_id = f"{label}-{next(self._n)}"
        self._made.add(conversation_id)
        return ConversationRef(channel=self.channel, conversation_id=conversation_id, parent_conversation_id=PARENT)

    def parent_of(self, ref: ConversationRef) -> ConversationRef:
        return ConversationRef(channel=self.channel, account_id=ref.account_id,
                               conversation_id=ref.parent_conversation_id or PARENT)

    def _landed(self) -> list[Landed]:
        return [Landed(conversation_id=m.conversation_id or "", text=m.text, message_id=m.message_id,
                       sender=m.username) for m in self.receiver.messages()]

    def landed(self, ref: ConversationRef) -> list[Landed]:
        return [m for m in self._landed() if m.conversation_id == ref.conversation_id]

    def landed_outside(self, ref: ConversationRef) -> list[Landed]:
        created = set(self.receiver.state.conversations)  # child conversations the receiver made
        return [m for m in self._landed() if m.conversation_id not in self._made | created]

    def fault(self, kind: FaultKind, *, count: int = 1, retry_after_s: float = 0.2) -> None:
        self.receiver.fault({
            "lose-answer": Fault(kind="drop", count=count),
            "5xx": Fault(kind="status", status=503, count=count),
            "429": Fault(kind="status", status=429, retry_after=f"{retry_after_s:g}", count=count),
            "timeout": Fault(kind="delay", delay_s=TIMEOUT_FAULT_S, count=count),
        }[kind])

    def unfired_faults(self) -> int:
        return self.receiver.unfired_faults()

    def rate_limited_answers(self) -> list[RateLimitAnswer]:
        # The receiver has no limits of its own: every 429 it gives is one the suite asked for.
        return [RateLimitAnswer(int(r.at * 1000), r.fault == "status") for r in self.receiver.requests()
                if r.answered == 429]

    def error_cases(self) -> list[ErrorCase]:
        def status(code: int, count: int = 1, retry_after: str | None = None):  # type: ignore[no-untyped-def]
            def provoke(ref: ConversationRef) -> None:
                self.receiver.fault(Fault(kind="status", status=code, count=count, retry_after=retry_after,
                                          type="tether.message"))
            return provoke

        def gone(ref: ConversationRef) -> None:
            assert ref.conversation_id is not None
            self.receiver.set_gone(ref.conversation_id)

        return [
            ErrorCase("server-error", status(500, count=2), "retryable", None),
            ErrorCase("unavailable-with-retry-after", status(503, retry_after="0.2"), "retryable", None),
            ErrorCase("bad-gateway", status(502), "retryable", None),
            ErrorCase("bad-request", status(400), "permanent", "http-400"),
            ErrorCase("unauthorized", status(401), "permanent", "http-401"),
            ErrorCase("gone", gone, "destination-gone", "destination-gone"),
        ]

    def set_state(self, ref: ConversationRef, state: ConversationState) -> None:
        if state != "deleted":
            raise NotApplicable(f"webhook: a receiver's conversation cannot be {state} (only gone: 410)")
        assert ref.conversation_id is not None
        self.receiver.set_gone(ref.conversation_id)

    def rotate_token(self) -> None:
        """The operator rotates the signing secret: the receiver accepts only the new one, the file holds it."""
        new = _new_secret()
        self._secrets.append(new)
        self.receiver.set_secret(new)
        self.secret_path.write_text(new + "\n")


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()
