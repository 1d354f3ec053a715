"""The TypeScript example runs green: `node examples/typescript/runner.mjs` against a real `tether api`, router
worker and console worker (separate processes, the real redis-server): spawn → child bind → completion →
delivered in the thread, once."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq.worker import Worker

from adapters.delivery.rqwire import COMPLETIONS_QUEUE, deliver_queue_name, tether_queue
from tests.support.waiting import wait_for
from tests.workers.api.support import TOKEN, ApiProcess, TetherProcess, write_config

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "examples" / "typescript" / "runner.mjs"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (CI installs it: .ci/run)")


@pytest.fixture
def system(real_redis: redis.Redis, redis_url: str, tmp_path: Path) -> Iterator[tuple[ApiProcess, Path]]:
    config = write_config(tmp_path / "tether.toml")
    sent = tmp_path / "console.jsonl"
    procs: list[TetherProcess] = []
    try:
        for name in ("router", "console"):
            procs.append(TetherProcess(["worker", name], redis_url=redis_url, config=config,
                                       log=tmp_path / f"{name}.log", env={"TETHER_CONSOLE_JSONL": str(sent)}))
            queue = tether_queue(COMPLETIONS_QUEUE if name == "router" else deliver_queue_name(name), real_redis)
            wait_for(lambda q=queue: Worker.all(connection=real_redis, queue=q), timeout_s=30,
                     what=f"the {name} worker to listen")
        api = ApiProcess(redis_url=redis_url, config=config, log=tmp_path / "api.log")
        procs.append(api)
        yield api, sent
    finally:
        for proc in procs:
            proc.stop()


def test_the_typescript_runner_binds_a_thread_and_its_completion_is_delivered_there(
        system: tuple[ApiProcess, Path]) -> None:
    api, sent = system
    assert NODE is not None

    done = subprocess.run([NODE, str(RUNNER)], env={"TETHER_API_URL": api.url, "TETHER_API_TOKEN": TOKEN,
                                                    "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr + done.stdout
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["thread"].startswith("main/thread-")
    assert out["decision"] == {**out["decision"], "mode": "bound", "reason": "requester-match"}
    assert [d["status"] for d in out["deliveries"]] == ["delivered"]
    lines = [json.loads(line) for line in sent.read_text().splitlines()]
    assert [(m["conversation"]["conversationId"], m["username"]) for m in lines] == [(out["thread"],
                                                                                     "research-agent")]
    assert lines[0]["text"].startswith("Task complete: research")
