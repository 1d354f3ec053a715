"""No secret in any output, whatever goes wrong: a bot token, a webhook token and a Redis password, all known to the
test, appear in no worker's stdout or stderr, no dead letter, no ledger record, and no output of `tether explain`,
`tether dlq show`, `tether dlq list`, `tether status`, `tether bind` or `/metrics`.

Real processes: a router and a Discord worker (`tether worker …`, logging at DEBUG) against the local Discord API and
a redis-server that requires a password. Every error path runs first: 401 (the platform rotated the token), 403,
5xx and lost responses on bot and webhook sends, a job with a foreign field, a job that raises (its argument holds a
webhook URL with its token, which RQ's exception logging would print), a failed `tether bind --child`, and a Redis
outage (the server stopped, then started again) while the workers run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from rq.worker import Worker

from adapters.delivery import keys as delivery_keys
from adapters.delivery.deadletter import DeadLetterQueue
from adapters.delivery.ledger import Ledger
from router.enqueue import enqueue_completion
from tests.fakes.discord_api import FakeDiscord
from tests.router.factories import event
from tests.router.support import REPO, stop
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

BOT_TOKEN = f"sekret-bot-{uuid.uuid4().hex}"
REDIS_PASSWORD = f"sekret-redis-{uuid.uuid4().hex}"
SESSION = "agent:main:subagent:sec"

CONFIG = """
[delivery]
maxAttempts = 3
backoffMinS = 0.05
backoffMaxS = 0.2
leaseS = 3
reaperIntervalS = 0.25

