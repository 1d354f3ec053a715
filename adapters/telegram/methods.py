"""Every Bot API method tether calls, as data.

`repeatable` says whether a request whose answer never came (timeout, dropped connection, 5xx) may simply be sent
again: reads may; `sendMessage` and `createForumTopic` may not (the Bot API has no idempotency key, so a repeat can
post a second message or make a second topic), and their callers decide what a lost answer means.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    name: str
    repeatable: bool


GET_ME = Method("getMe", repeatable=True)
GET_CHAT = Method("getChat", repeatable=True)
SEND_MESSAGE = Method("sendMessage", repeatable=False)
CREATE_FORUM_TOPIC = Method("createForumTopic", repeatable=False)

ALL_METHODS = (GET_ME, GET_CHAT, SEND_MESSAGE, CREATE_FORUM_TOPIC)
