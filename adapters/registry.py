"""Channel name → adapter. Adapters register under the entry-point group `tether.adapters`
(`console = "adapters.console.adapter:make_adapter"`); a factory takes the configuration and a Redis client.

Tests and embedders may register a factory in-process with `register_adapter`; there is deliberately no way to name
an arbitrary import path from the environment or a job payload.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

import redis

from adapters.protocol import Adapter, ConversationCheck
from bindings.config import TetherConfig

ENTRY_POINT_GROUP = "tether.adapters"

AdapterFactory = Callable[[TetherConfig, redis.Redis], Adapter]

_registered: dict[str, AdapterFactory] = {}


def register_adapter(channel: str, factory: AdapterFactory) -> None:
    _registered[channel.strip().lower()] = factory


def _entry_point_factories() -> dict[str, AdapterFactory]:
    return {ep.name.strip().lower(): ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_channels() -> set[str]:
    return set(_registered) | {ep.name.strip().lower() for ep in entry_points(group=ENTRY_POINT_GROUP)}


def has_adapter(channel: str) -> bool:
    return channel in available_channels()


def _entry_point_factory(channel: str) -> AdapterFactory | None:
    """Load only the named plugin, so one broken adapter package cannot stop the others' workers."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name.strip().lower() == channel:
            factory: AdapterFactory = ep.load()
            return factory
    return None


def load_adapter(channel: str, config: TetherConfig, client: redis.Redis) -> Adapter:
    factory = _registered.get(channel) or _entry_point_factory(channel)
    if factory is None:
        raise LookupError(f"no adapter for channel {channel!r} (known: {', '.join(sorted(available_channels()))})")
    return factory(config, client)


# ---- the sweeper's conversation checks (entry-point group `tether.conversation_checks`) -----------------------

CHECKS_GROUP = "tether.conversation_checks"

ConversationCheckFactory = Callable[[TetherConfig, redis.Redis], ConversationCheck]

_registered_checks: dict[str, ConversationCheckFactory] = {}


def register_conversation_check(channel: str, factory: ConversationCheckFactory) -> None:
    _registered_checks[channel.strip().lower()] = factory


def conversation_check_factory(channel: str) -> ConversationCheckFactory | None:
    """The check installed for `channel` (registered in-process, else its entry point), or None."""
    channel = channel.strip().lower()
    found = _registered_checks.get(channel)
    if found is not None:
        return found
    for ep in entry_points(group=CHECKS_GROUP):
        if ep.name.strip().lower() == channel:
            factory: ConversationCheckFactory = ep.load()
            return factory
    return None
