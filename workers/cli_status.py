"""`tether status`: what is waiting, who is working, what is dead, what is bound."""

from __future__ import annotations

import click

from bindings.connection import connect, describe_url, resolve_url
from workers.output import echo_json, print_table, to_builtins
from workers.queries.status import status_summary


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--redis-url", envvar="TETHER_REDIS_URL", help="Redis URL (default: configuration).")
def status(as_json: bool, redis_url: str | None) -> None:
    """Queue depths, workers, dead letters, active bindings and the oldest waiting event."""
    summary = status_summary(connect(redis_url), describe_url(resolve_url(redis_url)))
    if as_json:
        echo_json(to_builtins(summary))
        return
    click.echo(f"redis {summary.redis}: {summary.active_bindings} active bindings, {summary.dead_letters} dead letters")
    print_table("queues", ["queue", "waiting", "oldest waiting", "age (s)", "scheduled retries", "rq failed"],
                [(q.name, q.depth, q.oldest_enqueued_at or "-", q.oldest_age_s if q.oldest_age_s is not None else "-",
                  q.scheduled, q.failed) for q in summary.queues])
    print_table("workers", ["worker", "queues", "state", "pid", "host"],
                [(w.name, ", ".join(w.queues), w.state, w.pid, w.hostname) for w in summary.workers],
                empty="none running")
