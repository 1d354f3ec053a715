"""Telegram conversation ids, named as OpenClaw names them: a chat is `"<chatId>"`, a forum topic
`"<chatId>:topic:<topicId>"` whose parent is `"<chatId>"`. The General topic of a forum is the chat itself: messages
for it carry no `message_thread_id` (the Bot API refuses id 1 with "message thread not found")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bindings.errors import InvalidInput

GENERAL_TOPIC_ID = 1
_CHAT = r"-?[0-9]{1,20}"
_PATTERN = re.compile(rf"^({_CHAT})(?::topic:([0-9]{{1,12}}))?$")


@dataclass(frozen=True)
class Target:
    chat_id: str
    topic_id: int | None  # None: the chat itself (or its General topic)

    @property
    def conversation_id(self) -> str:
        return topic_conversation(self.chat_id, self.topic_id) if self.topic_id else self.chat_id

    @property
    def is_group(self) -> bool:
        """Groups and supergroups have negative ids; private chats positive ones."""
        return self.chat_id.startswith("-")

    def moved_to(self, chat_id: str) -> Target:
        return Target(chat_id, self.topic_id)


def topic_conversation(chat_id: str, topic_id: int) -> str:
    return f"{chat_id}:topic:{topic_id}"


def parse_conversation(conversation_id: str | None, *, field: str = "conversation_id") -> Target:
    if not conversation_id:
        raise InvalidInput(field, "a Telegram conversation needs a chat id")
    m = _PATTERN.match(conversation_id.strip())
    if m is None:
        raise InvalidInput(field, f"not a Telegram chat id or '<chatId>:topic:<topicId>': {conversation_id!r}")
    topic = int(m.group(2)) if m.group(2) else None
    return Target(m.group(1), None if topic == GENERAL_TOPIC_ID else topic)
