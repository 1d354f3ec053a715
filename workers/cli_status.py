"""`tether status`: what is waiting, who is working, what is dead, what is bound."""

from __future__ import annotations

import click
import msgspec

from adapters.delivery.deadletter import DeadLetterQueue
from bindings.connection import connect, describe_url, resolve_url
from bindings.service import SessionBindingService
from workers.output import echo_json, print_table
from workers.queues import queue_state, tether_queue_names, worker_states


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--redis-url", envvar="TETHER_REDIS_URL", help="Redis URL (default: configuration).")
def status(as_json: bool, redis_url: str | None) -> None:
    """Queue depths, workers, dead letters, active bindings and the oldest waiting event."""
    client = connect(redis_url)
    queues = [queue_state(client, name) for name in tether_queue_names(client)]
    workers = worker_states(client)
    dead = DeadLetterQueue(client).count()
    active = SessionBindingService(client).count_active()
    completions = next((q for q in queues if q.name == "completions"), None)
    summary = {
        "redis": describe_url(resolve_url(redis_url)),
        "queues": msgspec.to_builtins(queues),
        "workers": msgspec.to_builtins(workers),
        "deadLetters": dead,
        "activeBindings": active,
        "oldestWaitingEvent": {"enqueuedAt": completions.oldest_enqueued_at, "ageS": completions.oldest_age_s}
        if completions and completions.oldest_enqueued_at
        else None,
    }
    if as_json:
        echo_json(summary)
        return
    click.echo(f"redis {summary['redis']}: {active} active bindings, {dead} dead letters")
    print_table("queues", ["queue", "waiting", "oldest waiting", "age (s)", "scheduled retries", "rq failed"],
                [(q.name, q.depth, q.oldest_enqueued_at or "-", q.oldest_age_s if q.oldest_age_s is not None else "-",
                  q.scheduled, q.failed) for q in queues])
    print_table("workers", ["worker", "queues", "state", "pid", "host"],
                [(w.name, ", ".join(w.queues), w.state, w.pid, w.hostname) for w in workers], empty="none running")
