"""`tether worker <channel>`: an RQ worker on `deliver.<channel>` with the lease reaper beside it."""

from __future__ import annotations

import redis

from adapters.delivery.errors import handle_delivery_failure
from adapters.delivery.jobs import adapter_for
from adapters.delivery.reaper import reaper_task
from adapters.delivery.rqwire import deliver_queue_name
from bindings.config import TetherConfig
from bindings.process_config import set_process_config
from workers.runner import WorkerSpec


def adapter_spec(channel: str, client: redis.Redis, config: TetherConfig) -> WorkerSpec:
    """The worker of one channel. Builds the adapter now, so a bad configuration fails at start, not at first job;
    jobs run in this process and reuse that adapter and this configuration."""
    channel = channel.strip().lower()
    set_process_config(config)
    adapter_for(channel, config, client)
    return WorkerSpec(
        name=channel,
        queues=[deliver_queue_name(channel)],
        background=[reaper_task(client, config)],
        exception_handlers=[handle_delivery_failure],
    )
