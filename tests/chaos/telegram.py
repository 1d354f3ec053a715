"""The Telegram chaos run: completions into the topics of a forum, group chats and a private chat through real
router, Telegram and sweeper processes against the local Bot API (its own process), while it fails.

The Bot API has no idempotency key and no way to read a chat back, so tether's promise on Telegram depends on
whether answers get lost (README, "Telegram"):

- `lost_answers=False`: the API answers 4 % of sendMessage requests with a 5xx *before* storing anything, 2 % with
  a 429 (`retry_after` 1 s), drops 1 % of connections before processing; router and sweeper processes are SIGKILLed
  every `kill_interval_s` (a killed Telegram worker is a lost answer too, so those are left alone). Expected:
  0 lost, 0 duplicated, nothing outside its conversation, dead letters only for the closed and the deleted topic.
- `lost_answers=True`: the same, plus 1 % of sends stored and their answer lost (dropped connection) and 1 % stored
  and answered 500. With `unknownSend = "resend"`, each such send is sent again once: expected 0 lost, and exactly
  as many duplicates as the API's log shows stored sends whose answer did not arrive.

The fake's flood limits are scaled up (per chat 20/s burst 5, per group 600/min, 300/s for the bot; tether is
configured with the same figures) so a run of a few thousand events ends in minutes; the rate-limit benchmark
(`tests/perf/telegram_ratelimit.py`) measures the real-sized limits' handling.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import redis

from adapters.chunking import split_message
from adapters.delivery.deadletter import DeadLetterQueue
from adapters.payloads import delivery_id_for
from bindings.config import load_config
from bindings.connection import connect
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from router.enqueue import enqueue_completions
from tests.chaos.processes import Supervisor
from tests.chaos.run import Progress, Terminals, secrets_in_logs, start_redis, wait_until
from tests.fakes.telegram_model import Message, RequestRecord
from tests.fakes.telegram_remote import FakeTelegramControl, FakeTelegramProcess
from workers.redis_server import RedisServer

TOKEN = "424242:chaos-telegram-token"
CHANNEL = "telegram"
MAX_UTF16 = 4096
Kind = Literal["topic", "group", "unbound", "closed", "deleted"]


@dataclass
class TelegramChaosSettings:
    events: int = 3000
    seed: int = 11
    lost_answers: bool = False
    routers: int = 2
    telegram_workers: int = 3
    kill_interval_s: float = 2.0
    rate_per_s: float = 40.0
    topics: int = 12
    groups: int = 3
    fault_5xx_before: float = 0.04
    fault_429: float = 0.02
    fault_disconnect: float = 0.01
    fault_lost: float = 0.01  # lost_answers only: stored, connection dropped
    fault_500_after: float = 0.01  # lost_answers only: stored, answered 500
    retry_after_s: float = 1.0
    settle_timeout_s: float = 180.0
    work_dir: Path | None = None
    keep_work_dir: bool = False
    progress: bool = False


@dataclass(frozen=True)
class Session:
    key: str
    kind: Kind
    chat_id: int
    thread_id: int | None  # where its completions must land (None: the chat itself / General)
    requester: ConversationRef
    destination: ConversationRef

    @property
    def dead_reason(self) -> str | None:
        return {"closed": "topic-closed", "deleted": "destination-gone"}.get(self.kind)


@dataclass(frozen=True)
class Planned:
    index: int
    session: Session
    text: str
    twice: bool

    @property
    def event_id(self) -> str:
        return f"v1:{self.session.key}:tg-run-{self.index}"

    @property
    def delivery_id(self) -> str:
        return delivery_id_for(self.event_id, self.session.destination)

    def wire(self) -> dict[str, Any]:
        r = self.session.requester
        return {"eventId": self.event_id, "kind": "task_completion", "targetSessionKey": self.session.key,
                "requester": {"channel": CHANNEL, "accountId": "default", "conversationId": r.conversation_id,
                              "parentConversationId": r.parent_conversation_id},
                "spawnMode": "session", "failClosed": False, "content": {"text": self.text},
                "identity": {"username": f"agent-{self.session.key[-3:]}"},
                "createdAt": int(time.time() * 1000)}


def marker(index: int) -> str:
    return f"[tg e{index}]"


def build_world(fake: FakeTelegramControl, svc: SessionBindingService, s: TelegramChaosSettings) -> list[Session]:
    forum = fake.add_chat("supergroup", title="agents", is_forum=True)
    forum_ref = ConversationRef(channel=CHANNEL, conversation_id=str(forum.id))
    sessions: list[Session] = []

    def child(n: int, kind: Kind) -> Session:
        key = f"agent:main:subagent:tg-{n:03d}"
        rec = svc.bind(target_session_key=key, target_kind="subagent", placement="child", label=f"chaos {n}",
                       conversation=ConversationRef(channel=CHANNEL, parent_conversation_id=str(forum.id)))
        return Session(key, kind, forum.id, int(rec.metadata["topicId"]), forum_ref, rec.conversation)

    sessions += [child(n, "topic") for n in range(s.topics)]
    closed, deleted = child(900, "closed"), child(901, "deleted")
    assert closed.thread_id is not None and deleted.thread_id is not None
    fake.set_topic(forum.id, closed.thread_id, "closed")
    fake.set_topic(forum.id, deleted.thread_id, "deleted")
    sessions += [closed, deleted]
    for n in range(s.groups):
        group = fake.add_chat("supergroup", title=f"team {n}")
        ref = ConversationRef(channel=CHANNEL, conversation_id=str(group.id))
        key = f"agent:main:subagent:tg-g{n:02d}"
        svc.bind(target_session_key=key, target_kind="subagent", conversation=ref)
        sessions.append(Session(key, "group", group.id, None, ref, ref))
    private = fake.add_chat("private", title="alice")
    ref = ConversationRef(channel=CHANNEL, conversation_id=str(private.id))
    sessions.append(Session("agent:main:subagent:tg-unbound", "unbound", private.id, None, ref, ref))
    return sessions


def plan(sessions: list[Session], n: int, rng: random.Random) -> list[Planned]:
    # The closed topic's binding stays (its events die `topic-closed`); the deleted one's ends with its first event,
    # after which the session's completions fall back (explicitly) to the requester: so it gets one event only.
    dead = [x for x in sessions if x.kind == "closed"] * 2 + [x for x in sessions if x.kind == "deleted"]
    live = [x for x in sessions if not x.dead_reason]
    owners = dead + [rng.choice(live) for _ in range(max(0, n - len(dead)))]
    rng.shuffle(owners)
    out = []
    for i, session in enumerate(owners[:n]):
        words = rng.randint(500, 700) if rng.random() < 0.03 else rng.randint(3, 25)  # long: two chunks
        text = f"{marker(i)} done: " + " ".join(f"e{i}w{j}" for j in range(words))
        out.append(Planned(i, session, text, twice=rng.random() < 0.02))
    return out


@dataclass
class Verdict:
    expected_chunks: int
    lost: int
    duplicates: int
    misplaced: int
    in_general: int
    strays: int
    delivered: int
    expected_delivered: int
    dead: dict[str, int]
    expected_dead: dict[str, int]
    lost_answers: int  # stored sends whose answer did not arrive: the duplicates "resend" allows

    def ok(self, *, lost_answers: bool) -> bool:
        allowed = self.lost_answers if lost_answers else 0
        return (self.lost == 0 and self.duplicates == allowed and self.misplaced == 0 and self.in_general == 0
                and self.strays == 0 and self.delivered == self.expected_delivered and self.dead == self.expected_dead)


def verify(events: list[Planned], messages: list[Message], requests: list[RequestRecord],
           statuses: dict[str, str], letters: dict[str, str]) -> Verdict:
    by_index = {e.index: e for e in events}
    copies: dict[tuple[int, str], int] = {}
    misplaced = strays = in_general = 0
    for m in messages:
        if m.service:
            continue
        text = m.text
        if not text.startswith("[tg e") and not text.startswith("e"):
            strays += 1
            continue
        index = _index_of(text)
        event = by_index.get(index) if index is not None else None
        if event is None:
            strays += 1
            continue
        s = event.session
        if (m.chat_id, m.thread_id) != (s.chat_id, s.thread_id):
            misplaced += 1
            if m.thread_id is None and s.thread_id is not None:
                in_general += 1
            continue
        assert index is not None
        copies[(index, text)] = copies.get((index, text), 0) + 1
    expected_chunks = lost = duplicates = 0
    for e in events:
        if e.session.dead_reason:
            continue
        for chunk in split_message(e.text, MAX_UTF16):
            expected_chunks += 1
            n = copies.pop((e.index, chunk), 0)
            lost += n == 0
            duplicates += max(0, n - 1)
    strays += sum(copies.values())  # text of no expected chunk
    dead: dict[str, int] = {}
    for e in events:
        reason = letters.get(e.delivery_id)
        if reason is not None:
            dead[reason] = dead.get(reason, 0) + 1
    expected_dead: dict[str, int] = {}
    for e in events:
        if e.session.dead_reason:
            expected_dead[e.session.dead_reason] = expected_dead.get(e.session.dead_reason, 0) + 1
    lost_answers = sum(1 for r in requests if r.method == "sendMessage" and r.message_id is not None
                       and r.status != 200)
    return Verdict(expected_chunks, lost, duplicates, misplaced, in_general, strays,
                   delivered=sum(1 for e in events if statuses.get(e.delivery_id) == "delivered"),
                   expected_delivered=sum(1 for e in events if not e.session.dead_reason),
                   dead=dict(sorted(dead.items())), expected_dead=dict(sorted(expected_dead.items())),
                   lost_answers=lost_answers)


def _index_of(text: str) -> int | None:
    """Every word of an event's text names it (`e12w3`), so a chunk without the marker is still traced."""
    if text.startswith("[tg e"):
        head = text[5:text.find("]")]
        return int(head) if head.isdigit() else None
    word = text.split(" ", 1)[0]
    head = word[1:word.find("w")] if "w" in word else ""
    return int(head) if head.isdigit() else None


