"""Child placement on Telegram: `bind(..., placement="child")` under a forum supergroup creates a forum topic.

The topic is named from `channels.telegram.topicName` (default "🤖 {label}"; the label, else the session key), cut
to Telegram's 128 characters, and the binding's conversation is `"<chatId>:topic:<topicId>"` with parent
`"<chatId>"`; its metadata gets `chatId`, `topicId` and `topicName`. The bot must be an administrator of the group
with the right to manage topics (`can_manage_topics`).

What goes wrong, and what happens (every failure is a `ProvisioningError` saying what to do):
- the chat is not a forum (topics are off) → say so: bind the chat itself with placement "current" instead;
- the bot lacks the right to manage topics → say so;
- no answer to `createForumTopic` (timeout, dropped connection, 5xx): the topic may exist, and the Bot API can neither
  list a chat's topics nor take an idempotency key, so it is never created again blindly: the error names the topic
  and the chat, and a person decides (bind it with placement "current", or delete it and bind again);
- the group became a supergroup → the migration is recorded and the topic is created in the new chat (which needs
  topics turned on first, so this usually ends as "not a forum").
"""

from __future__ import annotations

import logging

import redis

from adapters.protocol import DeliveryError
from adapters.telegram import methods
from adapters.telegram.conversations import Target, parse_conversation, topic_conversation
from adapters.telegram.errors import NO_TOPIC_RIGHTS, NOT_A_FORUM, OutcomeUnknown, TelegramApiError
from adapters.telegram.runtime import TelegramRuntime
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.errors import InvalidInput, ProvisioningError
from bindings.model import ConversationRef
from bindings.provisioner import ProvisionedConversation

log = logging.getLogger("tether.telegram.provision")


class TelegramProvisioner:
    def __init__(self, config: TetherConfig, client: redis.Redis, *, runtime: TelegramRuntime | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.rt = runtime or TelegramRuntime(config, client, clock=clock)

    def provision(self, parent: ConversationRef, *, label: str | None,
                  target_session_key: str) -> ProvisionedConversation:
        account = parent.account_id
        try:
            chat = parse_conversation(parent.parent_conversation_id or parent.conversation_id,
                                      field="conversation.parent_conversation_id")
        except InvalidInput as exc:
            raise ProvisioningError(f"telegram: {exc}") from None
        if chat.topic_id is not None:
            raise ProvisioningError("telegram: child placement needs the chat id as parent, not a topic")
        chat = self.rt.migrations.follow(account, chat)
        name = self.rt.settings.topic_title(label, target_session_key)
        try:
            made = self._create(account, chat, name)
        except TelegramApiError as exc:
            if exc.migrate_to_chat_id is None:
                raise self._refused(chat, exc) from None
            self.rt.migrations.record(account, chat.chat_id, exc.migrate_to_chat_id)
            chat = Target(exc.migrate_to_chat_id, None)
            try:
                made = self._create(account, chat, name)
            except TelegramApiError as again:
                raise self._refused(chat, again) from None
        topic_id = made.get("message_thread_id") if isinstance(made, dict) else None
        if not isinstance(topic_id, int) or isinstance(topic_id, bool):
            raise ProvisioningError(f"telegram: createForumTopic answered without a topic id; a topic named "
                                    f"{name!r} may exist in chat {chat.chat_id}")
        conversation_id = topic_conversation(chat.chat_id, topic_id)
        self.rt.activity.remember(account, chat.chat_id, conversation_id)
        log.info("forum topic created", extra={"account": account, "chat": chat.chat_id, "topicId": topic_id})
        return ProvisionedConversation(conversation_id=conversation_id, metadata={
            "chatId": chat.chat_id, "topicId": str(topic_id), "topicName": name})

    def _create(self, account: str, chat: Target, name: str) -> object:
        try:
            return self.rt.api.call(account, methods.CREATE_FORUM_TOPIC, {"chat_id": chat.chat_id, "name": name})
        except OutcomeUnknown:
            raise ProvisioningError(
                f"telegram: no answer to createForumTopic in chat {chat.chat_id}: a topic named {name!r} may have "
                "been created. It is not created again (the Bot API cannot list topics): look in the chat, and bind "
                "that topic with placement 'current' (conversation '<chatId>:topic:<topicId>') or delete it and "
                "bind again") from None
        except TelegramApiError:
            raise
        except DeliveryError as exc:
            raise ProvisioningError(f"telegram: could not create a topic in chat {chat.chat_id}: {exc}") from None

    @staticmethod
    def _refused(chat: Target, exc: TelegramApiError) -> ProvisioningError:
        if exc.says(*NOT_A_FORUM):
            return ProvisioningError(
                f"telegram chat {chat.chat_id} is not a forum (topics are off), so child placement cannot create a "
                "topic: turn topics on in the group's settings, or bind the chat itself with placement 'current'")
        if exc.says(*NO_TOPIC_RIGHTS):
            return ProvisioningError(
                f"telegram: the bot may not create topics in chat {chat.chat_id}: make it an administrator with the "
                "right to manage topics (can_manage_topics)")
        return ProvisioningError(f"telegram refused to create a topic in chat {chat.chat_id}: {exc.code} "
                                 f"{exc.description}")

    def close(self) -> None:
        self.rt.close()


def make_provisioner(config: TetherConfig, client: redis.Redis) -> TelegramProvisioner:
    """Entry point `tether.provisioners: telegram`."""
    return TelegramProvisioner(config, client)
