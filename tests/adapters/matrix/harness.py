"""The Matrix platform for the adapter conformance suite (`tests/adapters/conformance/`, coming from the kit
branch): this module implements the harness sketch of ADAPTERS.md against the real Synapse of the test session, so
plugging it into the suite's parametrisation is one entry. Until the suite lands, `test_harness.py` drives it.

Conversations: `new_conversation` makes a room (the bot invited and joined); child conversations are threads.
`landed` reads a thread through `/relations` and a room's main timeline through `/messages`; `landed_outside` of a
thread is the room's main timeline without the thread roots tether posted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bindings.model import ConversationRef
from tests.fakes.matrix_proxy import MatrixProxy
from tests.support.matrix_world import DEFAULT_LIMITS, MatrixHome

ROOT_PREFIX = "\N{ROBOT FACE} "
FaultKind = Literal["lose-answer", "5xx", "429", "timeout"]
State = Literal["archived", "closed", "deleted"]


@dataclass(frozen=True)
class Landed:
    conversation_id: str
    text: str
    message_id: str
    sender: str | None


@dataclass(frozen=True)
class ErrorCase:
    """A destination made unusable in one way, and what a delivery to it must end as."""

    name: str
    make: Callable[[MatrixHarness], ConversationRef]
    outcome: Literal["destination-gone", "permanent"]
    reason: str


class MatrixHarness:
    channel = "matrix"
    unit: Literal["chars", "utf16", "bytes"] = "bytes"
    max_chunk = 30_000
    lost_answer: Literal["idempotency-key", "reconcile", "policy"] = "idempotency-key"
    identity: Literal["full", "username", "prefix", "none"] = "prefix"
    supports_child = True

    def __init__(self, home: MatrixHome) -> None:
        self.home = home
        self.proxy: MatrixProxy | None = None
        self.token_path = Path()
        self._bot = home.bot

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self, tmp_path: Path) -> None:
        self.proxy = MatrixProxy(self.home.server.base_url).start()
        self._bot = self.home.admin.login(self.home.bot)  # its own device: rotations below keep it
        self.token_path = tmp_path / "matrix.token"
        self.token_path.write_text(self._bot.access_token + "\n")

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None

    def config_toml(self) -> str:
        assert self.proxy is not None, "start() first"
        return ("[channels.matrix]\n"
                f'homeserver = "{self.proxy.base_url}"\n'
                "[channels.matrix.accounts.default]\n"
                f'accessToken = "file:{self.token_path}"\n'
                f'userId = "{self._bot.user_id}"\n' + DEFAULT_LIMITS)

    def secrets(self) -> list[str]:
        return [self._bot.access_token]

    # -- conversations ------------------------------------------------------------------------------------------

    def new_conversation(self, label: str) -> ConversationRef:
        room = self.home.admin.create_room(self.home.human, label, invite=[self.home.bot])
        return ConversationRef(channel=self.channel, conversation_id=room)

    def parent_of(self, ref: ConversationRef) -> ConversationRef:
        room = ref.parent_conversation_id or ref.conversation_id
        return ConversationRef(channel=self.channel, account_id=ref.account_id, conversation_id=room)

    def landed(self, ref: ConversationRef) -> list[Landed]:
        admin, reader = self.home.admin, self.home.human
        if ref.parent_conversation_id and ref.conversation_id:
            events = admin.thread(reader, ref.parent_conversation_id, ref.conversation_id)
            where = ref.conversation_id
        else:
            events = admin.main_timeline(reader, ref.conversation_id or "")
            where = ref.conversation_id or ""
        return [Landed(where, e["content"].get("body", ""), e["event_id"], e.get("sender")) for e in events]

    def landed_outside(self, ref: ConversationRef) -> list[Landed]:
        if not ref.parent_conversation_id:
            return []  # a room has no outside
        room = ref.parent_conversation_id
        return [Landed(room, e["content"].get("body", ""), e["event_id"], e.get("sender"))
                for e in self.home.admin.main_timeline(self.home.human, room)
                if not (e.get("sender") == self._bot.user_id and e["content"].get("body", "").startswith(ROOT_PREFIX))]

    # -- faults and states --------------------------------------------------------------------------------------

    def fault(self, kind: FaultKind, *, count: int = 1, retry_after_s: float = 0.2) -> None:
        assert self.proxy is not None, "start() first"
        self.proxy.add(kind, times=count, retry_after_s=retry_after_s, delay_s=0.2)

    def set_state(self, ref: ConversationRef, state: State) -> None:
        """archived: the room upgraded to one the bot may not join; closed: power levels forbid the bot;
        deleted: the thread root redacted (a thread) or the bot kicked (a room)."""
        admin, human = self.home.admin, self.home.human
        room = ref.parent_conversation_id or ref.conversation_id or ""
        if state == "archived":
            admin.upgrade(human, room)
        elif state == "closed":
            admin.set_power(human, room, events_default=50)
        elif ref.parent_conversation_id and ref.conversation_id:
            admin.redact(human, room, ref.conversation_id)
        else:
            admin.kick(human, room, self.home.bot)

    def error_cases(self) -> list[ErrorCase]:
        def kicked(h: MatrixHarness) -> ConversationRef:
            ref = h.new_conversation("kicked")
            h.set_state(ref, "deleted")
            return ref

        def muted(h: MatrixHarness) -> ConversationRef:
            ref = h.new_conversation("muted")
            h.set_state(ref, "closed")
            return ref

        def stranded(h: MatrixHarness) -> ConversationRef:
            ref = h.new_conversation("stranded")
            h.set_state(ref, "archived")
            return ref

        def never_joined(h: MatrixHarness) -> ConversationRef:
            return ConversationRef(channel=h.channel, conversation_id="!never:tether.test")

        return [ErrorCase("bot kicked", kicked, "destination-gone", "destination-gone"),
                ErrorCase("power levels", muted, "permanent", "forbidden"),
                ErrorCase("upgraded, cannot join", stranded, "destination-gone", "destination-gone"),
                ErrorCase("never joined", never_joined, "destination-gone", "destination-gone")]

    def rotate_token(self) -> None:
        """A new access token for the same device (so the homeserver's transaction memory stays)."""
        self._bot = self.home.admin.login(self._bot, device_id=self._bot.device_id)
        self.token_path.write_text(self._bot.access_token + "\n")
