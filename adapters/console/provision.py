"""Child "threads" for the console channel, so `bind(..., placement="child")` works on the embedded default.

A console thread is just a new conversation id under its parent: `<parent>/thread-<n>`, n from a Redis counter
(unique across processes). Register it under the entry-point group `tether.provisioners` as `console`.
"""

from __future__ import annotations

import redis

from adapters.console import keys
from bindings.config import TetherConfig
from bindings.errors import ProvisioningError
from bindings.model import ConversationRef
from bindings.provisioner import ProvisionedConversation


class ConsoleProvisioner:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def provision(self, parent: ConversationRef, *, label: str | None,
                  target_session_key: str) -> ProvisionedConversation:
        parent_id = parent.parent_conversation_id
        if not parent_id:
            raise ProvisioningError("console: a child thread needs the parent conversation (parent_conversation_id)")
        n = int(self.client.incr(keys.console_threads()))
        metadata = {"threadName": (label or target_session_key)[:100]}
        return ProvisionedConversation(conversation_id=f"{parent_id}/thread-{n}", metadata=metadata)


def make_provisioner(config: TetherConfig, client: redis.Redis) -> ConsoleProvisioner:
    return ConsoleProvisioner(client)
