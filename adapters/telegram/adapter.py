"""The Telegram adapter: sends one chunk of a delivery with `sendMessage`, into a chat or one of its forum topics.

A message carries `chat_id`, `message_thread_id` for a topic (never for the chat itself or its General topic, so a
completion bound to a topic can only land in that topic: a topic that is gone is an error, never General), the text
unchanged as plain text (no `parse_mode`) and link previews off. Chunks are at most 4,096 UTF-16 code units.
With `channels.telegram.identityPrefix`, the first chunk starts with "<username>: " (room for it is kept in every
chunk's budget, so the split stays the same whatever the name).

Before each send the shared limiter admits it under the chat's, the group's and the bot's limits. After it: outbound
activity is recorded, the conversation is remembered under its chat (for migrations and the sweeper), and the binding
is touched.

What goes wrong, and what happens:
- the group became a supergroup (400 with `migrate_to_chat_id`) → the bindings on the old chat move to the new id
  (`migration.Migrations`) and the chunk is sent there, once; later deliveries naming the old id follow it;
- no answer to `sendMessage` (timeout, dropped connection, 5xx) → `OutcomeUnknown`: the Bot API has neither an
  idempotency key nor a way to read a chat's history, so the engine's next attempt follows
  `channels.telegram.unknownSend` ("resend": a duplicate is possible; "dead-letter");
- everything else → `errors.classify`.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from adapters.chunking import measure, split_message
from adapters.payloads import Delivery
from adapters.protocol import Capabilities, OutboundChunk, PermanentError, RetryableError
from adapters.telegram import methods
from adapters.telegram.conversations import Target, parse_conversation
from adapters.telegram.errors import TelegramApiError, classify
from adapters.telegram.runtime import TelegramRuntime
from adapters.telegram.settings import CHANNEL, MAX_MESSAGE_UTF16, PREFIX_RESERVE, USERNAME_MAX_UTF16
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.errors import InvalidInput
from bindings.model import ConversationRef

log = logging.getLogger("tether.telegram")

NO_PREVIEW = {"is_disabled": True}


class TelegramAdapter:
    channel = CHANNEL
    capabilities = Capabilities(
        placements=frozenset({"current", "child"}),
        idempotency_key=False,  # sendMessage takes no key
        reconcile=False,  # and a bot cannot read a chat's history: channels.telegram.unknownSend decides
        max_message_length=MAX_MESSAGE_UTF16,
    )

    def __init__(self, config: TetherConfig, client: redis.Redis, *, runtime: TelegramRuntime | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.rt = runtime or TelegramRuntime(config, client, clock=clock)
        self.settings = self.rt.settings

    # -- Adapter protocol -------------------------------------------------------------------------------------

    def split(self, text: str) -> list[str]:
        budget = self.settings.max_chunk - (PREFIX_RESERVE if self.settings.identity_prefix else 0)
        return split_message(text, budget, unit="utf16")

    def send(self, chunk: OutboundChunk) -> str:
        delivery = chunk.delivery
        account = delivery.destination.account_id
        target = self.rt.migrations.follow(account, _target(delivery.destination))
        params = self._params(target, self._text(chunk))
        try:
            result = self._send(account, target, params)
        except TelegramApiError as exc:
            if exc.migrate_to_chat_id is None:
                raise classify(exc) from None
            self.rt.migrations.record(account, target.chat_id, exc.migrate_to_chat_id)
            target = target.moved_to(exc.migrate_to_chat_id)
            params["chat_id"] = target.chat_id
            try:
                result = self._send(account, target, params)
            except TelegramApiError as again:
                raise classify(again) from None
        message_id = f"{target.chat_id}:{_message_id(result)}"
        self._after_send(delivery, account, target, message_id)
        return message_id

    def reconcile(self, chunk: OutboundChunk) -> str | None:
        return None  # never called: capabilities.reconcile is False

    def validate(self, destination: ConversationRef) -> None:
        """The chat is reachable by the bot (a topic's state cannot be read through the Bot API without sending)."""
        account = destination.account_id
        target = self.rt.migrations.follow(account, _target(destination))
        try:
            self.rt.api.call(account, methods.GET_CHAT, {"chat_id": target.chat_id})
        except TelegramApiError as exc:
            if exc.migrate_to_chat_id is not None:
                self.rt.migrations.record(account, target.chat_id, exc.migrate_to_chat_id)
                return
            raise classify(exc) from None

    def close(self) -> None:
        self.rt.close()

    # -- internals --------------------------------------------------------------------------------------------

    def _text(self, chunk: OutboundChunk) -> str:
        identity = chunk.delivery.identity
        if not (self.settings.identity_prefix and chunk.index == 0 and identity and identity.username):
            return chunk.text
        name = " ".join(identity.username.split())
        while name and measure(name) > USERNAME_MAX_UTF16:
            name = name[:-1]
        return f"{name}: {chunk.text}" if name else chunk.text

    @staticmethod
    def _params(target: Target, text: str) -> dict[str, Any]:
        params: dict[str, Any] = {"chat_id": target.chat_id, "text": text, "link_preview_options": NO_PREVIEW}
        if target.topic_id is not None:
            params["message_thread_id"] = target.topic_id
        return params

    def _send(self, account: str, target: Target, params: dict[str, Any]) -> Any:
        limits = self.rt.send_limits(account, target)
        return self.rt.api.call(account, methods.SEND_MESSAGE, params, limits=limits,
                                block=[key for key, _ in limits[:-1]])  # a 429 blocks the chat, not the bot

    def _after_send(self, delivery: Delivery, account: str, target: Target, message_id: str) -> None:
        """Bookkeeping after a message exists. The message is out: a failure here is logged, never raised, so it
        cannot make the engine send the chunk again."""
        try:
            self.rt.activity.record(account, target.chat_id, target.conversation_id, message_id)
            if delivery.binding_id:
                self.rt.bindings.touch(delivery.binding_id)
        except (redis.RedisError, ValueError) as exc:
            log.warning("bookkeeping after a send failed", extra={"deliveryId": delivery.delivery_id,
                                                                   "messageId": message_id, "error": str(exc)})


def _target(destination: ConversationRef) -> Target:
    try:
        return parse_conversation(destination.conversation_id)
    except InvalidInput as exc:
        raise PermanentError(f"telegram: {exc}", reason="invalid-destination") from None


def _message_id(result: Any) -> str:
    if isinstance(result, dict) and isinstance(result.get("message_id"), int):
        return str(result["message_id"])
    raise RetryableError("telegram: sendMessage was answered without a message id", reason="bad-answer")


def make_adapter(config: TetherConfig, client: redis.Redis) -> TelegramAdapter:
    """Entry point `tether.adapters: telegram`."""
    return TelegramAdapter(config, client)
