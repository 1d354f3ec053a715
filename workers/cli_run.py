"""`tether run [--demo]`: the router, the console adapter and the sweeper in one process tree."""

from __future__ import annotations

import logging
import os
import signal
import threading

import click

from bindings.config import config_path, load_config
from bindings.config import redis_url as configured_redis_url
from bindings.connection import describe_url
from workers.embedded import LOG_DIR, STATE_DIR, Embedded

log = logging.getLogger("tether.run")

DEMO_CONFIG = """\
# Written by `tether run --demo`: thread-bound spawning on for the console channel, so the demo's bindings route.
[channels.console.threadBindings]
enabled = true
spawnSubagentSessions = true
idleHours = 24
"""


@click.command()
@click.option("--demo", is_flag=True, help="Play the demo scenario (two bound sessions, one unbound, a duplicate).")
@click.option("--redis-url", envvar="TETHER_REDIS_URL",
              help="Use this Redis instead of the embedded one (also REDIS_URL or redis.url of the config).")
def run(demo: bool, redis_url: str | None) -> None:
    """Run everything on one machine until Ctrl-C.

    Without a configured Redis, a private redis-server is started on a unix socket under ./.tether/ (or, when no
    redis-server is installed, an in-process fakeredis). Ctrl-C stops every worker cleanly, then that Redis.
    """
    url = redis_url or configured_redis_url(load_config())
    env: dict[str, str] | None = None
    if demo:
        from workers.demo import PRINTED_LOG_ENV

        if not os.environ.get(PRINTED_LOG_ENV):
            # The console worker records what it prints, so the demo counts what reached each conversation.
            STATE_DIR.mkdir(exist_ok=True)
            os.environ[PRINTED_LOG_ENV] = str((STATE_DIR / "console.jsonl").resolve())
    if demo and config_path() is None:
        STATE_DIR.mkdir(exist_ok=True)
        demo_config = STATE_DIR / "demo.toml"
        demo_config.write_text(DEMO_CONFIG)
        os.environ["TETHER_CONFIG"] = str(demo_config.resolve())
        env = dict(os.environ)
    embedded = Embedded(url, env=env)
    stop = threading.Event()
    # SIGHUP too: closing the terminal must not leave the workers and the private redis-server running.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    embedded.start()
    where = describe_url(embedded.url) if embedded.url else "memory"
    logs = f"; logs in {LOG_DIR}/" if embedded.procs else ""
    click.echo(f"tether: {embedded.mode} at {where}; router, console adapter and sweeper running{logs}. Ctrl-C stops.")
    try:
        if demo:
            from workers.demo import play

            play(embedded.client(), stop)
        while not stop.wait(0.5):
            if not embedded.alive():
                click.echo("tether: a worker exited unexpectedly; stopping", err=True)
                break
    finally:
        click.echo("tether: stopping…")
        embedded.stop()
        click.echo("tether: stopped")

