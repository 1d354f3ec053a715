"""One webhook per parent channel, found or created once and shared by every binding and worker process.

The webhook's id and token live in one Redis key per (account, parent channel) (`keys.webhook`). The token is a
secret: it never goes into binding metadata, logs, errors or CLI output; `WebhookRef`'s repr hides it.

`ensure` returns the stored webhook, or — under a short Redis lock, so that two processes binding threads of the
same channel at once do not create two — lists the channel's webhooks, reuses one of tether's (by name) that comes
with a token, or creates one. `forget` drops a webhook Discord no longer knows (10015 unknown webhook, 50027 invalid
token), only if it is still the stored one, so the next `ensure` finds or makes a new one.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import redis

from adapters.discord import keys, routes
from adapters.discord.client import DiscordClient
from adapters.discord.errors import OutcomeUnknown
from adapters.protocol import RetryableError
from bindings.lua import ScriptSet

SCRIPTS: ScriptSet[Literal["compare_delete"]] = ScriptSet("adapters.discord", {"compare_delete": ("compare_delete",)})

log = logging.getLogger("tether.discord.webhooks")

DEFAULT_WEBHOOK_NAME = "tether"


@dataclass(frozen=True)
class WebhookRef:
    id: str
    token: str = field(repr=False)


class _Stored(msgspec.Struct, frozen=True):
    id: str
    token: str


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Stored)


class WebhookStore:
    def __init__(
        self,
        client: redis.Redis,
        api: DiscordClient,
        *,
        name: str = DEFAULT_WEBHOOK_NAME,
        lock_ms: int = 15_000,
        wait_s: float = 20.0,
    ) -> None:
        self.client = client
        self.api = api
        self.name = name
        self.lock_ms = lock_ms
        self.wait_s = wait_s

    def get(self, account: str, parent_id: str) -> WebhookRef | None:
        raw = self.client.get(keys.webhook(account, parent_id))
        if raw is None:
            return None
        try:
            stored = _decoder.decode(raw)
        except msgspec.DecodeError:
            return None
        return WebhookRef(stored.id, stored.token)

    def ensure(self, account: str, parent_id: str) -> WebhookRef:
        """The parent channel's webhook; raises DiscordApiError (e.g. 50013 without Manage Webhooks) or
        RetryableError when another process holds the lock for too long."""
        found = self.get(account, parent_id)
        if found is not None:
            return found
        lock_key = keys.webhook_lock(account, parent_id)
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait_s
        while not self.client.set(lock_key, owner, nx=True, px=self.lock_ms):
            if time.monotonic() > deadline:
                raise RetryableError(f"discord: timed out waiting to set up the webhook of channel {parent_id}",
                                     reason="webhook-setup-busy")
            time.sleep(0.05)
            found = self.get(account, parent_id)
            if found is not None:
                return found
        try:
            found = self.get(account, parent_id)
            if found is not None:
                return found
            ref = self._find(account, parent_id) or self._create(account, parent_id)
            self.client.set(keys.webhook(account, parent_id), _encoder.encode(_Stored(ref.id, ref.token)))
            log.info("webhook ready", extra={"account": account, "channel": parent_id, "webhookId": ref.id})
            return ref
        finally:
            SCRIPTS.run(self.client, "compare_delete", [lock_key], [owner])

    def forget(self, account: str, parent_id: str, webhook_id: str) -> None:
        current = self.client.get(keys.webhook(account, parent_id))
        if current is None:
            return
        try:
            if _decoder.decode(current).id != webhook_id:
                return  # someone already replaced it
        except msgspec.DecodeError:
            pass
        SCRIPTS.run(self.client, "compare_delete", [keys.webhook(account, parent_id)], [current])
        log.warning("webhook gone; forgotten", extra={"account": account, "channel": parent_id,
                                                       "webhookId": webhook_id})

    def _find(self, account: str, parent_id: str) -> WebhookRef | None:
        listed = self.api.request(
            account, routes.GET_CHANNEL_WEBHOOKS.compile(channel=parent_id), repeatable=True
        )
        for hook in listed if isinstance(listed, list) else []:
            ref = _ours(hook, self.name)
            if ref is not None:
                return ref
        return None

    def _create(self, account: str, parent_id: str) -> WebhookRef:
        try:
            made = self.api.request(
                account, routes.CREATE_WEBHOOK.compile(channel=parent_id), json={"name": self.name}, repeatable=False
            )
        except OutcomeUnknown:
            # It may exist now: look once before failing (a retry will look again).
            again = self._find(account, parent_id)
            if again is not None:
                return again
            raise
        ref = _ours(made, self.name)
        if ref is None:
            raise RetryableError("discord: webhook created without a token in the answer", reason="webhook-setup")
        return ref


def _ours(hook: Any, name: str) -> WebhookRef | None:
    """An incoming webhook (type 1) named like ours, with the token the bot can see."""
    if not isinstance(hook, dict) or hook.get("type", 1) != 1 or hook.get("name") != name:
        return None
    hook_id, token = hook.get("id"), hook.get("token")
    if isinstance(hook_id, str) and isinstance(token, str) and token:
        return WebhookRef(hook_id, token)
    return None
