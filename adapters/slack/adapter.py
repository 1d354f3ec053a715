"""The Slack adapter: posts one chunk of a delivery into its Slack thread (or channel) with `chat.postMessage`.

Every post: `channel`, `thread_ts` (for a thread), `text` unchanged, `unfurl_links`/`unfurl_media` false, message
metadata naming the delivery and chunk (`reconcile.delivery_metadata`), and the event's identity as `username` and
`icon_url`. Never `reply_broadcast`: a reply stays in its thread and nothing lands in the channel root.

- The workspace refuses the identity (`missing_scope`, needs `chat:write.customize`) → remembered for the account
  (one log line per account, across processes), and the same chunk posted at once without it;
- a post without a usable answer (timeout, dropped connection, 5xx, `fatal_error`) → the thread is read for the
  chunk's metadata; found → that message is the chunk's; not found → retryable, and the engine's next attempt
  calls `reconcile` again before it ever posts (Capabilities.reconcile);
- every other failure → `errors.classify`.

After every successful send (or a send found by reconciliation): activity recorded, the thread watched by the
sweeper's check, the binding touched.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import redis

from adapters.chunking import split_message
from adapters.payloads import Delivery
from adapters.protocol import Capabilities, DeliveryError, OutboundChunk, PermanentError, RetryableError
from adapters.slack import keys
from adapters.slack.errors import OutcomeUnknown, SlackError, classify
from adapters.slack.reconcile import delivery_metadata, find_message, oldest_for
from adapters.slack.runtime import SlackRuntime
from adapters.slack.settings import CHANNEL
from adapters.slack.threads import Where, fetch_state, where
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.model import ConversationRef, SessionBindingRecord

log = logging.getLogger("tether.slack")

CUSTOMIZE_SCOPE = "chat:write.customize"
NO_CUSTOMIZE_TTL_S = 3600  # after an hour the identity is tried again (someone may have granted the scope)


class BindingAccess(Protocol):
    def touch(self, binding_id: str, at: int | None = None) -> SessionBindingRecord | None: ...


class SlackAdapter:
    channel = CHANNEL

    def __init__(self, config: TetherConfig, client: redis.Redis, *, runtime: SlackRuntime | None = None,
                 bindings: BindingAccess | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.redis = client
        self.clock = clock
        self.rt = runtime or SlackRuntime(config, client, clock=clock)
        if bindings is None:
            from bindings.service import SessionBindingService

            bindings = SessionBindingService(client, config, clock=clock)
        self.bindings = bindings
        self.capabilities = Capabilities(placements=frozenset({"current", "child"}), idempotency_key=False,
                                         reconcile=True, max_message_length=self.rt.settings.max_chunk)

    # -- Adapter protocol -------------------------------------------------------------------------------------

    def split(self, text: str) -> list[str]:
        return split_message(text, self.rt.settings.max_chunk, unit="chars")

    def send(self, chunk: OutboundChunk) -> str:
        delivery = chunk.delivery
        at = self._where(delivery.destination)
        account = delivery.destination.account_id
        payload: dict[str, Any] = {
            "channel": at.channel, "text": chunk.text, "unfurl_links": False, "unfurl_media": False,
            "metadata": delivery_metadata(delivery.delivery_id, chunk.index),
        }
        if at.thread_ts is not None:
            payload["thread_ts"] = at.thread_ts
        identity = self._identity(delivery, account)
        while True:
            try:
                body = self.rt.api.call(account, "chat.postMessage", payload | identity, write=True)
                break
            except OutcomeUnknown:
                found = self._look(chunk, at)
                if found is not None:
                    self._after_send(delivery, at, found)
                    return found
                raise
            except SlackError as exc:
                if identity and exc.error == "missing_scope" and exc.needed == CUSTOMIZE_SCOPE:
                    self._customize_refused(account)
                    identity = {}
                    continue  # refused before anything was stored: the same chunk again, without the identity
                raise classify(exc) from None
        ts = body.get("ts")
        if not isinstance(ts, str) or not ts:
            raise RetryableError("slack: a post was answered without a ts", reason="bad-answer")
        self._after_send(delivery, at, ts)
        return ts

    def reconcile(self, chunk: OutboundChunk) -> str | None:
        at = self._where(chunk.delivery.destination)
        try:
            found = find_message(self.rt.api, chunk.delivery.destination.account_id, at,
                                 delivery_metadata(chunk.delivery.delivery_id, chunk.index),
                                 oldest=oldest_for(_since(chunk.delivery)))
        except SlackError as exc:
            raise classify(exc) from None
        if found is not None:
            log.info("lost send found by reconciliation", extra={"deliveryId": chunk.delivery.delivery_id,
                                                                  "chunk": chunk.index, "ts": found})
            self._after_send(chunk.delivery, at, found)
        return found

    def validate(self, destination: ConversationRef) -> None:
        at = self._where(destination)
        try:
            state = fetch_state(self.rt.api, destination.account_id, at)
        except SlackError as exc:
            raise classify(exc) from None
        if state == "deleted":
            raise classify(SlackError("conversations.replies", 200, "thread_not_found"))
        if state == "archived":
            raise classify(SlackError("conversations.info", 200, "is_archived"))

    def close(self) -> None:
        self.rt.close()

    # -- internals --------------------------------------------------------------------------------------------

    @staticmethod
    def _where(destination: ConversationRef) -> Where:
        at = where(destination)
        if at is None:
            raise PermanentError("slack: the destination has no conversation id", reason="invalid-destination")
        return at

    def _look(self, chunk: OutboundChunk, at: Where) -> str | None:
        """Right after a lost answer: the chunk's message if it landed; None when it did not or we cannot tell yet
        (the engine's next attempt reconciles again before posting)."""
        try:
            return find_message(self.rt.api, chunk.delivery.destination.account_id, at,
                                delivery_metadata(chunk.delivery.delivery_id, chunk.index),
                                oldest=oldest_for(_since(chunk.delivery)))
        except (SlackError, DeliveryError) as exc:
            log.info("could not look for a lost send yet", extra={"deliveryId": chunk.delivery.delivery_id,
                                                                   "error": str(exc)})
            return None

    def _identity(self, delivery: Delivery, account: str) -> dict[str, str]:
        ident = delivery.identity
        if ident is None or not (ident.username or ident.avatar_url):
            return {}
        if self.redis.exists(keys.no_customize(account)):
            return {}
        out = {}
        if ident.username:
            out["username"] = ident.username[:80]
        if ident.avatar_url:
            out["icon_url"] = ident.avatar_url
        return out

    def _customize_refused(self, account: str) -> None:
        if self.redis.set(keys.no_customize(account), "1", nx=True, ex=NO_CUSTOMIZE_TTL_S):
            log.warning("the workspace refuses username/icon_url (missing chat:write.customize); posting without "
                        "the sender's identity", extra={"account": account})

    def _after_send(self, delivery: Delivery, at: Where, ts: str) -> None:
        """Bookkeeping once a message exists; a failure here is logged, never raised (the chunk must not be sent
        again because of it)."""
        account = delivery.destination.account_id
        try:
            self.rt.activity.record(account, at.conversation_id, ts)
            if at.thread_ts is not None:
                self.rt.threads.watch(account, at)
            if delivery.binding_id:
                self.bindings.touch(delivery.binding_id)
        except (redis.RedisError, ValueError) as exc:
            log.warning("bookkeeping after a send failed", extra={"deliveryId": delivery.delivery_id,
                                                                   "ts": ts, "error": str(exc)})


def _since(delivery: Delivery) -> int | None:
    return delivery.routed_at or delivery.event_created_at


def make_adapter(config: TetherConfig, client: redis.Redis) -> SlackAdapter:
    """Entry point `tether.adapters: slack`."""
    return SlackAdapter(config, client)
