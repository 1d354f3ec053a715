"""The Discord adapter: sends one chunk of a delivery, by webhook into a bound thread or by the bot elsewhere.

Which path:
- a *bound* delivery to a thread (the destination has a parent channel) whose parent channel has tether's webhook
  (the binding's metadata names it, or the webhook store has one) → execute the webhook with `thread_id`,
  `wait=true` and the event's identity (`username`, `avatar_url`), so the message appears as the sub-agent;
- anything else → `POST /channels/{conversation}/messages` as the bot, with a deterministic `nonce` (the chunk's
  idempotency key) and `enforce_nonce: true`, so a resend within Discord's nonce window returns the first message.
Every message carries `allowed_mentions: {"parse": []}`: completions mention nobody.

What goes wrong, and what happens:
- thread archived (50083) → unarchive it (`PATCH archived=false`) and send again (Discord usually un-archives on
  send by itself);
- thread locked (160005) → `PermanentError("thread-locked")`;
- thread or channel deleted (10003) → `DestinationGone` (the engine ends the binding `thread-delete`, dead-letters
  `destination-gone`); nothing is ever sent to the parent channel instead;
- webhook gone (10015 unknown webhook, 50027 invalid token) → forget it, find or create a new one and send again;
  if that is not possible (no Manage Webhooks), send through the bot *to the same thread*;
- no answer to a webhook execution (timeout, dropped connection, 5xx) → reconcile (`reconcile.find_sent`) and send
  again only if the message is not there; the bot path repeats with the same nonce instead;
- everything else → `errors.classify`.

After every successful send (webhook and bot alike): outbound activity is recorded, the message id is claimed for
reconciliation, the thread is watched by the sweeper, and the binding is touched.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Protocol

import redis

from adapters.chunking import split_message
from adapters.discord import routes
from adapters.discord.errors import (
    THREAD_ARCHIVED,
    WEBHOOK_GONE,
    DiscordApiError,
    OutcomeUnknown,
    classify,
)
from adapters.discord.reconcile import AttemptLog, Expected, find_sent
from adapters.discord.runtime import DiscordRuntime
from adapters.discord.threads import fetch_thread
from adapters.discord.tokens import CHANNEL
from adapters.discord.webhooks import WebhookRef
from adapters.payloads import Delivery
from adapters.protocol import (
    Capabilities,
    DestinationGone,
    OutboundChunk,
    PermanentError,
    RetryableError,
)
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.model import ConversationRef, SessionBindingRecord

log = logging.getLogger("tether.discord")

MAX_MESSAGE_CHARS = 2000
MAX_NONCE_CHARS = 25
NONCE_TRUST_S = 120.0  # Discord dedupes nonces "in the past few minutes": within this, a resend is safe
NO_MENTIONS: dict[str, list[str]] = {"parse": []}
_RESERVED_NAMES = ("discord", "clyde")


class BindingAccess(Protocol):
    """The part of `SessionBindingService` the adapter uses."""

    def get(self, binding_id: str) -> SessionBindingRecord | None: ...

    def touch(self, binding_id: str, at: int | None = None) -> SessionBindingRecord | None: ...


class DiscordAdapter:
    channel = CHANNEL
    capabilities = Capabilities(
        placements=frozenset({"current", "child"}),
        # Only the bot path has a platform idempotency key; webhook chunks are reconciled, so the engine must call
        # `reconcile` for a chunk whose outcome it does not know.
        idempotency_key=False,
        reconcile=True,
        max_message_length=MAX_MESSAGE_CHARS,
    )

    def __init__(
        self,
        config: TetherConfig,
        client: redis.Redis,
        *,
        runtime: DiscordRuntime | None = None,
        bindings: BindingAccess | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.config = config
        self.redis = client
        self.clock = clock
        self.rt = runtime or DiscordRuntime(config, client, clock=clock)
        if bindings is None:
            from bindings.service import SessionBindingService

            bindings = SessionBindingService(client, config, clock=clock)
        self.bindings = bindings
        self.attempts = AttemptLog(client, clock=clock)
        self._reconciled: set[str] = set()  # chunks this process just found unsent: no second search before sending

    # -- Adapter protocol -------------------------------------------------------------------------------------

    def split(self, text: str) -> list[str]:
        return split_message(text, MAX_MESSAGE_CHARS)

    def send(self, chunk: OutboundChunk) -> str:
        delivery = chunk.delivery
        dest = delivery.destination
        account = dest.account_id
        channel_id = dest.conversation_id
        if not channel_id:
            raise PermanentError("discord: the destination has no conversation id", reason="invalid-destination")
        parent_id = self._webhook_parent(delivery)
        if parent_id is not None:
            message_id, via = self._send_webhook(chunk, account, channel_id, parent_id)
        else:
            message_id, via = self._send_bot(chunk, account, channel_id), "bot"
        self._after_send(delivery, account, channel_id, message_id, via=via, idempotency_key=chunk.idempotency_key)
        return message_id

    def reconcile(self, chunk: OutboundChunk) -> str | None:
        attempt = self.attempts.get(chunk.idempotency_key)
        if attempt is None:
            return None  # never attempted (or so long ago that the marker expired)
        age_s = (self.clock.now_ms() - attempt.at_ms) / 1000
        if attempt.via == "bot" and age_s < NONCE_TRUST_S:
            self._reconciled.add(chunk.idempotency_key)
            return None  # resending with the same nonce returns the first message
        try:
            found = find_sent(self.rt.api, self.attempts, chunk.delivery.destination.account_id, attempt,
                              idempotency_key=chunk.idempotency_key, expected=self._expected(chunk, via=attempt.via))
        except DiscordApiError as exc:
            raise classify(exc) from None
        if found is None:
            self._remember_reconciled(chunk.idempotency_key)
            return None
        log.info("lost send found by reconciliation", extra={"deliveryId": chunk.delivery.delivery_id,
                                                              "chunk": chunk.index, "messageId": found})
        self._after_send(chunk.delivery, chunk.delivery.destination.account_id, attempt.channel_id, found,
                         via=attempt.via, idempotency_key=chunk.idempotency_key)
        return found

    def validate(self, destination: ConversationRef) -> None:
        if not destination.conversation_id:
            raise PermanentError("discord: the destination has no conversation id", reason="invalid-destination")
        try:
            info = fetch_thread(self.rt.api, destination.account_id, destination.conversation_id)
        except DiscordApiError as exc:
            raise classify(exc) from None
        if info.state == "deleted":
            raise DestinationGone(f"discord channel {destination.conversation_id} no longer exists")
        if info.state == "locked":
            raise PermanentError(f"discord thread {destination.conversation_id} is locked", reason="thread-locked")

    def close(self) -> None:
        self.rt.close()

    # -- the webhook path -------------------------------------------------------------------------------------

    def _webhook_parent(self, delivery: Delivery) -> str | None:
        """The parent channel whose webhook carries this delivery, or None for a bot send."""
        dest = delivery.destination
        if delivery.mode != "bound" or not dest.conversation_id:
            return None
        metadata: dict[str, str] = {}
        if delivery.binding_id:
            record = self.bindings.get(delivery.binding_id)
            if record is not None:
                metadata = record.metadata
        parent_id = metadata.get("parentId") or dest.parent_conversation_id
        if not parent_id or parent_id == dest.conversation_id:
            return None
        if metadata.get("webhookId") or self.rt.webhooks.get(dest.account_id, parent_id) is not None:
            return parent_id
        return None

    def _send_webhook(self, chunk: OutboundChunk, account: str, thread_id: str, parent_id: str) -> tuple[str, str]:
        key = chunk.idempotency_key
        earlier = self.attempts.begin(key, thread_id, "webhook")
        if earlier is not None and earlier.via == "bot":
            # The first attempt went out as the bot (the webhook appeared since): its nonce covers a resend, a
            # webhook message could not be told apart from a second copy.
            return self._send_bot(chunk, account, thread_id), "bot"
        if earlier is not None and key not in self._reconciled:
            # An earlier attempt may have gone out without us learning it: look before sending again.
            found = self.reconcile(chunk)
            if found is not None:
                return found, earlier.via
        self._reconciled.discard(key)
        payload = self._webhook_payload(chunk)
        unarchived = recreated = resent = False
        while True:
            try:
                hook = self.rt.webhooks.ensure(account, parent_id)
            except DiscordApiError as exc:
                log.warning("no webhook for the thread's channel; sending as the bot to the same thread",
                            extra={"channel": parent_id, "status": exc.status, "code": exc.code})
                return self._send_bot(chunk, account, thread_id), "bot"
            try:
                body = self._execute(account, hook, thread_id, payload)
            except OutcomeUnknown:
                found = self._find_lost(chunk, account)
                if found is not None:
                    return found, "webhook"
                if resent:
                    raise
                resent = True
                continue
            except DiscordApiError as exc:
                if exc.code in WEBHOOK_GONE and not recreated:
                    self.rt.webhooks.forget(account, parent_id, hook.id)
                    recreated = True
                    continue
                if exc.code == THREAD_ARCHIVED and not unarchived:
                    self._unarchive(account, thread_id)
                    unarchived = True
                    continue
                raise classify(exc) from None
            return _message_id(body), "webhook"

    def _execute(self, account: str, hook: WebhookRef, thread_id: str, payload: dict[str, Any]) -> Any:
        return self.rt.api.request(
            account,
            routes.EXECUTE_WEBHOOK.compile(webhook=hook.id, token=hook.token),
            json=payload,
            query={"wait": "true", "thread_id": thread_id},
            repeatable=False,
        )

    def _find_lost(self, chunk: OutboundChunk, account: str) -> str | None:
        attempt = self.attempts.get(chunk.idempotency_key)
        if attempt is None:
            return None
        try:
            return find_sent(self.rt.api, self.attempts, account, attempt, idempotency_key=chunk.idempotency_key,
                             expected=self._expected(chunk, via="webhook"))
        except DiscordApiError as exc:
            raise classify(exc) from None

    def _webhook_payload(self, chunk: OutboundChunk) -> dict[str, Any]:
        payload: dict[str, Any] = {"content": chunk.text, "allowed_mentions": NO_MENTIONS}
        identity = chunk.delivery.identity
        username = _webhook_username(identity.username if identity else None)
        if username is not None:
            payload["username"] = username
        avatar = identity.avatar_url if identity else None
        if avatar and avatar.startswith(("http://", "https://")):
            payload["avatar_url"] = avatar
        return payload

    # -- the bot path ---------------------------------------------------------------------------------------------

    def _send_bot(self, chunk: OutboundChunk, account: str, channel_id: str) -> str:
        self.attempts.begin(chunk.idempotency_key, channel_id, "bot")
        payload = {
            "content": chunk.text,
            "nonce": nonce_for(chunk.idempotency_key),
            "enforce_nonce": True,
            "allowed_mentions": NO_MENTIONS,
        }
        route = routes.CREATE_MESSAGE.compile(channel=channel_id)
        unarchived = False
        while True:
            try:
                body = self.rt.api.request(account, route, json=payload, repeatable=True)
            except DiscordApiError as exc:
                if exc.code == THREAD_ARCHIVED and not unarchived:
                    self._unarchive(account, channel_id)
                    unarchived = True
                    continue
                raise classify(exc) from None
            return _message_id(body)

    # -- shared -----------------------------------------------------------------------------------------------

    def _unarchive(self, account: str, thread_id: str) -> None:
        log.info("unarchiving thread before sending", extra={"threadId": thread_id})
        try:
            self.rt.api.request(account, routes.MODIFY_CHANNEL.compile(channel=thread_id), json={"archived": False},
                                repeatable=True)
        except DiscordApiError as exc:
            raise classify(exc) from None

    def _expected(self, chunk: OutboundChunk, *, via: str) -> Expected:
        username = None
        if via == "webhook":
            username = self._webhook_payload(chunk).get("username")
        return Expected(content=chunk.text, username=username)

    def _after_send(self, delivery: Delivery, account: str, channel_id: str, message_id: str, *, via: str,
                    idempotency_key: str) -> None:
        """Bookkeeping after a message exists. The message is out: a failure here is logged, never raised, so it
        cannot make the engine send the chunk again."""
        try:
            self.attempts.claim(message_id, idempotency_key)
            self.rt.activity.record(account, channel_id, message_id, "webhook" if via == "webhook" else "bot")
            if delivery.mode == "bound" and delivery.destination.parent_conversation_id:
                self.rt.threads.watch(account, channel_id)
            if delivery.binding_id:
                self.bindings.touch(delivery.binding_id)
        except (redis.RedisError, ValueError) as exc:
            log.warning("bookkeeping after a send failed", extra={"deliveryId": delivery.delivery_id,
                                                                   "messageId": message_id, "error": str(exc)})

    def _remember_reconciled(self, key: str) -> None:
        if len(self._reconciled) > 10_000:
            self._reconciled.clear()
        self._reconciled.add(key)


def nonce_for(idempotency_key: str) -> str:
    """Discord nonces hold at most 25 characters; longer keys are hashed down, deterministically."""
    if len(idempotency_key) <= MAX_NONCE_CHARS:
        return idempotency_key
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:MAX_NONCE_CHARS]


def _webhook_username(name: str | None) -> str | None:
    """Discord refuses webhook usernames over 80 characters or containing "discord"/"clyde" (the whole message
    would be refused); such a name is shortened, or dropped for the webhook's own name."""
    if name is None:
        return None
    name = name.strip()[:80].strip()
    if not name or any(word in name.lower() for word in _RESERVED_NAMES):
        return None
    return name


def _message_id(body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("id"), str | int):
        return str(body["id"])
    raise RetryableError("discord: a send was answered without a message id", reason="bad-answer")


def make_adapter(config: TetherConfig, client: redis.Redis) -> DiscordAdapter:
    """Entry point `tether.adapters: discord`."""
    return DiscordAdapter(config, client)
