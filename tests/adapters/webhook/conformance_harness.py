"""The webhook platform for the adapter conformance suite, written against the harness sketch in ADAPTERS.md
(`tests/adapters/conformance/harness.py` is not on main yet): once it lands this module moves to
`tests/adapters/conformance/platforms/webhook.py` and its local record types give way to the suite's.

The platform is the local receiver (`tests.fakes.webhook_receiver`), deduping by `webhook-id` — the idempotency key
the suite's lost-answer cases rely on — and creating conversations on `tether.conversation.create`.
"""

from __future__ import annotations

import base64
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bindings.model import ConversationRef
from tests.fakes.webhook_receiver import Fault, WebhookReceiver

FaultKind = Literal["lose-answer", "5xx", "429", "timeout"]
TIMEOUT_FAULT_S = 11.0  # longer than the adapter's 10 s request timeout


@dataclass(frozen=True)
class Landed:
    conversation_id: str
    text: str
    message_id: str
    sender: str | None


@dataclass(frozen=True)
class ErrorCase:
    """An answer the receiver gives, and what the delivery must become."""

    name: str
    status: int
    outcome: Literal["delivered-after-retry", "dead"]
    reason: str | None  # the dead letter's reason


class WebhookHarness:
    channel = "webhook"
    unit: Literal["chars", "utf16", "bytes"] = "chars"
    max_chunk = 4000
    lost_answer: Literal["idempotency-key", "reconcile", "policy"] = "idempotency-key"
    identity: Literal["full", "username", "prefix", "none"] = "full"
    supports_child = True

    def __init__(self) -> None:
        self.receiver: WebhookReceiver | None = None
        self.secret_path: Path | None = None
        self._secret = ""
        self._ids = itertools.count(1)

    def start(self, tmp_path: Path) -> None:
        self._secret = _new_secret()
        self.secret_path = tmp_path / "webhook.secret"
        self.secret_path.write_text(self._secret)
        self.receiver = WebhookReceiver(self._secret, dedupe=True, provisioning=True).start()

    def stop(self) -> None:
        if self.receiver is not None:
            self.receiver.stop()
            self.receiver = None

    @property
    def _r(self) -> WebhookReceiver:
        if self.receiver is None:
            raise RuntimeError("WebhookHarness is not started")
        return self.receiver

    def config_toml(self) -> str:
        return (f'[channels.webhook.accounts.default]\nurl = "{self._r.url}"\nsecret = "file:{self.secret_path}"\n'
                "[channels.webhook.threadBindings]\nspawnSubagentSessions = true\n")

    def secrets(self) -> list[str]:
        return [self._secret]

    def new_conversation(self, label: str) -> ConversationRef:
        n = next(self._ids)
        return ConversationRef(channel=self.channel, conversation_id=f"{label}-{n}",
                               parent_conversation_id=f"{label}-{n}-parent")

    def parent_of(self, ref: ConversationRef) -> ConversationRef:
        return ConversationRef(channel=self.channel, account_id=ref.account_id,
                               conversation_id=ref.parent_conversation_id)

    def landed(self, ref: ConversationRef) -> list[Landed]:
        return [Landed(conversation_id=m.conversation_id or "", text=m.text, message_id=m.message_id,
                       sender=m.username) for m in self._r.messages() if m.conversation_id == ref.conversation_id]

    def landed_outside(self, ref: ConversationRef) -> list[Landed]:
        return self.landed(self.parent_of(ref)) if ref.parent_conversation_id else []

    def fault(self, kind: FaultKind, *, count: int = 1, retry_after_s: float = 0.2) -> None:
        rule = {
            "lose-answer": Fault(kind="drop", count=count),
            "5xx": Fault(kind="status", status=503, count=count),
            "429": Fault(kind="status", status=429, retry_after=f"{retry_after_s:g}", count=count),
            "timeout": Fault(kind="delay", delay_s=TIMEOUT_FAULT_S, count=count),
        }[kind]
        self._r.fault(rule)

    def error_cases(self) -> list[ErrorCase]:
        return [
            ErrorCase("bad-request", 400, "dead", "http-400"),
            ErrorCase("unauthorized", 401, "dead", "http-401"),
            ErrorCase("gone", 410, "dead", "destination-gone"),
            ErrorCase("bad-gateway", 502, "delivered-after-retry", None),
            ErrorCase("server-error", 500, "delivered-after-retry", None),
        ]

    def inject_error(self, case: ErrorCase) -> None:
        self._r.fault(Fault(kind="status", status=case.status, count=1))

    def set_state(self, ref: ConversationRef, state: Literal["archived", "closed", "deleted"]) -> None:
        if state != "deleted":
            raise NotImplementedError(f"a webhook conversation cannot be {state}: only gone (410)")
        self._r.set_gone(ref.conversation_id or "")

    def rotate_token(self) -> None:
        """The operator rotates the signing secret on both sides; the next send signs with the new one."""
        assert self.secret_path is not None
        self._secret = _new_secret()
        self.secret_path.write_text(self._secret)
        self._r.set_secret(self._secret)


def _new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()
