"""The Slack chaos run: completion events through real router, Slack and sweeper processes against the local Slack
Web API in its own process, while the API fails on purpose, workers are SIGKILLed and Redis crashes once.

    python -m tests.chaos.slack [--events 3000]     (make chaos)
    pytest tests/chaos/test_slack_chaos.py           (the reduced run, part of make test)

The world (`build_world`, before any fault): channels with thread roots a person posted; per channel two sessions
bound to such threads (`placement="current"`) and one child-bound session (tether posted its root); one session
bound to a thread whose root is then deleted (its event: dead `destination-gone`), one bound to a thread of a channel
then archived (dead `channel-archived`), and unbound sessions whose completions fall back to the requester channel's
root. Bound sessions' requester is the thread's channel, so a message leaking into the channel root would be seen.
The dead sessions' events are routed before the run, so the sweeper ending those bindings cannot change their fate.

What breaks: of the API requests (every method), 4 % answer a 5xx before anything happens, 1 % of posts answer a 500
after the message was stored, 1 % lose the answer (the post stored, the connection dropped), 2 % answer 429 with
`Retry-After: 0.5`; a random worker process is SIGKILLed every `kill_interval_s` and started again; Redis is
SIGKILLed once when half of the deliveries are terminal and restarted on its AOF (`appendfsync always`, see run.py).

Verified on Slack's side (the fake's message log, by each message's `tether_delivery` metadata): every chunk of every
event that must be delivered exactly once in its conversation (its thread, or the channel root for a fallback), no
`reply_broadcast`, nothing for the events that must die (one dead letter each with the expected reason), no other
dead letter, exactly one root per child bind, and neither the bot token nor anything like it in the worker logs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import redis

from adapters.chunking import split_message
from adapters.delivery.deadletter import DeadLetterQueue
from adapters.payloads import delivery_id_for
from bindings.config import load_config
from bindings.connection import connect
from bindings.errors import TetherError
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from router.enqueue import enqueue_completions
from router.store import load_decision
from tests.chaos.processes import Supervisor, Worker
from tests.chaos.processes import _kill_group as kill_group
from tests.chaos.run import TMPFS, Terminals, _status, crash_and_restart_redis, secrets_in_logs, start_redis, wait_until
from tests.chaos.verify import LedgerView
from tests.fakes.slack_model import Message
from tests.fakes.slack_remote import FakeSlackControl, FakeSlackProcess
from workers.redis_server import RedisServer

TOKEN = "xoxb-chaos-0000-secret"
CHANNEL = "slack"
MAX_CHUNK = 300  # small, so that a few events are several chunks


@dataclass
class SlackChaosSettings:
    events: int = 3000
    seed: int = 14
    channels: int = 6
    routers: int = 2
    slack_workers: int = 3
    sweepers: int = 1
    kill_interval_s: float = 2.0
    rate_per_s: float = 40.0
    batch: int = 20
    kill_until_fraction: float = 0.97
    settle_timeout_s: float = 180.0
    redis_restarts: int = 1
    fault_5xx_before: float = 0.04
    fault_5xx_after: float = 0.01
    fault_429: float = 0.02
    fault_lose_answer: float = 0.01
    retry_after_s: float = 0.5
    post_per_channel_s: float = 20.0  # the fake's limit; tether paces itself a little under it
    binds_under_faults: int = 20
    # A router SIGKILLed mid-job leaves its event to RQ's abandoned-job recovery (90 s, workers/runner.py): the
    # reduced run spares the routers to stay short; the full run kills every kind of worker.
    kill_routers: bool = True
    work_dir: Path | None = None
    progress: bool = False


@dataclass(frozen=True)
class Session:
    key: str
    kind: str  # thread | child | unbound | deleted | archived
    requester: str  # channel id
    channel: str  # where its messages land: the channel ...
    thread_ts: str | None  # ... and the thread (None: the channel root)

    def destination(self) -> ConversationRef:
        if self.thread_ts is None:
            return ConversationRef(channel=CHANNEL, conversation_id=self.channel)
        return ConversationRef(channel=CHANNEL, conversation_id=self.thread_ts, parent_conversation_id=self.channel)

    @property
    def dead_reason(self) -> str | None:
        return {"deleted": "destination-gone", "archived": "channel-archived"}.get(self.kind)


@dataclass(frozen=True)
class Event:
    index: int
    session: Session
    text: str

    @property
    def event_id(self) -> str:
        return f"v1:{self.session.key}:run-{self.index}"

    @property
    def delivery_id(self) -> str:
        return delivery_id_for(self.event_id, self.session.destination())

    def wire(self) -> dict[str, Any]:
        return {"eventId": self.event_id, "kind": "task_completion", "targetSessionKey": self.session.key,
                "requester": {"channel": CHANNEL, "accountId": "default", "conversationId": self.session.requester},
                "spawnMode": "session", "failClosed": False, "content": {"text": self.text},
                "identity": {"username": self.session.key.rsplit(":", 1)[-1],
                             "avatarUrl": "https://avatars.example.test/a.png"},
                "createdAt": int(time.time() * 1000), "metadata": {"chaos": True}}


def build_world(fake: FakeSlackControl, svc: SessionBindingService, channels: int) -> tuple[list[Session], int]:
    """Sessions, and how many child binds were made (each must leave exactly one root)."""
    sessions: list[Session] = []
    n = iter(range(1, 10_000))

    def bind(channel: str, thread_ts: str | None, kind: str) -> Session:
        key = f"agent:main:subagent:slack-{next(n)}"
        if kind == "child":
            rec = svc.bind(target_session_key=key, target_kind="subagent", placement="child", label=key,
                           conversation=ConversationRef(channel=CHANNEL, parent_conversation_id=channel))
            thread_ts = rec.conversation.conversation_id
        else:
            svc.bind(target_session_key=key, target_kind="subagent",
                     conversation=ConversationRef(channel=CHANNEL, conversation_id=thread_ts,
                                                  parent_conversation_id=channel))
        return Session(key=key, kind=kind, requester=channel, channel=channel, thread_ts=thread_ts)

    ids = [fake.add_channel(f"work-{i}").id for i in range(channels)]
    children = 0
    for cid in ids:
        for t in range(2):
            sessions.append(bind(cid, fake.post(cid, f"thread {t} of {cid}").ts, "thread"))
        sessions.append(bind(cid, None, "child"))
        children += 1
    deleted = bind(ids[0], fake.post(ids[0], "to be deleted").ts, "deleted")
    fake.delete_message(ids[0], str(deleted.thread_ts))
    gone_channel = fake.add_channel("to-be-archived").id
    archived = bind(gone_channel, fake.post(gone_channel, "in a channel to archive").ts, "archived")
    fake.set_channel(gone_channel, is_archived=True)
    sessions += [deleted, archived]
    for cid in ids[:2]:
        key = f"agent:main:subagent:slack-{next(n)}"
        sessions.append(Session(key=key, kind="unbound", requester=cid, channel=cid, thread_ts=None))
    return sessions, children


def plan(sessions: list[Session], count: int, rng: random.Random) -> list[Event]:
    dead = [s for s in sessions if s.dead_reason]
    live = [s for s in sessions if not s.dead_reason]
    owners = dead + [rng.choice(live) for _ in range(count - len(dead))]
    rng.shuffle(owners)
    events = []
    for i, s in enumerate(owners):
        words = rng.randint(60, 200) if rng.random() < 0.05 else rng.randint(3, 20)
        events.append(Event(i, s, f"[chaos e{i}] done: " + " ".join(f"e{i}w{j}" for j in range(words))))
    return events


def write_config(work: Path, api_base: str, s: SlackChaosSettings) -> Path:
    token_path = work / "slack-token"
    token_path.write_text(TOKEN + "\n")
    path = work / "tether.toml"
    path.write_text(f"""
