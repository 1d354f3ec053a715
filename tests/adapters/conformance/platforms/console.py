"""The console "platform": no HTTP API, so no answer to lose, no rate limit, no token, no conversation states. Its
workers append every message to a JSON-lines file (`TETHER_CONSOLE_JSONL`), which is what `landed` reads. The cases
it cannot have are skipped, naming what it lacks."""

from __future__ import annotations

import json
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

ROOT = "general"


class ConsoleHarness:
    channel = "console"
    unit = "utf16"
    max_chunk = 4000
    lost_answer = "idempotency-key"
    identity = "full"
    supports_child = True
    states: dict[ConversationState, StateOutcome] = {}

    def __init__(self) -> None:
        self.jsonl = Path()
        self._made: set[str] = set()
        self._n = 0

    def start(self, tmp_path: Path, redis_url: str) -> None:
        self.jsonl = tmp_path / "console.jsonl"
        self.jsonl.touch()

    def stop(self) -> None:
        pass

    def config_toml(self) -> str:
        return "[channels.console.threadBindings]\nenabled = true\nspawnSubagentSessions = true\n"

    def worker_env(self) -> dict[str, str]:
        return {"TETHER_CONSOLE_JSONL": str(self.jsonl)}

    def secrets(self) -> list[str]:
        return []

    def new_conversation(self, label: str) -> ConversationRef:
        self._n += 1
        conversation_id = f"{ROOT}/{label}-{self._n}"
        self._made.add(conversation_id)
        return ConversationRef(channel=self.channel, conversation_id=conversation_id, parent_conversation_id=ROOT)

    def parent_of(self, ref: ConversationRef) -> ConversationRef:
        return ConversationRef(channel=self.channel, conversation_id=ref.parent_conversation_id or ROOT)

    def _lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.jsonl.read_text().splitlines() if line.strip()]

    def _landed(self, line: dict[str, object]) -> Landed:
        conversation = line["conversation"]
        assert isinstance(conversation, dict)
        username = line.get("username")
        return Landed(conversation_id=str(conversation["conversationId"]), text=str(line["text"]),
                      message_id=str(line["messageId"]), sender=str(username) if username else None)

    def landed(self, ref: ConversationRef) -> list[Landed]:
        found = [self._landed(line) for line in self._lines()]
        return [m for m in found if m.conversation_id == ref.conversation_id]

    def landed_outside(self, ref: ConversationRef) -> list[Landed]:
        # Child binds make "<parent>/thread-<n>" conversations: those are conversations of the suite too.
        return [m for m in (self._landed(line) for line in self._lines())
                if m.conversation_id not in self._made and "/thread-" not in m.conversation_id]

    def fault(self, kind: FaultKind, *, count: int = 1, retry_after_s: float = 0.2) -> None:
        raise NotApplicable(f"console: no platform API, so no {kind} answer")

    def unfired_faults(self) -> int:
        return 0

    def rate_limited_answers(self) -> list[RateLimitAnswer]:
        return []

    def error_cases(self) -> list[ErrorCase]:
        return []

    def set_state(self, ref: ConversationRef, state: ConversationState) -> None:
        raise NotApplicable(f"console: conversations cannot be {state}")

    def rotate_token(self) -> None:
        raise NotApplicable("console: no token")
