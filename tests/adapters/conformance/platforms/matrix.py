"""Matrix against a real Synapse (`tests/support/synapse.py`, the test process's one homeserver) behind the fault
proxy (`tests/fakes/matrix_proxy.py`, real HTTP on loopback).

Conversations are rooms (the bot invited and joined); a child bind makes a thread in the room. `landed` reads a
thread through `/relations` and a room's main timeline through `/messages`; `landed_outside` of a thread is its room's
main timeline without the thread roots tether posted. Identity is the optional "<name>: " prefix, switched on here.
A lost answer, a 5xx, a 429 or a stalled answer comes from the proxy; the homeserver itself refuses a muted bot
(power levels), a kicked one, and a room upgraded away. The token is rotated by a new login, the old one logged out.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

from bindings.model import ConversationRef
from tests.adapters.conformance.harness import (
    ConversationState,
    ErrorCase,
    FaultKind,
    Landed,
    RateLimitAnswer,
    StateOutcome,
)
from tests.fakes.matrix_proxy import MatrixProxy
from tests.support.matrix_world import MatrixHome, shared_home
from tests.support.synapse import User

ACCOUNT = "default"
ROOT_PREFIX = "\N{ROBOT FACE} "


class MatrixHarness:
    channel = "matrix"
    unit = "bytes"
    # Set through `maxChunkChars` (the default is 30,000): the chunking case sends 2.5 limits in one completion
    # event, and 75 KB would be over the router's 64 KiB event limit in the suite's process.
    max_chunk = 20_000
    lost_answer = "idempotency-key"
    identity = "prefix"
    supports_child = True
    states: dict[ConversationState, StateOutcome] = {
        # upgraded, the bot invited to the replacement: followed there; the old binding ends `room-upgraded`
        "archived": StateOutcome("delivered", lands=False, binding_ends=True),
        "closed": StateOutcome("dead", reason="forbidden"),  # power levels forbid the bot to post
        "deleted": StateOutcome("dead", reason="destination-gone", binding_ends=True),  # the bot kicked
    }

    def __init__(self) -> None:
        self.home: MatrixHome | None = None
        self.proxy: MatrixProxy | None = None
        self.token_path = Path()
        self.bot = User("", "", "", "")
        self._tokens: list[str] = []
        self._names = itertools.count(1)
        self._t0 = time.monotonic()

    @property
    def _home(self) -> MatrixHome:
        assert self.home is not None, "start() first"
        return self.home

    @property
    def _proxy(self) -> MatrixProxy:
        assert self.proxy is not None, "start() first"
        return self.proxy

    def start(self, tmp_path: Path, redis_url: str) -> None:
        self.home = shared_home()
        self.proxy = MatrixProxy(self.home.server.base_url).start()
        self.bot = self.home.admin.login(self.home.bot)  # a device of its own: the rotation logs it out
        self._tokens = [self.bot.access_token]
        self.token_path = tmp_path / "matrix.token"
        self.token_path.write_text(self.bot.access_token + "\n")

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None

    def config_toml(self) -> str:
        return ("[channels.matrix]\n"
                f'homeserver = "{self._proxy.base_url}"\n'
                "identityPrefix = true\n"
                f"maxChunkChars = {self.max_chunk}\n"
                "[channels.matrix.threadBindings]\nenabled = true\nspawnSubagentSessions = true\n"
                f"[channels.matrix.accounts.{ACCOUNT}]\n"
                f'accessToken = "file:{self.token_path}"\n'
                f'userId = "{self.bot.user_id}"\n'
                "[channels.matrix.rateLimit]\n"
                "globalPerSecond = 200\nperConversationPerSecond = 200\nperConversationBurst = 50\n")

    def worker_env(self) -> dict[str, str]:
        return {}

    def secrets(self) -> list[str]:
        return list(self._tokens)

    # -- conversations ------------------------------------------------------------------------------------------

    def new_conversation(self, label: str) -> ConversationRef:
        home = self._home
        room = home.admin.create_room(home.human, f"{label}-{next(self._names)}", invite=[home.bot])
        return ConversationRef(channel=self.channel, account_id=ACCOUNT, conversation_id=room)

    def parent_of(self, ref: ConversationRef) -> ConversationRef:
        room = ref.parent_conversation_id or ref.conversation_id
        return ConversationRef(channel=self.channel, account_id=ACCOUNT, conversation_id=room)

    @staticmethod
    def _landed(where: str, event: dict[str, object]) -> Landed:
        content = event.get("content")
        body = content.get("body", "") if isinstance(content, dict) else ""
        return Landed(conversation_id=where, text=str(body), message_id=str(event["event_id"]), sender=None)

    def landed(self, ref: ConversationRef) -> list[Landed]:
        home = self._home
        if ref.parent_conversation_id and ref.conversation_id:
            events = home.admin.thread(home.human, ref.parent_conversation_id, ref.conversation_id)
        else:
            events = home.admin.main_timeline(home.human, ref.conversation_id or "")
        return [self._landed(ref.conversation_id or "", e) for e in events]

    def landed_outside(self, ref: ConversationRef) -> list[Landed]:
        if not ref.parent_conversation_id:
            return []  # a room has no outside: every room is one of the suite's
        home = self._home
        room = ref.parent_conversation_id
        return [self._landed(room, e) for e in home.admin.main_timeline(home.human, room)
                if not (e.get("sender") == self.bot.user_id
                        and str(e.get("content", {}).get("body", "")).startswith(ROOT_PREFIX))]

    # -- faults -------------------------------------------------------------------------------------------------

    def fault(self, kind: FaultKind, *, count: int = 1, retry_after_s: float = 0.2) -> None:
        self._proxy.add(kind, times=count, retry_after_s=retry_after_s, delay_s=0.2)

    def unfired_faults(self) -> int:
        return self._proxy.unfired()

    def rate_limited_answers(self) -> list[RateLimitAnswer]:
        return [RateLimitAnswer(int((t - self._t0) * 1000), injected)
                for t, injected in self._proxy.stats.rate_limited]

    def error_cases(self) -> list[ErrorCase]:
        home = self._home

        def server_error(ref: ConversationRef) -> None:
            self._proxy.add("5xx", times=2)

        def muted(ref: ConversationRef) -> None:
            home.admin.set_power(home.human, ref.conversation_id or "", events_default=50)

        def kicked(ref: ConversationRef) -> None:
            home.admin.kick(home.human, ref.conversation_id or "", home.bot)

        return [
            ErrorCase("server-error", server_error, "retryable", None),
            ErrorCase("forbidden", muted, "permanent", "forbidden"),
            ErrorCase("bot-kicked", kicked, "destination-gone", "destination-gone"),
        ]

    def set_state(self, ref: ConversationRef, state: ConversationState) -> None:
        home = self._home
        room = ref.parent_conversation_id or ref.conversation_id or ""
        if state == "archived":
            new_room = home.admin.upgrade(home.human, room)
            home.admin.invite(home.human, new_room, home.bot)
        elif state == "closed":
            home.admin.set_power(home.human, room, events_default=50)
        else:
            home.admin.kick(home.human, room, home.bot)

    def rotate_token(self) -> None:
        """A new login (a new device), and the old token logged out: only the new one works from now on."""
        home = self._home
        old = self.bot
        self.bot = home.admin.login(home.bot)
        self._tokens.append(self.bot.access_token)
        self.token_path.write_text(self.bot.access_token + "\n")
        home.admin.logout(old)