def write_config(work: Path, api_base: str) -> Path:
    token_path = work / "telegram-token"
    token_path.write_text(TOKEN + "\n")
    config = work / "tether.toml"
    config.write_text(f"""
[channels.telegram]
apiBase = "{api_base}"
unknownSend = "resend"

[channels.telegram.threadBindings]
spawnSubagentSessions = true

[channels.telegram.rateLimit]
perConversationPerSecond = 20
perConversationBurst = 5
perGroupPerMinute = 600
globalPerSecond = 300

[channels.telegram.accounts.default]
token = "file:{token_path}"

[delivery]
leaseS = 5
reaperIntervalS = 1
backoffMinS = 0.3
backoffMaxS = 5.0
maxAttempts = 12
""")
    return config


FAKE_LIMITS = ["--per-chat-per-s", "20", "--per-chat-burst", "5", "--per-group", "600", "--per-group-window-s", "60",
               "--global-limit", "300"]


def inject_faults(control: FakeTelegramControl, s: TelegramChaosSettings) -> None:
    control.inject("status", route="sendMessage", status=502, probability=s.fault_5xx_before)
    control.inject("rate_limit", route="sendMessage", probability=s.fault_429, retry_after_s=s.retry_after_s)
    control.inject("disconnect", route="sendMessage", probability=s.fault_disconnect)
    if s.lost_answers:
        control.inject("response_lost", route="sendMessage", probability=s.fault_lost)
        control.inject("status", route="sendMessage", status=500, stage="after", probability=s.fault_500_after)


