"""`tether worker router`: an RQ worker on the `completions` queue running the route job in-process."""

from __future__ import annotations

import redis

from adapters.delivery.rqwire import COMPLETIONS_QUEUE, ROUTE_JOB
from bindings.config import TetherConfig
from router.jobs import handle_route_failure
from router.start_read import read_bindings_at_start
from workers.runner import WorkerSpec


def router_spec(client: redis.Redis, config: TetherConfig) -> WorkerSpec:
    """The router worker. Route jobs read their Redis client from the job and the configuration once per process
    (`bindings.process_config`), so `client` and `config` are not needed here yet; they are part of the
    signature every worker spec shares."""
    del client, config
    return WorkerSpec(name="router", queues=[COMPLETIONS_QUEUE], exception_handlers=[handle_route_failure],
                      start_reads={ROUTE_JOB: read_bindings_at_start})
