"""Child placement on Discord: `bind(..., placement="child")` creates a public thread under the parent channel.

The thread (type 11, started without a message) is named after the binding's label — else the target session key —
cut to Discord's 100 characters. The parent channel's webhook is found or created once (`WebhookStore.ensure`) and
reused by every later binding and process; the binding's metadata gets `threadId`, `parentId` and `webhookId`, never
the webhook token. If the bot may not manage webhooks the binding still works: bound messages then go to the thread
through the bot, without the sub-agent's identity.
"""

from __future__ import annotations

import logging

import redis

from adapters.discord import routes
from adapters.discord.errors import DiscordApiError
from adapters.discord.runtime import DiscordRuntime
from adapters.protocol import DeliveryError
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.errors import ProvisioningError
from bindings.model import ConversationRef
from bindings.provisioner import ProvisionedConversation

log = logging.getLogger("tether.discord.provision")

PUBLIC_THREAD = 11
MAX_THREAD_NAME = 100
AUTO_ARCHIVE_MINUTES = 10080  # the longest Discord allows: the binding's own idle timeout decides when it ends


def thread_name(label: str | None, target_session_key: str) -> str:
    name = " ".join((label or "").split()) or " ".join(target_session_key.split()) or "session"
    return name[:MAX_THREAD_NAME]


class DiscordProvisioner:
    def __init__(self, config: TetherConfig, client: redis.Redis, *, runtime: DiscordRuntime | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.rt = runtime or DiscordRuntime(config, client, clock=clock)

    def provision(
        self, parent: ConversationRef, *, label: str | None, target_session_key: str
    ) -> ProvisionedConversation:
        parent_id = parent.parent_conversation_id or parent.conversation_id
        if not parent_id:
            raise ProvisioningError("discord: child placement needs the parent channel (parent_conversation_id)")
        account = parent.account_id
        body = {"name": thread_name(label, target_session_key), "type": PUBLIC_THREAD,
                "auto_archive_duration": AUTO_ARCHIVE_MINUTES}
        try:
            made = self.rt.api.request(account, routes.START_THREAD.compile(channel=parent_id), json=body,
                                       repeatable=False)
        except DiscordApiError as exc:
            raise ProvisioningError(
                f"discord refused to create a thread in channel {parent_id}: {exc.status} "
                f"(code {exc.code}) {exc.message}"
            ) from None
        except DeliveryError as exc:
            raise ProvisioningError(f"discord: could not create a thread in channel {parent_id}: {exc}") from None
        thread_id = made.get("id") if isinstance(made, dict) else None
        if not isinstance(thread_id, str) or not thread_id:
            raise ProvisioningError("discord: the thread was created without an id in the answer")
        metadata = {"threadId": thread_id, "parentId": parent_id}
        try:
            metadata["webhookId"] = self.rt.webhooks.ensure(account, parent_id).id
        except (DiscordApiError, DeliveryError) as exc:
            log.warning("no webhook for the parent channel; bound messages will come from the bot",
                        extra={"channel": parent_id, "error": str(exc)})
        self.rt.threads.watch(account, thread_id)
        log.info("thread created", extra={"account": account, "channel": parent_id, "threadId": thread_id})
        return ProvisionedConversation(conversation_id=thread_id, metadata=metadata)

    def close(self) -> None:
        self.rt.close()


def make_provisioner(config: TetherConfig, client: redis.Redis) -> DiscordProvisioner:
    """Entry point `tether.provisioners: discord`."""
    return DiscordProvisioner(config, client)
