"""The sweeper's conversation check for Slack (`adapters.protocol.ConversationCheck`, entry point
`tether.conversation_checks: slack`): the due bound threads of `threads.ThreadIndex`, one batch a pass.

- channel gone or thread root deleted → binding ended `thread-delete`;
- channel archived → binding ended `thread-archived`;
- open, or the check failed for now → looked at again after `interval_s`; no active binding any more → dropped.

No farewell is sent for either ending (`on_ended` is not called): Slack refuses posts into an archived channel and
nobody can read a deleted thread; the binding's end is in its record and in the sweeper's log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from adapters.protocol import DeliveryError
from adapters.slack.errors import SlackError
from adapters.slack.runtime import SlackRuntime
from adapters.slack.settings import CHANNEL
from adapters.slack.threads import DEFAULT_INTERVAL_S, fetch_state
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.service import SessionBindingService

log = logging.getLogger("tether.slack.threads")


class SlackConversationCheck:
    """The sweeper's look at bound Slack threads (`adapters.protocol.ConversationCheck`)."""

    channel = CHANNEL

    def __init__(self, config: TetherConfig, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK,
                 limit: int = 100, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.rt = SlackRuntime(config, client, clock=clock)
        self.svc = SessionBindingService(client, config, clock=clock)
        self.limit = limit
        self.interval_s = interval_s

    def run_once(self, on_ended: Callable[[SessionBindingRecord], object]) -> dict[str, int]:
        counts = {"checked": 0, "archived": 0, "deleted": 0, "kept": 0, "dropped": 0}
        for account, at in self.rt.threads.due(self.limit):
            counts["checked"] += 1
            ref = ConversationRef(channel=CHANNEL, account_id=account, conversation_id=at.conversation_id,
                                  parent_conversation_id=at.channel if at.thread_ts else None)
            record = self.svc.resolve_by_conversation(ref)
            if record is None:
                self.rt.threads.unwatch(account, at)
                counts["dropped"] += 1
                continue
            try:
                state = fetch_state(self.rt.api, account, at)
            except (SlackError, DeliveryError) as exc:
                log.info("thread check failed; keeping the binding",
                         extra={"bindingId": record.binding_id, "error": str(exc)})
                state = "open"
            if state == "open":
                counts["kept"] += 1
                self.rt.threads.reschedule(account, at, after_s=self.interval_s)
                continue
            self.svc.unbind(binding_id=record.binding_id,
                            reason="thread-delete" if state == "deleted" else "thread-archived")
            self.rt.threads.unwatch(account, at)
            counts[state] += 1
        if counts["archived"] or counts["deleted"]:
            log.info("bound slack threads checked", extra=counts)
        return counts

    def close(self) -> None:
        self.rt.close()


def make_conversation_check(config: TetherConfig, client: redis.Redis) -> SlackConversationCheck:
    """Entry point `tether.conversation_checks: slack`."""
    return SlackConversationCheck(config, client)
