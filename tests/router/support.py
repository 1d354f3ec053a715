"""What router tests look at: the deliveries handed to `deliver.<channel>`, their ledger records, router worker
processes started the way `tether worker router` starts them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import redis

from adapters.delivery.rqwire import MsgspecJSONSerializer, TetherJob, deliver_queue_name, tether_queue
from adapters.payloads import DELIVERY_DECODER, Delivery

REPO = Path(__file__).resolve().parents[2]


def queued_deliveries(client: redis.Redis, channel: str) -> list[Delivery]:
    """The deliveries waiting on `deliver.<channel>` (no adapter worker runs in router tests)."""
    queue = tether_queue(deliver_queue_name(channel), client)
    out = []
    for job_id in queue.get_job_ids():
        job = TetherJob.fetch(job_id, connection=client, serializer=MsgspecJSONSerializer)
        [payload] = job.args
        out.append(DELIVERY_DECODER.decode(MsgspecJSONSerializer.dumps(payload)))
    return out


def ledger_ids(client: redis.Redis) -> set[str]:
    keys: list[bytes] = client.keys("tether:delivery:d-*")  # type: ignore[assignment]
    return {k.decode().removeprefix("tether:delivery:") for k in keys}


def start_router(redis_url: str, config_path: Path, log_path: Path, *, burst: bool = False) -> subprocess.Popen[bytes]:
    """`tether worker router` in a process of its own (with its own Redis connection)."""
    env = dict(os.environ, TETHER_CONFIG=str(config_path), TETHER_REDIS_URL=redis_url, PYTHONPATH=str(REPO))
    args = [sys.executable, "-m", "workers", "worker", "router"] + (["--burst"] if burst else [])
    with log_path.open("ab") as log:
        return subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=log)


def stop(proc: subprocess.Popen[bytes], timeout_s: float = 20) -> int:
    """SIGTERM (RQ's warm shutdown: the current job finishes), then wait."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
