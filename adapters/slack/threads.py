"""Bound Slack threads: where a conversation reference points, its state on Slack, and the index of threads to watch.

Every thread tether posted a bound message into, or rooted for a child bind, is put in an index (`keys.bound_threads`,
member `account|channel|thread ts`, score = when to look next). The sweeper's check (`thread_check`, entry point
`tether.conversation_checks: slack`) looks at the due ones only:

- channel gone (`channel_not_found` from `conversations.info`) or thread root deleted (`thread_not_found` from
  `conversations.replies`) → binding ended `thread-delete`;
- channel archived (`conversations.info` → `is_archived`) → binding ended `thread-archived`;
- open → looked at again after `interval_s`; a transient failure → kept and looked at again;
- no active binding any more → dropped from the index.

No farewell is sent for either ending (`on_ended` is not called): Slack refuses posts into an archived channel and
nobody can read a deleted thread; the binding's end is in its record and in the sweeper's log line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import redis

from adapters.slack import keys
from adapters.slack.errors import GONE, SlackError
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.model import ConversationRef

if TYPE_CHECKING:
    from adapters.slack.client import SlackClient

ThreadState = Literal["open", "archived", "deleted"]
DEFAULT_INTERVAL_S = 60.0


@dataclass(frozen=True)
class Where:
    """Where a conversation reference points on Slack: a channel, and a thread root in it (or None)."""

    channel: str
    thread_ts: str | None

    @property
    def conversation_id(self) -> str:
        return self.thread_ts or self.channel


def where(ref: ConversationRef) -> Where | None:
    """A thread is `conversationId=<root ts>, parentConversationId=<channel>`; a channel has no parent."""
    if not ref.conversation_id:
        return None
    if ref.parent_conversation_id and ref.parent_conversation_id != ref.conversation_id:
        return Where(ref.parent_conversation_id, ref.conversation_id)
    return Where(ref.conversation_id, None)


def fetch_state(api: SlackClient, account: str, at: Where) -> ThreadState:
    """`deleted` for a gone channel or thread root; other failures raise (SlackError / DeliveryError)."""
    try:
        info = api.call(account, "conversations.info", {"channel": at.channel})
        channel = info.get("channel")
        if isinstance(channel, dict) and channel.get("is_archived"):
            return "archived"
        if at.thread_ts is not None:
            api.call(account, "conversations.replies", {"channel": at.channel, "ts": at.thread_ts, "limit": 1})
    except SlackError as exc:
        if exc.error in GONE:
            return "deleted"
        raise
    return "open"


def _member(account: str, at: Where) -> str:
    return f"{account}|{at.channel}|{at.thread_ts or ''}"


class ThreadIndex:
    def __init__(self, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.client = client
        self.clock = clock

    def watch(self, account: str, at: Where, *, after_s: float = DEFAULT_INTERVAL_S) -> None:
        """Start watching (a conversation already watched keeps its due time)."""
        due = self.clock.now_ms() + int(after_s * 1000)
        self.client.zadd(keys.bound_threads(), {_member(account, at): due}, nx=True)

    def reschedule(self, account: str, at: Where, *, after_s: float) -> None:
        due = self.clock.now_ms() + int(after_s * 1000)
        self.client.zadd(keys.bound_threads(), {_member(account, at): due}, xx=True)

    def unwatch(self, account: str, at: Where) -> None:
        self.client.zrem(keys.bound_threads(), _member(account, at))

    def due(self, limit: int = 100) -> list[tuple[str, Where]]:
        raw = self.client.zrangebyscore(keys.bound_threads(), "-inf", self.clock.now_ms(), start=0, num=limit)
        out: list[tuple[str, Where]] = []
        for item in raw:
            account, channel, thread_ts = (item.decode() if isinstance(item, bytes) else str(item)).split("|", 2)
            out.append((account, Where(channel, thread_ts or None)))
        return out
