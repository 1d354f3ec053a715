"""One chaos run: set the world up, push events through real worker processes while breaking things, wait (with a
deadline) until the ledger shows every delivery terminal, stop everything, compare, and summarise.

What breaks, and how:
- the local Discord API (its own process) answers 5 % of API requests with a 5xx (4 % before processing, 1 % after:
  the message exists but the answer says 500), 2 % with a 429 (`retry_after` 0.5 s, bucket scope), and loses the
  response of 1 % of successful requests (the message exists, the connection is dropped);
- every `kill_interval_s` a random worker process (router, Discord or sweeper) gets SIGKILL, from the first event
  until 97 % of the deliveries are terminal; a process manager (`processes.Supervisor`) starts its successor at
  once, and also restarts any worker that exits on its own;
- Redis is SIGKILLed once, when half of the deliveries are terminal, and started again on the same AOF.
The API limits messages to 5 per second per channel (bot) or webhook, and bot requests to 200 per second; events
are enqueued at 50 per second, faster than they can be delivered, so routing and delivery both run under the kills.
Afterwards the worker logs must not contain the bot token or any webhook token.

Redis runs with `appendonly yes` and `appendfsync always`, not `everysec`: with `everysec` Redis may answer writes
it has not yet written to the AOF (while a slow background fsync holds the write back, up to 2 s), and a crash then
loses acknowledged writes — a ledger `delivered` mark (the chunk is sent again), an enqueued event (lost) — which
is Redis durability failing, not tether. With `always` Redis answers a write only once it is in the AOF and synced,
so every write a worker saw succeed survives the crash: the promise tether builds on. The AOF lives on tmpfs
(/dev/shm) when there is one: the crash here is a process crash, which the page cache survives, and fsync on tmpfs
costs nothing, so the run's speed does not depend on the machine's disk (on the 2-core box this was written on,
`always` on disk halved delivery throughput).

The deleted thread's events are routed before the run starts (a sticky `bound` decision), so that the expected
outcome, dead `destination-gone`, does not depend on whether the sweeper ends that binding first.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import redis

from adapters.delivery import keys as adapter_keys
from adapters.delivery.deadletter import DeadLetterQueue
from bindings.config import load_config
from bindings.connection import connect
from bindings.service import SessionBindingService
from router.enqueue import enqueue_completions
from router.store import load_decision
from tests.chaos.diagnose import locate
from tests.chaos.processes import Supervisor
from tests.chaos.scenario import PlannedEvent, World, build_world, plan_events
from tests.chaos.verify import LedgerView, verify
from tests.fakes.discord_remote import FakeDiscordProcess
from workers.redis_server import RedisServer

TOKEN = "chaos-bot-token"
TMPFS = "/dev/shm"
TERMINAL = (b"delivered", b"dead")


@dataclass
class ChaosSettings:
    events: int = 10_000
    seed: int = 6
    routers: int = 3
    discord_workers: int = 3
    sweepers: int = 1
    kill_interval_s: float = 2.0
    rate_per_s: float | None = None  # enqueue rate; None: 50/s (25/s under 500 events), see `produce_rate`
    batch: int = 20
    kill_until_fraction: float = 0.97  # kills go on until this share of the deliveries is terminal
    settle_timeout_s: float = 300.0  # after the chaos, for the rest to become terminal
    redis_restarts: int = 1
    fault_5xx_before: float = 0.04
    fault_5xx_after: float = 0.01
    fault_429: float = 0.02
    fault_response_lost: float = 0.01
    retry_after_s: float = 0.5
    message_limit: int = 5  # per channel (bot) or webhook, per message window
    message_window_s: float = 1.0
    global_limit: int = 200  # bot requests per second
    lease_s: float = 5.0
    reaper_interval_s: float = 1.0
    redis_on_tmpfs: bool = True  # the AOF on /dev/shm when it exists (see the module docstring)
    work_dir: Path | None = None
    keep_work_dir: bool = False  # else removed after a run that passed
    progress: bool = False  # progress lines on stderr

    def produce_rate(self) -> float:
        if self.rate_per_s is not None:
            return self.rate_per_s
        return max(25.0, min(50.0, self.events / 20))


@dataclass
class Timings:
    setup_s: float = 0.0
    chaos_s: float = 0.0
    settle_s: float = 0.0
    total_s: float = 0.0
    redis_downtime_s: list[float] = field(default_factory=list)


class Progress:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.t0 = time.monotonic()

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(f"[chaos {time.monotonic() - self.t0:7.1f}s] {message}", file=sys.stderr, flush=True)


def write_config(work: Path, api_base: str, settings: ChaosSettings) -> Path:
    token_path = work / "discord-token"
    token_path.write_text(TOKEN + "\n")
    config = work / "tether.toml"
    config.write_text(f"""
