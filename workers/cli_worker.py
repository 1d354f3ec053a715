"""`tether worker NAME` and `tether sweeper`: the long-running processes (one per Procfile line)."""

from __future__ import annotations

import logging
import signal
import threading

import click
import redis

from bindings.config import TetherConfig, load_config
from bindings.connection import connect, describe_url, resolve_url
from workers.metrics import start_metrics
from workers.runner import WorkerSpec, run_worker

log = logging.getLogger("tether.worker")


def spec_for(name: str, client: redis.Redis, config: TetherConfig) -> WorkerSpec:
    if name == "router":
        from workers.worker_router import router_spec

        return router_spec(client, config)
    from adapters.registry import available_channels

    if name not in available_channels():
        known = ", ".join(["router", *sorted(available_channels())])
        raise click.BadParameter(f"unknown worker {name!r}; one of: {known}", param_hint="NAME")
    from workers.worker_adapter import adapter_spec

    return adapter_spec(name, client, config)


@click.command()
@click.argument("name")
@click.option("--burst", is_flag=True, help="Exit once the queue is empty instead of waiting for more work.")
@click.option("--redis-url", envvar="TETHER_REDIS_URL", help="Redis URL (default: configuration, REDIS_URL).")
def worker(name: str, burst: bool, redis_url: str | None) -> None:
    """Run one worker process: NAME is `router` or a channel (`discord`, `console`, …).

    The router reads the `completions` queue and decides where each event goes; a channel worker reads
    `deliver.<channel>` and sends. Run more processes to scale. SIGTERM finishes the current job, then exits.
    """
    client = connect(redis_url)
    config = load_config()
    spec = spec_for(name, client, config)
    log.info("connecting", extra={"redis": describe_url(resolve_url(redis_url))})
    if not burst:
        start_metrics(client, config)
    run_worker(client, spec, burst=burst)


@click.command()
@click.option("--once", is_flag=True, help="Sweep once and exit (for cron); default: every --interval seconds.")
@click.option("--interval", "interval_s", default=5.0, show_default=True, help="Seconds between sweeps.")
@click.option("--redis-url", envvar="TETHER_REDIS_URL", help="Redis URL (default: configuration, REDIS_URL).")
def sweeper(once: bool, interval_s: float, redis_url: str | None) -> None:
    """End expired bindings, check bound threads, and put expired delivery leases back to work."""
    from workers.sweeper import Sweeper

    client, config = connect(redis_url), load_config()
    sweeper = Sweeper(client, config)
    if once:
        summary = sweeper.run_once()
        click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))
        return
    stop = threading.Event()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    start_metrics(client, config)
    sweeper.run_forever(stop, interval_s=interval_s)