def run_telegram_chaos(s: TelegramChaosSettings) -> dict[str, Any]:
    progress = Progress(s.progress)
    started = time.monotonic()
    work = Path(s.work_dir or tempfile.mkdtemp(prefix="tether-tg-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(s.seed)
    server = RedisServer(appendonly=True, directory=work / "redis")
    fake = FakeTelegramProcess(work / "fake-telegram", args=["--token", TOKEN, "--seed", str(s.seed), *FAKE_LIMITS])
    killable: Supervisor | None = None
    steady: Supervisor | None = None
    client: redis.Redis | None = None
    passed = False
    summary: dict[str, Any] = {}
    try:
        start_redis(server)
        fake.start()
        config_path = write_config(work, fake.base_url)
        config = load_config(config_path)
        client = connect(server.url)
        sessions = build_world(fake.control, SessionBindingService(client, config), s)
        events = plan(sessions, s.events, rng)
        progress(f"world ready: {len(sessions)} sessions, {len(events)} events, work dir {work}")
        env = {**os.environ, "TETHER_REDIS_URL": server.url, "TETHER_CONFIG": str(config_path),
               "TETHER_LOG_LEVEL": "INFO"}
        (work / "logs").mkdir(exist_ok=True)
        killable = Supervisor(env, work / "logs")
        steady = Supervisor(env, work / "logs")
        for i in range(s.routers):
            killable.add(f"router-{i + 1}", ["worker", "router"])
        killable.add("sweeper-1", ["sweeper", "--interval", "1"])
        for i in range(s.telegram_workers):
            steady.add(f"telegram-{i + 1}", ["worker", "telegram"])
        inject_faults(fake.control, s)
        killable.start_all()
        steady.start_all()

        order = [e for e in events for _ in range(2 if e.twice else 1)]
        terminals = Terminals(client, [e.delivery_id for e in events])
        t0 = time.monotonic()
        next_kill = t0 + s.kill_interval_s
        sent = 0
        batch = 10
        while sent < len(order) or terminals.refresh() < 0.97 * terminals.total:
            now = time.monotonic()
            if sent < len(order) and now >= t0 + sent / s.rate_per_s:
                enqueue_completions(client, [e.wire() for e in order[sent:sent + batch]])
                sent += batch
            if now >= next_kill:
                victim = killable.kill_random(rng)
                next_kill += s.kill_interval_s
                progress(f"SIGKILL {victim.name if victim else '-'}; terminal {terminals.done}/{terminals.total}")
            killable.restart_exited()
            steady.restart_exited()
            if now - t0 > s.settle_timeout_s + len(order) / s.rate_per_s:
                break
            time.sleep(0.05)
        chaos_s = time.monotonic() - t0
        def restart() -> None:
            killable.restart_exited()
            steady.restart_exited()

        all_terminal = wait_until(lambda: terminals.refresh() == terminals.total, timeout_s=s.settle_timeout_s,
                                  tick=restart)
        killable.stop_all()
        steady.stop_all()
        snapshot = fake.control.snapshot()
        statuses = {}
        for e in events:
            raw = client.hget(f"tether:delivery:{e.delivery_id}", "status")
            statuses[e.delivery_id] = raw.decode() if isinstance(raw, bytes) else ""
        letters = {letter.id: letter.reason for letter in DeadLetterQueue(client).letters()}
        verdict = verify(events, snapshot.messages, snapshot.requests, statuses, letters)
        leaks = secrets_in_logs(work / "logs", [TOKEN])
        passed = verdict.ok(lost_answers=s.lost_answers) and all_terminal and not leaks
        faults: dict[str, int] = {}
        for r in snapshot.requests:
            if r.injected:
                label = f"{r.injected}-{r.status}"
                faults[label] = faults.get(label, 0) + 1
        summary = {
            "ok": passed, "platform": "telegram", "lostAnswers": s.lost_answers, "events": len(events),
            **{k: v for k, v in asdict(verdict).items()},
            "duplicatesAllowed": verdict.lost_answers if s.lost_answers else 0,
            "allTerminalBeforeDeadline": all_terminal, "secretsInLogs": leaks,
            "kills": killable.kills(), "faultsInjected": dict(sorted(faults.items())),
            "sendRequests": sum(1 for r in snapshot.requests if r.method == "sendMessage"),
            "durationS": {"chaos": round(chaos_s, 1), "total": round(time.monotonic() - started, 1)},
            "fakeLimits": "per chat 20/s burst 5, per group 600/min, 300/s per bot (scaled up; tether the same)",
            "workDir": str(work),
        }
        return summary
    finally:
        for sup in (killable, steady):
            if sup is not None:
                sup.stop_all()
        if client is not None:
            client.close()
        fake.stop()
        server.stop()
        if passed and not s.keep_work_dir and s.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        elif summary:
            (work / "summary.json").write_text(json.dumps(summary, indent=2))