[channels.slack]
apiBase = "{api_base}"
maxChunkChars = {MAX_CHUNK}

[channels.slack.threadBindings]
enabled = true
spawnSubagentSessions = true

[channels.slack.rateLimit]
perConversationPerSecond = {s.post_per_channel_s * 0.9}
perConversationBurst = 5
historyPerMinute = 1200

[channels.slack.accounts.default]
token = "file:{token_path}"

[delivery]
leaseS = 5
reaperIntervalS = 1
backoffMinS = 0.5
backoffMaxS = 10.0
""")
    return path


def inject_faults(fake: FakeSlackControl, s: SlackChaosSettings) -> None:
    fake.configure(fractional_retry_after=True, post_per_channel=[s.post_per_channel_s, 10],
                   method_limits={"conversations.replies": [30, 30], "conversations.history": [30, 30],
                                  "conversations.info": [30, 30], "auth.test": [30, 30]})
    fake.inject("429", probability=s.fault_429, retry_after_s=s.retry_after_s, count=-1)
    for status in (500, 502, 503):
        fake.inject("5xx", status=status, probability=s.fault_5xx_before / 3, count=-1)
    fake.inject("5xx", method="chat.postMessage", status=500, stored=True, probability=s.fault_5xx_after, count=-1)
    fake.inject("lose-answer", probability=s.fault_lose_answer, count=-1)


def kill_one(supervisor: Supervisor, rng: random.Random, *, routers: bool) -> Worker | None:
    """SIGKILL one running worker (routers too, or not) and start its successor at once."""
    running = [w for w in supervisor.workers if w.alive() and (routers or not w.name.startswith("router"))]
    if not running:
        return None
    victim = rng.choice(running)
    assert victim.proc is not None
    kill_group(victim.proc.pid)
    victim.proc.wait()
    victim.kills += 1
    victim.proc = None
    supervisor.start(victim)
    return victim


def verify(events: list[Event], messages: list[Message], ledger: LedgerView, letters: list[Any],
           children: int, failed_binds: int = 0) -> dict[str, Any]:
    """`children`: child binds that succeeded (one root each); `failed_binds`: those that failed (no root, or one)."""
    by_chunk: dict[tuple[str, int], list[Message]] = {}
    stray = 0
    roots: Counter[str] = Counter()
    for m in messages:
        if not m.bot_id:
            continue
        meta = m.metadata or {}
        payload = meta.get("event_payload") or {}
        if meta.get("event_type") == "tether_thread_root":
            roots[str(payload.get("requestId"))] += 1
        elif meta.get("event_type") == "tether_delivery":
            by_chunk.setdefault((str(payload.get("deliveryId")), int(payload.get("chunk", -1))), []).append(m)
        else:
            stray += 1
    lost = duplicates = misplaced = broadcast = sent_for_dead = delivered = 0
    expected_dead: Counter[str] = Counter()
    examples: list[str] = []
    known: set[tuple[str, int]] = set()
    for e in events:
        chunks = split_message(e.text, MAX_CHUNK, unit="chars")
        keys = [(e.delivery_id, i) for i in range(len(chunks))]
        known.update(keys)
        if e.session.dead_reason:
            expected_dead[e.session.dead_reason] += 1
            sent_for_dead += sum(len(by_chunk.get(k, [])) for k in keys)
            continue
        ok = True
        for k, text in zip(keys, chunks, strict=True):
            copies = by_chunk.get(k, [])
            if not copies:
                lost += 1
                ok = False
                examples.append(f"lost {e.event_id} chunk {k[1]}")
            duplicates += max(0, len(copies) - 1)
            for m in copies:
                if (m.channel, m.thread_ts if m.in_thread else None) != (e.session.channel, e.session.thread_ts) \
                        or m.text != text:
                    misplaced += 1
                    ok = False
                broadcast += m.reply_broadcast
        delivered += ok and all(len(by_chunk.get(k, [])) == 1 for k in keys)
    unknown = sum(len(v) for k, v in by_chunk.items() if k not in known)
    reasons = Counter(letter.reason for letter in letters)
    expected_ids = {e.delivery_id: e.session.dead_reason for e in events if e.session.dead_reason}
    unexpected = sum(1 for letter in letters if expected_ids.get(letter.delivery_id) != letter.reason)
    not_terminal = sum(1 for st in ledger.status.values() if st not in ("delivered", "dead"))
    summary = {
        "events": len(events), "expectedDelivered": sum(1 for e in events if not e.session.dead_reason),
        "delivered": delivered, "lost": lost, "duplicates": duplicates, "misplaced": misplaced,
        "replyBroadcast": broadcast, "sentForDead": sent_for_dead, "strayMessages": stray + unknown,
        "childRoots": sum(roots.values()), "duplicateRoots": sum(n - 1 for n in roots.values()),
        "childBinds": children, "deadLetters": dict(reasons),
        "expectedDeadLetters": dict(expected_dead), "unexpectedDeadLetters": unexpected,
        "notTerminal": not_terminal, "examples": examples[:10],
    }
    summary["ok"] = (lost == duplicates == misplaced == broadcast == sent_for_dead == stray + unknown == unexpected
                     == not_terminal == 0 and summary["duplicateRoots"] == 0
                     and children <= len(roots) <= children + failed_binds and reasons == expected_dead
                     and delivered == summary["expectedDelivered"])
    return summary


def run_slack_chaos(s: SlackChaosSettings) -> dict[str, Any]:
    t0 = time.monotonic()
    rng = random.Random(s.seed)
    work = Path(s.work_dir or tempfile.mkdtemp(prefix="tether-chaos-slack-"))
    work.mkdir(parents=True, exist_ok=True)
    redis_dir = work / "redis"
    if os.access(TMPFS, os.W_OK):
        redis_dir = Path(tempfile.mkdtemp(prefix="tether-chaos-slack-redis-", dir=TMPFS))
    server = RedisServer(appendonly=True, directory=redis_dir)
    fake = FakeSlackProcess(work / "fake-slack", args=["--token", TOKEN, "--seed", str(s.seed)])
    supervisor: Supervisor | None = None
    summary: dict[str, Any] = {}

    def say(msg: str) -> None:
        if s.progress:
            print(f"[slack chaos {time.monotonic() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)

    try:
        start_redis(server)
        fake.start()
        control = fake.control
        config_path = write_config(work, fake.base_url, s)
        config = load_config(config_path)
        client = connect(server.url)
        sessions, children = build_world(control, SessionBindingService(client, config), s.channels)
        events = plan(sessions, s.events, rng)
        env = {**os.environ, "TETHER_REDIS_URL": server.url, "TETHER_CONFIG": str(config_path),
               "TETHER_LOG_LEVEL": "INFO"}
        (work / "logs").mkdir(exist_ok=True)
        supervisor = Supervisor(env, work / "logs")
        for i in range(s.routers):
            supervisor.add(f"router-{i + 1}", ["worker", "router"])
        early = [e for e in events if e.session.dead_reason]
        enqueue_completions(client, [e.wire() for e in early])
        supervisor.start_all()
        if not wait_until(lambda: all(load_decision(client, e.event_id) for e in early), timeout_s=60,
                          tick=lambda: None):
            raise RuntimeError(f"the routers did not route the first events; see {work / 'logs'}")
        inject_faults(control, s)
        for i in range(s.slack_workers):
            supervisor.add(f"slack-{i + 1}", ["worker", "slack"])
        for i in range(s.sweepers):
            supervisor.add(f"sweeper-{i + 1}", ["sweeper", "--interval", "1"])
        supervisor.start_all()
        say(f"world: {len(sessions)} sessions, {len(events)} events")
        # Child binds under the faults too: each makes one root, or fails without a second one.
        svc = SessionBindingService(client, config)
        child_binds = 0
        for i in range(s.binds_under_faults):
            try:
                svc.bind(target_session_key=f"agent:main:subagent:late-{i}", target_kind="subagent",
                         placement="child", label=f"late {i}",
                         conversation=ConversationRef(channel=CHANNEL, parent_conversation_id=sessions[0].channel))
                child_binds += 1
            except TetherError as exc:
                say(f"child bind {i} failed: {exc}")

        terminals = Terminals(client, [e.delivery_id for e in events])
        rest = [e for e in events if not e.session.dead_reason]
        batches = [rest[i:i + s.batch] for i in range(0, len(rest), s.batch)]
        crash_at = [terminals.total * (k + 1) // (s.redis_restarts + 1) for k in range(s.redis_restarts)]
        downtimes: list[float] = []
        start = time.monotonic()
        next_kill = start + s.kill_interval_s
        sent = 0
        while True:
            now = time.monotonic()
            if sent < len(batches) and now >= start + sent * s.batch / s.rate_per_s:
                try:
                    enqueue_completions(client, [e.wire() for e in batches[sent]])
                    sent += 1
                except redis.RedisError:
                    pass  # Redis restarting: the same batch again
            with contextlib.suppress(redis.RedisError):  # Redis restarting: next time
                terminals.refresh()
            killing = sent < len(batches) or terminals.done < s.kill_until_fraction * terminals.total
            if killing and now >= next_kill and now - start < s.settle_timeout_s:
                victim = kill_one(supervisor, rng, routers=s.kill_routers)
                next_kill += s.kill_interval_s
                say(f"SIGKILL {victim.name if victim else '-'}; terminal {terminals.done}/{terminals.total}")
            if crash_at and terminals.done >= crash_at[0]:
                crash_at.pop(0)
                downtimes.append(crash_and_restart_redis(server))
                say(f"Redis SIGKILLed and restarted ({downtimes[-1]:.2f} s)")
            supervisor.restart_exited()
            if (not killing or now - start >= s.settle_timeout_s) and not crash_at:
                break
            time.sleep(0.1)
        last = [time.monotonic()]

        def tick() -> None:
            supervisor.restart_exited()
            if time.monotonic() - last[0] > 10:
                last[0] = time.monotonic()
                say(f"settling: waiting for {len(terminals.pending)} deliveries "
                    f"{dict(Counter(str(_status(client, d)) for d in terminals.pending))}: {terminals.pending[:3]}")

        all_terminal = wait_until(lambda: terminals.refresh() == terminals.total, timeout_s=s.settle_timeout_s,
                                  tick=tick)
        supervisor.stop_all()
        messages = control.messages()
        state = control.state()
        ledger = LedgerView.read(client, [e.delivery_id for e in events])
        letters = DeadLetterQueue(client).letters()
        client.close()
        result = verify(events, messages, ledger, letters, children + child_binds,
                        s.binds_under_faults - child_binds)
        result["childBindsUnderFaults"] = {"tried": s.binds_under_faults, "bound": child_binds}
        leaks = secrets_in_logs(work / "logs", [TOKEN])
        requests = Counter(f"{r.fault}:{r.method}" for r in state.requests if r.fault)
        summary = {**result, "ok": result["ok"] and all_terminal and not leaks,
                   "allTerminalBeforeDeadline": all_terminal, "secretsInLogs": leaks, "kills": supervisor.kills(),
                   "redisRestarts": len(downtimes), "faultsInjected": dict(sorted(requests.items())),
                   "apiRequests": len(state.requests), "durationS": round(time.monotonic() - t0, 1),
                   "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(s).items()},
                   "workDir": str(work)}
        return summary
    finally:
        if supervisor is not None:
            supervisor.stop_all()
        fake.stop()
        server.stop()
        if summary.get("ok") and s.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        elif summary:
            (work / "summary.json").write_text(json.dumps(summary, indent=2))
        if redis_dir != work / "redis":
            shutil.rmtree(redis_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    d = SlackChaosSettings()
    p = argparse.ArgumentParser(prog="python -m tests.chaos.slack", description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=d.events)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--work-dir", type=Path, default=None)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    summary = run_slack_chaos(SlackChaosSettings(events=args.events, seed=args.seed, work_dir=args.work_dir,
                                                 progress=not args.quiet))
    print(json.dumps(summary, indent=2))
    return 0 if summary.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