[channels.discord]
apiBase = "{api_base}"

[channels.discord.threadBindings]
enabled = true
spawnSubagentSessions = true

[channels.discord.rateLimit]
globalPerSecond = {settings.global_limit}

[channels.discord.accounts.default]
token = "file:{token_path}"

[delivery]
leaseS = {settings.lease_s}
reaperIntervalS = {settings.reaper_interval_s}
backoffMinS = 0.5
backoffMaxS = 10.0
""")
    return config


def inject_faults(fake: FakeDiscordProcess, s: ChaosSettings) -> dict[int, str]:
    """Install the probabilistic faults (seeded by the fake's `--seed`); returns a label per rule id."""
    control = fake.control
    labels: dict[int, str] = {}
    if s.fault_429:
        rule = control.inject("rate_limit", probability=s.fault_429, retry_after_s=s.retry_after_s, scope="user")
        labels[rule.id] = "429"
    if s.fault_5xx_before:
        for status in (500, 502, 503):
            rule = control.inject("status", status=status, stage="before", probability=s.fault_5xx_before / 3)
            labels[rule.id] = f"{status}-not-processed"
    if s.fault_5xx_after:
        rule = control.inject("status", status=500, stage="after", probability=s.fault_5xx_after)
        labels[rule.id] = "500-after-processing"
    if s.fault_response_lost:
        rule = control.inject("response_lost", probability=s.fault_response_lost)
        labels[rule.id] = "response-lost"
    return labels


def start_redis(server: RedisServer) -> None:
    server.start()
    client = redis.Redis(unix_socket_path=str(server.socket))
    client.config_set("appendfsync", "always")  # see the module docstring
    client.close()


def crash_and_restart_redis(server: RedisServer) -> float:
    """SIGKILL redis-server (no shutdown, no final fsync) and start it again on the same AOF; returns the downtime."""
    t0 = time.monotonic()
    assert server.proc is not None
    server.proc.kill()
    server.proc.wait()
    server.proc = None
    start_redis(server)
    return time.monotonic() - t0


def enqueue_order(events: list[PlannedEvent], rng: random.Random) -> list[PlannedEvent]:
    """Each event once in plan order; an event marked `enqueue_twice` again, somewhat later (a producer's retry)."""
    order = list(events)
    for e in events:
        if e.enqueue_twice:
            at = min(len(order), e.index + rng.randint(1, 200))
            order.insert(at, e)
    return order


def _enqueue(client: redis.Redis, batch: list[PlannedEvent]) -> None:
    now_ms = int(time.time() * 1000)
    enqueue_completions(client, [e.wire(now_ms) for e in batch])


def _status(client: redis.Redis, delivery_id: str) -> bytes | None:
    status: bytes | None = client.hget(adapter_keys.delivery(delivery_id), "status")  # type: ignore[assignment]
    return status


def wait_until(condition: Callable[[], bool], *, timeout_s: float, tick: Callable[[], None],
               interval_s: float = 0.25) -> bool:
    """Poll `condition` until it holds or the deadline passes, calling `tick` between polls."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return True
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            return False
        tick()
        time.sleep(interval_s)


def run_chaos(settings: ChaosSettings) -> dict[str, Any]:
    progress = Progress(settings.progress)
    started = time.monotonic()
    timings = Timings()
    work = Path(settings.work_dir or tempfile.mkdtemp(prefix="tether-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(settings.seed)
    redis_dir = work / "redis"
    if settings.redis_on_tmpfs and os.access(TMPFS, os.W_OK):
        redis_dir = Path(tempfile.mkdtemp(prefix="tether-chaos-redis-", dir=TMPFS))
    server = RedisServer(appendonly=True, directory=redis_dir)
    fake = FakeDiscordProcess(work / "fake-discord", args=[
        "--token", TOKEN, "--seed", str(settings.seed),
        "--global-limit", str(settings.global_limit),
        "--message-limit", str(settings.message_limit), "--message-window-s", str(settings.message_window_s),
    ])
    supervisor: Supervisor | None = None
    client: redis.Redis | None = None
    summary: dict[str, Any] = {}
    passed = False
    try:
        start_redis(server)
        fake.start()
        config_path = write_config(work, fake.base_url, settings)
        config = load_config(config_path)
        client = connect(server.url)
        world = build_world(fake.control, SessionBindingService(client, config))
        events = plan_events(world, settings.events, rng, run_id=f"s{settings.seed}")
        progress(f"world ready: {len(world.sessions)} sessions, {len(events)} events, work dir {work}")

        env = {**os.environ, "TETHER_REDIS_URL": server.url, "TETHER_CONFIG": str(config_path),
               "TETHER_LOG_LEVEL": os.environ.get("TETHER_CHAOS_LOG_LEVEL", "INFO")}
        (work / "logs").mkdir(exist_ok=True)
        supervisor = Supervisor(env, work / "logs")
        for i in range(settings.routers):
            supervisor.add(f"router-{i + 1}", ["worker", "router"])

        # The deleted thread's events get their (sticky, bound) decision before anything could end that binding.
        early = [e for e in events if e.session.kind == "deleted"]
        rest = [e for e in events if e.session.kind != "deleted"]
        _enqueue(client, early)
        supervisor.start_all()
        if not wait_until(lambda: all(load_decision(client, e.event_id) for e in early), timeout_s=60,
                          tick=lambda: None):
            raise RuntimeError("the router workers did not route the first events within 60 s; see the logs in "
                               f"{work / 'logs'}")

        fault_labels = inject_faults(fake, settings)
        for i in range(settings.discord_workers):
            supervisor.add(f"discord-{i + 1}", ["worker", "discord"])
        for i in range(settings.sweepers):
            supervisor.add(f"sweeper-{i + 1}", ["sweeper", "--interval", "1"])
        supervisor.start_all()
        timings.setup_s = time.monotonic() - started

        delivery_ids = [e.delivery_id for e in events]
        terminals = Terminals(client, delivery_ids)
        enqueued = _chaos(client, server, supervisor, rest, terminals, settings, rng, timings, progress)
        timings.chaos_s = time.monotonic() - started - timings.setup_s

        settle_t0 = time.monotonic()
        last_report = [settle_t0]

        def settled() -> bool:
            done = terminals.refresh()
            if time.monotonic() - last_report[0] > 10:
                last_report[0] = time.monotonic()
                progress(f"settling: {done}/{len(delivery_ids)} deliveries terminal")
            return done == len(delivery_ids)

        all_terminal = wait_until(settled, timeout_s=settings.settle_timeout_s,
                                  tick=lambda: _note_restarts(supervisor, progress))
        timings.settle_s = time.monotonic() - settle_t0
        progress(f"settled: {all_terminal}; stopping workers")
        stop_codes = supervisor.stop_all()
        stuck = locate(client, [(e.event_id, e.delivery_id) for e in events
                                if _status(client, e.delivery_id) not in TERMINAL])

        messages = fake.control.messages()
        snapshot = fake.control.state(include_requests=False)
        ledger = LedgerView.read(client, delivery_ids)
        letters = DeadLetterQueue(client).letters()
        timings.total_s = time.monotonic() - started
        result = verify(events, world, messages, ledger, letters)
        leaks = secrets_in_logs(work / "logs", [TOKEN, *(w.token for w in snapshot.webhooks)])
        passed = result.ok and all_terminal and not leaks
        summary = {
            "ok": passed,
            **result.summary(),
            "enqueued": enqueued,
            "sessions": world_summary(world),
            "allTerminalBeforeDeadline": all_terminal,
            "secretsInLogs": leaks,
            "notTerminal": dict(list(stuck.items())[:20]),
            "kills": supervisor.kills(),
            "killsByWorker": {w.name: w.kills for w in supervisor.workers if w.kills},
            "workerExits": supervisor.unexpected_exits(),
            "workerStarts": sum(w.starts for w in supervisor.workers),
            "finalStopCodes": stop_codes,
            "redisRestarts": len(timings.redis_downtime_s),
            "redisDowntimeS": [round(t, 3) for t in timings.redis_downtime_s],
            "redisPersistence": {"appendonly": "yes", "appendfsync": "always", "restart": "SIGKILL",
                                 "aofOn": "tmpfs" if str(redis_dir).startswith(TMPFS) else "disk"},
            "faultsInjected": _fault_counts(snapshot, fault_labels),
            "apiStatusCounts": snapshot.status_counts,
            "apiInvalidRequests": snapshot.invalid_requests,
            "durationS": {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(timings).items()
                          if k != "redis_downtime_s"},
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
            "workDir": str(work),
        }
        return summary
    finally:
        if supervisor is not None:
            supervisor.stop_all()
        if client is not None:
            client.close()
        fake.stop()
        server.stop()
        if redis_dir != work / "redis":
            if passed:
                shutil.rmtree(redis_dir, ignore_errors=True)
            else:  # keep the AOF with the logs, for a look at what went wrong
                shutil.move(redis_dir, work / "redis")
        if passed and not settings.keep_work_dir and settings.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
        elif summary:
            (work / "summary.json").write_text(json.dumps(summary, indent=2))


def secrets_in_logs(log_dir: Path, secrets: list[str]) -> dict[str, int]:
    """Log file → how many lines name the bot token or a webhook token (there must be none)."""
    found: dict[str, int] = {}
    for path in sorted(log_dir.glob("*.log")):
        with path.open(encoding="utf-8", errors="replace") as lines:
            hits = sum(1 for line in lines if any(secret in line for secret in secrets))
        if hits:
            found[path.name] = hits
    return found


def _note_restarts(supervisor: Supervisor, progress: Progress) -> None:
    restarted = supervisor.restart_exited()
    if restarted:
        progress(f"restarted exited workers: {', '.join(restarted)}")


class Terminals:
    """How many of the expected deliveries are terminal in the ledger; each check reads only those that were not."""

    def __init__(self, client: redis.Redis, delivery_ids: list[str]) -> None:
        self.client = client
        self.total = len(delivery_ids)
        self.pending = list(delivery_ids)

    @property
    def done(self) -> int:
        return self.total - len(self.pending)

    def refresh(self) -> int:
        pipe = self.client.pipeline(transaction=False)
        for did in self.pending:
            pipe.hget(adapter_keys.delivery(did), "status")
        self.pending = [did for did, status in zip(self.pending, pipe.execute(), strict=True)
                        if status not in TERMINAL]
        return self.done


def _chaos(client: redis.Redis, server: RedisServer, supervisor: Supervisor, events: list[PlannedEvent],
           terminals: Terminals, s: ChaosSettings, rng: random.Random, timings: Timings, progress: Progress) -> int:
    """Enqueue `events` (and the planned second copies) at a steady rate; kill a worker every `kill_interval_s`
    until every event is enqueued and `kill_until_fraction` of the deliveries are terminal (so the kills hit
    deliveries, not only routing); crash Redis when half of them are. Returns how many events were enqueued
    (copies included). Gives up killing after `settle_timeout_s` past the last enqueue."""
    order = enqueue_order(events, rng)
    rate = s.produce_rate()
    batches = [order[i:i + s.batch] for i in range(0, len(order), s.batch)]
    crash_at = [terminals.total * (k + 1) // (s.redis_restarts + 1) for k in range(s.redis_restarts)]
    t0 = time.monotonic()
    next_kill = t0 + s.kill_interval_s
    next_check = next_report = t0
    produced_at: float | None = None
    sent = enqueued = 0
    while True:
        now = time.monotonic()
        if sent < len(batches) and now >= t0 + sent * s.batch / rate:
            try:
                _enqueue(client, batches[sent])
                enqueued += len(batches[sent])
                sent += 1
            except redis.RedisError as exc:
                progress(f"enqueue failed ({type(exc).__name__}); retrying the batch")
            if sent == len(batches):
                produced_at = now
        if now >= next_check:
            next_check = now + 0.5
            with contextlib.suppress(redis.RedisError):  # Redis restarting: next time
                terminals.refresh()
        if now >= next_report:
            next_report = now + 10
            progress(f"enqueued {enqueued}, deliveries terminal {terminals.done}/{terminals.total}, "
                     f"kills {supervisor.kills()}")
        killing = sent < len(batches) or terminals.done < s.kill_until_fraction * terminals.total
        if produced_at is not None and now - produced_at > s.settle_timeout_s:
            killing = False
        if killing and now >= next_kill:
            victim = supervisor.kill_random(rng)
            next_kill += s.kill_interval_s
            if victim is not None:
                progress(f"SIGKILL {victim.name} (kill {supervisor.kills()})")
        if crash_at and terminals.done >= crash_at[0]:
            crash_at.pop(0)
            downtime = crash_and_restart_redis(server)
            timings.redis_downtime_s.append(downtime)
            progress(f"Redis SIGKILLed and restarted ({downtime:.2f} s down) with {terminals.done} deliveries "
                     f"terminal, {enqueued} events enqueued")
        _note_restarts(supervisor, progress)
        if not killing and not crash_at:
            return enqueued
        upcoming = [next_kill, next_check, t0 + sent * s.batch / rate if sent < len(batches) else next_check]
        time.sleep(min(0.1, max(0.0, min(upcoming) - time.monotonic())))


def _fault_counts(snapshot: Any, labels: dict[int, str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in snapshot.faults:
        label = labels.get(record.rule_id, record.kind)
        counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))


def world_summary(world: World) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in world.sessions:
        out[s.kind] = out.get(s.kind, 0) + 1
    return out