[channels.discord]
apiBase = "{api_base}"
[channels.discord.threadBindings]
enabled = true
spawnSubagentSessions = true
[channels.discord.accounts.default]
token = "file:{token_path}"
"""


@dataclass
class World:
    tmp: Path
    server: RedisServer
    client: redis.Redis
    fake: FakeDiscord
    parent_id: str
    env: dict[str, str]
    logs: list[Path] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)  # what each CLI call printed, by its command line

    def tether(self, *args: str, ok: bool = True) -> str:
        done = subprocess.run([sys.executable, "-m", "workers", *args], cwd=REPO, env=self.env, capture_output=True,
                              timeout=60, check=False)
        text = done.stdout.decode() + done.stderr.decode()
        self.outputs[" ".join(args)] = text
        assert (done.returncode == 0) is ok, text[-2000:]
        return text

    def start(self, name: str) -> None:
        log_path = self.tmp / f"{name}.log"
        with log_path.open("ab") as log:
            self.procs.append(subprocess.Popen([sys.executable, "-m", "workers", "--log-level", "DEBUG", "worker",
                                                name], cwd=REPO, env=self.env, stdout=log, stderr=log))
        self.logs.append(log_path)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    server = RedisServer(directory=tmp_path / "redis", password=REDIS_PASSWORD, appendonly=True)
    server.start()
    token_path = tmp_path / "discord.token"
    token_path.write_text(BOT_TOKEN + "\n")
    config_path = tmp_path / "tether.toml"
    with FakeDiscord(token=BOT_TOKEN) as fake:
        config_path.write_text(CONFIG.format(api_base=fake.base_url, token_path=token_path))
        env = dict(os.environ, TETHER_CONFIG=str(config_path), TETHER_REDIS_URL=server.url, PORT="0",
                   PYTHONPATH=str(REPO))
        client = redis.Redis.from_url(server.url)
        w = World(tmp_path, server, client, fake, fake.add_channel("general").id, env)
        try:
            yield w
        finally:
            codes = [stop(p) for p in w.procs]
            client.close()
            server.cleanup()
            assert codes == [0] * len(codes), "\n".join(p.read_text()[-3000:] for p in w.logs)


def _settled(client: redis.Redis, n: int) -> bool:
    ledger = Ledger(client)
    ids = [k.decode().removeprefix("tether:delivery:") for k in client.keys("tether:delivery:d-*")]
    return len(ids) >= n and all(ledger.status(i) in ("delivered", "dead") for i in ids)


def _push_job(client: redis.Redis, queue: str, job_id: str, data: object, **extra: str) -> None:
    client.hset(f"rq:job:{job_id}", mapping={"data": json.dumps(data), "origin": queue, "status": "queued",
                                             "created_at": "2026-11-24T00:00:00.000000Z", **extra})
    client.rpush(f"rq:queue:{queue}", job_id)


def _metrics(log: Path) -> str:
    port = re.search(r'"msg":"metrics listening"[^\n]*"port":(\d+)', log.read_text())
    assert port is not None, f"no metrics port in {log.name}"
    with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/metrics", timeout=10) as answer:
        return str(answer.read().decode())


def test_no_secret_appears_in_any_output_on_any_error_path(world: World) -> None:
    fake, client = world.fake, world.client
    for name in ("router", "discord"):
        world.start(name)
    wait_for(lambda: len(Worker.all(connection=client)) == 2, timeout_s=30, what="router and discord workers")

    # A bound thread (child placement creates it and its parent's webhook), then a child bind that fails (403).
    world.tether("bind", "--session", SESSION, "--channel", "discord", "--child", "--parent", world.parent_id,
                 "--label", "research")
    fake.inject("status", route="thread_create", status=403)
    world.tether("bind", "--session", f"{SESSION}-2", "--channel", "discord", "--child", "--parent", world.parent_id,
                 "--label", "refused", ok=False)
    assert [r.status for r in fake.requests("thread_create")] == [201, 403]
    [webhook] = fake.snapshot(include_requests=False).webhooks
    secrets = {"bot token": BOT_TOKEN, "webhook token": webhook.token, "redis password": REDIS_PASSWORD}

    requester = {"channel": "discord", "conversationId": world.parent_id}
    events: list[str] = []

    def send(tag: str, *, bound: bool = False) -> None:
        event_id = f"e-{tag}-{uuid.uuid4().hex[:8]}"
        events.append(event_id)
        enqueue_completion(client, event(event_id, session=SESSION if bound else "agent:main:subagent:none",
                                         requester=requester, text=f"done: {tag}"))

    # 5xx, then a lost response, on a webhook send (bound thread) and on a bot send (parent channel).
    fake.inject("status", route="webhook_execute", status=502)
    fake.inject("response_lost", route="webhook_execute", skip=1)
    send("webhook-5xx-lost", bound=True)
    fake.inject("status", route="message_create", status=503)
    fake.inject("response_lost", route="message_create", skip=1)
    send("bot-5xx-lost")
    wait_for(lambda: _settled(client, 2), timeout_s=60, what="the 5xx and lost-response deliveries")
    # 403 on every try of one send: dead-lettered.
    fake.inject("status", route="message_create", status=403, times=None)
    send("bot-403")
    wait_for(lambda: _settled(client, 3), timeout_s=60, what="the 403 delivery")
    fake.clear_faults()
    # 401: the platform rotated the token, the file still holds the old one.
    fake.set_token(f"rotated-{uuid.uuid4().hex}")
    send("bot-401")
    wait_for(lambda: _settled(client, 4), timeout_s=60, what="the 401 delivery")
    fake.set_token(BOT_TOKEN)

    # A foreign field on both queues; a job that raises, holding the webhook URL (with its token) as its argument.
    hook_url = f"{fake.base_url}/api/v10/webhooks/{webhook.id}/{webhook.token}"
    _push_job(client, "completions", "foreign-route", ["router.jobs.route_completion", None, [event("e-foreign")], {}],
              success_callback_name="os.getcwd", webhooks=json.dumps([{"url": hook_url, "job_status": "failed"}]))
    _push_job(client, "deliver.discord", "foreign-deliver", ["adapters.delivery.jobs.deliver", None, [{}], {}],
              failure_callback_name="os.getcwd")
    _push_job(client, "deliver.discord", "raises", ["adapters.delivery.jobs.deliver", None, [{"url": hook_url}], {}])
    letters = DeadLetterQueue(client)
    wait_for(lambda: letters.count() >= 5, timeout_s=30, what="the dead letters of 403, 401, 2 refused, 1 raising")

    # Redis goes away under the workers, and comes back.
    world.server.stop()
    wait_for(lambda: all("could not connect to Redis" in p.read_text() for p in world.logs), timeout_s=60,
             what="every worker to log the lost connection")
    world.server.start()
    send("after-outage")
    wait_for(lambda: _settled(client, 5), timeout_s=120, what="a delivery after the outage")

    # The paths above happened: deliveries sent after faults, dead letters with their reasons.
    reasons = sorted(letter.reason for letter in letters.letters())
    assert reasons.count("forbidden-job-field") == 2 and "invalid-delivery" in reasons, reasons
    assert len(reasons) >= 5, reasons
    assert any(r.status == 502 for r in fake.requests("webhook_execute"))
    assert any(r.status == 401 for r in fake.requests("message_create"))
    assert any(r.status == 403 for r in fake.requests("message_create"))

    # Every output.
    for event_id in events:
        world.tether("explain", event_id)
        world.tether("explain", event_id, "--json")
    for letter in letters.letters():
        world.tether("dlq", "show", letter.id)
        world.tether("dlq", "show", letter.id, "--json")
    world.tether("dlq", "list")
    world.tether("dlq", "list", "--json")
    world.tether("status")
    world.tether("status", "--json")
    corpus: dict[str, str] = {f"`tether {cmd}`": out for cmd, out in world.outputs.items()}
    for log in world.logs:
        corpus[f"/metrics of {log.stem}"] = _metrics(log)
    for proc in world.procs:
        stop(proc)
    for log in world.logs:
        corpus[f"{log.stem} worker's stdout and stderr"] = log.read_text()
    for letter in letters.letters():
        corpus[f"dead letter {letter.id}"] = (client.get(delivery_keys.dead_letter(letter.id)) or b"").decode()
    for key in client.keys("tether:delivery:d-*"):
        corpus[f"ledger record {key.decode()}"] = json.dumps({k.decode(): v.decode("utf-8", "replace")
                                                              for k, v in client.hgetall(key).items()})

    assert sum(len(text) for text in corpus.values()) > 10_000  # the outputs are there to be searched
    found = [f"{what} in {where}" for where, text in corpus.items() for what, value in secrets.items()
             if value in text]
    assert found == []
