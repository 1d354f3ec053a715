"""How `bind(..., placement="child")` gets a new conversation without `bindings` importing `adapters`.

A platform adapter registers a factory under the entry-point group `tether.provisioners`, named for its channel
(`discord = "adapters.discord.provision:make_provisioner"`). The factory takes the configuration and a Redis client
and returns a `ConversationProvisioner`. Tests and embedders may also pass provisioners to the service directly.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Protocol

import msgspec
import redis

from bindings.config import TetherConfig
from bindings.model import ConversationRef

ENTRY_POINT_GROUP = "tether.provisioners"


class ProvisionedConversation(msgspec.Struct, frozen=True, kw_only=True):
    conversation_id: str
    metadata: dict[str, str] = msgspec.field(default_factory=dict)  # never secrets: records are printed


class ConversationProvisioner(Protocol):
    """Creates a child conversation (a Discord thread, …) under `parent.parent_conversation_id`.

    `parent` is the caller's normalised reference with `conversation_id` None: the service refuses a child bind
    without `parent_conversation_id` before any provisioner is called, so that is the one field to read.
    """

    def provision(
        self, parent: ConversationRef, *, label: str | None, target_session_key: str
    ) -> ProvisionedConversation: ...


ProvisionerFactory = Callable[[TetherConfig, "redis.Redis"], ConversationProvisioner]


def discover_provisioners(config: TetherConfig, client: redis.Redis) -> dict[str, ConversationProvisioner]:
    """Instantiate every registered provisioner; a broken plugin fails loudly, naming itself."""
    found: dict[str, ConversationProvisioner] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        factory: ProvisionerFactory = ep.load()
        found[ep.name.strip().lower()] = factory(config, client)
    return found
