"""Discord 429 timing: after a 429, how soon does anything reach the blocked bucket again? 3 `tether worker discord`
processes against the local Discord API, two scenarios (what tests/adapters/discord/test_worker_processes.py checks
for behaviour only: everything delivered once; the timing claims are measured here):

- `storm`: one channel limited to 3 messages per second, three 429s injected out of the blue (Discord's shared
  limits, other apps: `retry_after` 0.4 s, user scope), 10 deliveries;
- `global`: 6 channels, one global 429 (`retry_after` 1 s) after the 4th request, 18 deliveries.

Measured from the fake's request log (its clock): requests that reached the blocked bucket (storm) or any bot route
(global) before `retry_after` had passed, not counting those already on their way when the 429 was answered
(arriving within `--in-flight-ms` of it); 429s the fake did not inject (a request over the bucket tether tracks)
beyond that same in-flight allowance; the earliest request after each 429. Target: 0 early requests, 0 unexplained
429s.

    python -m tests.perf.discord_429 [--in-flight-ms 50]

Prints one JSON object. Not a test: never asserts on timing.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from adapters.delivery.handoff import hand_off
from adapters.delivery.ledger import Ledger
from adapters.payloads import Content, Delivery, Identity, delivery_id_for
from bindings.config import load_config
from bindings.model import ConversationRef
from tests.fakes.discord_model import RequestRecord
from tests.fakes.discord_remote import FakeDiscordProcess
from tests.perf.discord_ratelimit import start_workers, stop_workers, wait_workers
from tests.support.redis_server import RedisServer

WORKERS = 3
TOKEN = "test-bot-token"


def write_config(path: Path, api_base: str, token_path: Path) -> None:
    path.write_text(
        "[channels.discord]\n"
        f'apiBase = "{api_base}"\n'
        "[channels.discord.accounts.default]\n"
        f'token = "file:{token_path}"\n'
        "[delivery]\nbackoffMinS = 0.05\nbackoffMaxS = 0.2\nleaseS = 3\nreaperIntervalS = 0.25\n"
    )


Setup = Callable[[FakeDiscordProcess], list[str]]  # arranges the fake, returns the channels to send to


def storm_setup(fake: FakeDiscordProcess) -> list[str]:
    fake.control.set_limit("message_create", 3, 1.0)
    for skip in (1, 4, 8):
        fake.control.inject("rate_limit", route="message_create", skip=skip, retry_after_s=0.4, scope="user")
    return [fake.control.add_channel("storm").id] * 10


def global_setup(fake: FakeDiscordProcess) -> list[str]:
    channels = [fake.control.add_channel(f"room-{i}").id for i in range(6)]
    fake.control.inject("rate_limit", route="message_create", skip=4, scope="global", retry_after_s=1.0)
    return channels * 3


def run_scenario(name: str, setup: Setup, in_flight_ms: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"tether-bench-429-{name}-"))
    server = RedisServer()
    server.start()
    fake = FakeDiscordProcess(tmp / "fake", args=["--token", TOKEN])
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fake.start()
        token_path = tmp / "token"
        token_path.write_text(TOKEN + "\n")
        config_path = tmp / "tether.toml"
        write_config(config_path, fake.base_url, token_path)
        config = load_config(config_path)
        client = redis.Redis.from_url(server.url)
        targets = setup(fake)
        procs = start_workers(WORKERS, config_path, server.url, tmp)
        wait_workers(client, WORKERS)
        ids = []
        for i, channel_id in enumerate(targets):
            dest = ConversationRef(channel="discord", conversation_id=channel_id)
            event_id = f"bench-429-{name}-{i}"
            ids.append(hand_off(client, Delivery(
                delivery_id=delivery_id_for(event_id, dest), event_id=event_id, destination=dest, mode="fallback",
                reason="no-active-binding", content=Content(text=f"{name} {i}"), identity=Identity(username="bench"),
            ), config=config))
        ledger = Ledger(client)
        deadline = time.monotonic() + 120
        while not all(ledger.status(d) in ("delivered", "dead") for d in ids) and time.monotonic() < deadline:
            time.sleep(0.1)
        delivered = sum(1 for d in ids if ledger.status(d) == "delivered")
        state = fake.control.state()
        client.close()
    finally:
        stop_workers(procs)
        fake.stop()
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    texts = [m.content for m in state.messages if m.content.startswith(f"{name} ")]
    return {"deliveries": len(ids), "delivered": delivered, "messages": len(texts),
            "duplicates": len(texts) - len(set(texts)), **timing(name, state.requests, in_flight_ms)}


def timing(name: str, requests: list[RequestRecord], in_flight_ms: int) -> dict[str, Any]:
    injected = [r for r in requests if r.injected == "rate_limit"]
    retry_ms = 400 if name == "storm" else 1000
    watched = [r for r in requests if (r.route == "message_create" if name == "storm" else r.auth == "bot")]
    unexplained = [r for r in watched if r.status == 429 and r.injected is None
                   and not any(0 <= r.at_ms - i.at_ms <= in_flight_ms for i in injected)]
    limited = [r for r in watched if r.status == 429] if name == "storm" else injected
    early = {o.seq for r in limited for o in watched if r.at_ms + in_flight_ms < o.at_ms < r.at_ms + retry_ms}
    gaps = []
    for r in limited:
        later = [o.at_ms - r.at_ms for o in watched if o.at_ms - r.at_ms > in_flight_ms]
        if later:
            gaps.append(min(later))
    return {
        "requests": len(watched),
        "injected429": len(injected),
        "unexplained429": len(unexplained),
        "earlyRequests": len(early),
        "retryAfterMs": retry_ms,
        "firstRequestAfter429Ms": {"min": min(gaps, default=None), "max": max(gaps, default=None)},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--in-flight-ms", type=int, default=50,
                        help="a request arriving this soon after a 429 was already on its way (default 50)")
    opts = parser.parse_args(argv)
    scenarios = {"storm": storm_setup, "global": global_setup}
    results = {name: run_scenario(name, setup, opts.in_flight_ms) for name, setup in scenarios.items()}
    json.dump({
        "benchmark": "discord_429",
        "workers": WORKERS,
        "inFlightMs": opts.in_flight_ms,
        "scenarios": results,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "targets": {"earlyRequests": 0, "unexplained429": 0},
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
