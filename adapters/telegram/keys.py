"""Every Redis key of the Telegram adapter, built here and nowhere else (prefix `tether:telegram:`).

Rate limits (shared by every worker process; `adapters.ratelimit.SharedLimiter` keeps one GCRA time per key):
    tether:telegram:rl:{account}:chat:{chatId}        string  about one message a second into one chat (bursts)
    tether:telegram:rl:{account}:group:{chatId}       string  20 messages a minute into one group or supergroup
    tether:telegram:rl:{account}:global               string  30 messages a second for the whole bot

Group → supergroup migrations (Telegram gives the group a new id once, in a 400's `migrate_to_chat_id`):
    tether:telegram:migrated:{account}:{oldChatId}    string  the new chat id; deliveries still naming the old id
                                                              are sent to the new one

Conversations tether sends to or created, by chat (what a migration moves, what the sweeper checks):
    tether:telegram:convs:{account}:{chatId}          set     conversation ids ("<chatId>" / "<chatId>:topic:<id>")
    tether:telegram:chats                             zset    "{account}|{chatId}" -> when the sweeper looks next (ms)

Activity:
    tether:telegram:activity:{account}                zset    conversation id -> last outbound send (ms)
    tether:telegram:activity:{account}:{conversation} hash    lastOutboundAt, lastMessageId, sends
"""

from __future__ import annotations

PREFIX = "tether:telegram:"


def chat_rate(account: str, chat_id: str) -> str:
    return f"{PREFIX}rl:{account}:chat:{chat_id}"


def group_rate(account: str, chat_id: str) -> str:
    return f"{PREFIX}rl:{account}:group:{chat_id}"


def global_rate(account: str) -> str:
    return f"{PREFIX}rl:{account}:global"


def migrated(account: str, chat_id: str) -> str:
    return f"{PREFIX}migrated:{account}:{chat_id}"


def conversations(account: str, chat_id: str) -> str:
    return f"{PREFIX}convs:{account}:{chat_id}"


def watched_chats() -> str:
    return f"{PREFIX}chats"


def activity_index(account: str) -> str:
    return f"{PREFIX}activity:{account}"


def activity(account: str, conversation_id: str) -> str:
    return f"{PREFIX}activity:{account}:{conversation_id}"
