"""The webhook chaos run: completions through router and `tether worker webhook` processes to a Standard Webhooks
receiver in its own process, while the receiver misbehaves and workers are SIGKILLed.

What breaks: the receiver answers 503 to 5 % of requests (not acted on), 429 with `Retry-After: 1` to 1 %, and
loses the answer of 5 % (acted on, then the connection closes without an answer); every `kill_interval_s` a random
worker (router or webhook) gets SIGKILL and its successor starts at once (`processes.Supervisor`).

What must hold, run once per receiver kind:
- `dedupe` (the receiver remembers `webhook-id`s): every chunk of every event acted on exactly once;
- `plain` (it does not): every chunk acted on at least once, and each repeat is a resend of the same `webhook-id`
  after a send whose outcome tether could not know — the receiver's answer was lost, or the sending worker was killed
  between that request and the repeat. Nothing else (a 503 or a 429 is never a repeat, no chunk under a new id).
Every request verified (`standardwebhooks`), every delivery `delivered`, no dead letters, the secret in no worker log.

`python -m tests.chaos.webhook [--events N] [--mode dedupe|plain|both]` (part of `make chaos`) prints a JSON summary
and exits 1 when anything above does not hold; `tests/chaos/test_webhook_chaos.py` runs a reduced case.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec
import redis

from adapters.chunking import split_message
from adapters.delivery import keys as adapter_keys
from adapters.delivery.deadletter import DeadLetterQueue
from adapters.payloads import delivery_id_for
from bindings.connection import connect
from bindings.model import ConversationRef
from router.enqueue import enqueue_completions
from tests.chaos.processes import Supervisor
from tests.fakes.webhook_receiver import Fault, Received
from tests.fakes.webhook_remote import ReceiverProcess
from workers.redis_server import RedisServer

Mode = Literal["dedupe", "plain"]
MAX_CHUNK = 4000


@dataclass
class WebhookChaosSettings:
    events: int = 2000
    seed: int = 17
    routers: int = 1
    webhook_workers: int = 3
    kill_interval_s: float = 2.0
    rate_per_s: float = 60.0
    batch: int = 10
    rooms: int = 20
    long_every: int = 7  # every n-th event is two chunks long
    fault_503: float = 0.05
    fault_429: float = 0.01
    fault_lost: float = 0.05
    settle_timeout_s: float = 180.0
    work_dir: Path | None = None
    progress: bool = False


def _log(settings: WebhookChaosSettings, t0: float, message: str) -> None:
    if settings.progress:
        print(f"[webhook chaos {time.monotonic() - t0:6.1f}s] {message}", file=sys.stderr, flush=True)


def _text(i: int, long_every: int) -> str:
    base = f"chaos event {i}"
    return base + (" filler" * 700 if i % long_every == 0 else "")


def _config(work: Path, url: str, secret_path: Path, lease_s: float = 3.0) -> Path:
    path = work / "tether.toml"
    path.write_text(
        "[channels.webhook.accounts.default]\n"
        f'url = "{url}"\nsecret = "file:{secret_path}"\n'
        "[delivery]\nmaxAttempts = 30\nbackoffMinS = 0.1\nbackoffMaxS = 1.0\n"
        f"leaseS = {lease_s}\nreaperIntervalS = 0.5\n")
    return path


def run_webhook_chaos(settings: WebhookChaosSettings, mode: Mode) -> dict[str, Any]:
    t0 = time.monotonic()
    own_dir = settings.work_dir is None
    work = Path(tempfile.mkdtemp(prefix=f"tether-webhook-chaos-{mode}-")) if own_dir else settings.work_dir
    assert work is not None
    work = work / mode
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(settings.seed)
    secret = "whsec_" + base64.b64encode(rng.randbytes(32)).decode()
    secret_path = work / "webhook.secret"
    secret_path.write_text(secret)
    server = RedisServer(directory=work / "redis")
    receiver = ReceiverProcess(work / "receiver", secret, dedupe=mode == "dedupe", seed=settings.seed)
    supervisor: Supervisor | None = None
    kills: list[float] = []
    passed = False
    try:
        server.start()
        receiver.start()
        control = receiver.control
        control.fault(Fault(kind="status", status=503, probability=settings.fault_503, count=-1,
                            type="tether.message"))
        control.fault(Fault(kind="status", status=429, retry_after="1", probability=settings.fault_429, count=-1,
                            type="tether.message"))
        control.fault(Fault(kind="drop", probability=settings.fault_lost, count=-1, type="tether.message"))
        config_path = _config(work, receiver.url, secret_path)
        client = connect(server.url)
        env = {**os.environ, "TETHER_REDIS_URL": server.url, "TETHER_CONFIG": str(config_path),
               "TETHER_LOG_LEVEL": "INFO"}
        (work / "logs").mkdir(exist_ok=True)
        supervisor = Supervisor(env, work / "logs")
        for i in range(settings.routers):
            supervisor.add(f"router-{i + 1}", ["worker", "router"])
        for i in range(settings.webhook_workers):
            supervisor.add(f"webhook-{i + 1}", ["worker", "webhook"])
        supervisor.start_all()

        events = []
        for i in range(settings.events):
            room = f"room-{rng.randrange(settings.rooms)}"
            events.append({"eventId": f"wh-chaos-{settings.seed}-{i}", "kind": "task_completion",
                           "targetSessionKey": f"agent:main:subagent:{i}",
                           "requester": {"channel": "webhook", "accountId": "default", "conversationId": room},
                           "spawnMode": "session", "failClosed": False,
                           "content": {"text": _text(i, settings.long_every)},
                           "identity": {"username": "chaos-agent"}})
        expected: dict[str, int] = {}
        for e in events:
            ref = ConversationRef(channel="webhook", conversation_id=e["requester"]["conversationId"])  # type: ignore[index]
            expected[delivery_id_for(str(e["eventId"]), ref)] = len(split_message(
                str(e["content"]["text"]), MAX_CHUNK, unit="chars"))  # type: ignore[index]

        _log(settings, t0, f"{mode}: {len(events)} events, {sum(expected.values())} chunks")
        next_kill = time.monotonic() + settings.kill_interval_s
        interval = settings.batch / settings.rate_per_s
        for start in range(0, len(events), settings.batch):
            enqueue_completions(client, events[start:start + settings.batch])
            time.sleep(interval)
            if time.monotonic() >= next_kill:
                victim = supervisor.kill_random(rng)
                kills.append(time.time())
                next_kill = time.monotonic() + settings.kill_interval_s
                _log(settings, t0, f"SIGKILL {victim.name if victim else '-'}")
            supervisor.restart_exited()
        # Kills go on while the backlog drains, until most deliveries are done.
        deadline = time.monotonic() + settings.settle_timeout_s
        while time.monotonic() < deadline:
            done = _terminal(client, list(expected))
            if done >= len(expected):
                break
            if done < 0.95 * len(expected) and time.monotonic() >= next_kill:
                supervisor.kill_random(rng)
                kills.append(time.time())
                next_kill = time.monotonic() + settings.kill_interval_s
            supervisor.restart_exited()
            time.sleep(0.25)
        settled = _terminal(client, list(expected))
        statuses = Counter(_status(client, d) for d in expected)
        dead = DeadLetterQueue(client).count()
        supervisor.stop_all()
        supervisor = None
        requests = control.requests()
        messages = control.messages()
        rejected = control.rejected()
        copies = Counter((m.delivery_id, m.chunk) for m in messages)
        want = {(d, c) for d, n in expected.items() for c in range(n)}
        missing = sorted(want - set(copies))
        strays = sorted(set(copies) - want)
        duplicates = {f"{d}#{c}": n - 1 for (d, c), n in copies.items() if n > 1}
        unexplained = _unexplained_repeats(requests, kills)
        logs = b"".join(p.read_bytes() for p in (work / "logs").glob("*.log"))
        secret_in_logs = secret.encode() in logs or secret.removeprefix("whsec_").encode() in logs
        summary: dict[str, Any] = {
            "mode": mode,
            "events": len(events),
            "chunks": len(want),
            "settled": settled,
            "statuses": {str(k): v for k, v in statuses.items()},
            "deadLetters": dead,
            "requests": len(requests),
            "faults": dict(Counter(r.fault for r in requests if r.fault)),
            "kills": len(kills),
            "missing": len(missing),
            "strays": len(strays),
            "repeats": sum(duplicates.values()),
            "unexplainedRepeats": len(unexplained),
            "rejected": len(rejected),
            "incompleteRequests": control.incomplete(),
            "secretInLogs": secret_in_logs,
            "logBytes": len(logs),
            "seconds": round(time.monotonic() - t0, 1),
            "settings": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(settings).items()},
        }
        ok = (settled == len(expected) and statuses.get("delivered") == len(expected) and dead == 0
              and not missing and not strays and not rejected and not unexplained and not secret_in_logs and bool(logs))
        if mode == "dedupe":
            ok = ok and not duplicates
        summary["ok"] = ok
        if not ok:
            summary["examples"] = {"missing": missing[:5], "strays": strays[:5], "unexplained": unexplained[:5],
                                   "duplicates": list(duplicates.items())[:5],
                                   "rejected": [msgspec.to_builtins(r) for r in rejected[:5]]}
        passed = ok
        return summary
    finally:
        if supervisor is not None:
            supervisor.stop_all()
        receiver.stop()
        server.cleanup()
        if own_dir and passed:
            shutil.rmtree(work.parent, ignore_errors=True)


def _unexplained_repeats(requests: list[Received], kills: list[float]) -> list[str]:
    """Repeats the documentation does not allow: a webhook-id acted on again although tether knew the outcome of
    the earlier request (it was answered, and no worker was killed before the repeat)."""
    by_id: dict[str, list[Received]] = defaultdict(list)
    for r in requests:
        if r.fault != "status" and r.type == "tether.message":
            by_id[r.webhook_id].append(r)
    found = []
    for webhook_id, acted in by_id.items():
        for earlier, later in itertools.pairwise(acted):
            lost = earlier.answered == 0
            killed = any(earlier.at <= k <= later.at for k in kills)
            if not (lost or killed or later.duplicate):
                found.append(webhook_id)
    return found


def _status(client: redis.Redis, delivery_id: str) -> str | None:
    raw = client.hget(adapter_keys.delivery(delivery_id), "status")
    return raw.decode() if isinstance(raw, bytes) else None


def _terminal(client: redis.Redis, delivery_ids: list[str]) -> int:
    pipe = client.pipeline(transaction=False)
    for d in delivery_ids:
        pipe.hget(adapter_keys.delivery(d), "status")
    return sum(1 for s in pipe.execute() if s in (b"delivered", b"dead"))


def main(argv: list[str] | None = None) -> int:
    defaults = WebhookChaosSettings()
    p = argparse.ArgumentParser(prog="python -m tests.chaos.webhook", description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=defaults.events)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--mode", choices=["dedupe", "plain", "both"], default="both")
    p.add_argument("--work-dir", type=Path, default=None)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    modes: list[Mode] = ["dedupe", "plain"] if args.mode == "both" else [args.mode]
    results = [run_webhook_chaos(WebhookChaosSettings(events=args.events, seed=args.seed, work_dir=args.work_dir,
                                                      progress=not args.quiet), mode) for mode in modes]
    print(json.dumps(results, indent=2))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
