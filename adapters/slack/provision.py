"""Child placement on Slack: `bind(..., placement="child")` posts a thread root into the parent channel.

Slack cannot create an empty thread, so the root is a message (`channels.slack.threadRootText`, default
`"🤖 {label}"`, with the binding's label — else its target session key) and the binding's conversation is the
thread rooted at its `ts` (`conversationId=<ts>, parentConversationId=<channel>`).

Exactly one root, even when an answer is lost: the root post carries metadata `tether_thread_root` with a request id
chosen for this bind; after a post without a usable answer the channel is read (`conversations.history`,
`include_all_metadata`) and a root with that request id is taken instead of posting again. Only when it is not
there is the same post repeated (at most `MAX_POSTS` times). If the channel cannot be read, the bind fails rather
than risk a second root.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from adapters.protocol import DeliveryError
from adapters.slack.errors import OutcomeUnknown, SlackError
from adapters.slack.reconcile import find_message, oldest_for, root_metadata
from adapters.slack.runtime import SlackRuntime
from adapters.slack.threads import Where
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.errors import ProvisioningError
from bindings.model import ConversationRef
from bindings.provisioner import ProvisionedConversation

log = logging.getLogger("tether.slack.provision")

MAX_POSTS = 3
LOOK_DELAY_S = 0.5  # give a post whose answer was lost a moment to land before looking for it


def root_text(template: str, label: str | None, target_session_key: str) -> str:
    name = " ".join((label or "").split()) or " ".join(target_session_key.split()) or "session"
    return template.replace("{label}", name)  # not str.format: a label holding braces stays as it is


class SlackProvisioner:
    def __init__(self, config: TetherConfig, client: redis.Redis, *, runtime: SlackRuntime | None = None,
                 clock: Clock = SYSTEM_CLOCK, sleep: Callable[[float], None] = time.sleep) -> None:
        self.rt = runtime or SlackRuntime(config, client, clock=clock)
        self.clock = clock
        self.sleep = sleep

    def provision(self, parent: ConversationRef, *, label: str | None,
                  target_session_key: str) -> ProvisionedConversation:
        channel = parent.parent_conversation_id or parent.conversation_id
        if not channel:
            raise ProvisioningError("slack: child placement needs the parent channel (parent_conversation_id)")
        account = parent.account_id
        request_id = uuid.uuid4().hex
        metadata = root_metadata(request_id)
        payload: dict[str, Any] = {"channel": channel, "text": root_text(self.rt.settings.root_text, label,
                                                                          target_session_key),
                                   "unfurl_links": False, "unfurl_media": False, "metadata": metadata}
        oldest = oldest_for(self.clock.now_ms())
        ts: str | None = None
        for attempt in range(1, MAX_POSTS + 1):
            try:
                body = self.rt.api.call(account, "chat.postMessage", payload, write=True)
                ts = body.get("ts") if isinstance(body.get("ts"), str) else None
                if ts is None:
                    raise ProvisioningError("slack: the thread root was posted without a ts in the answer")
                break
            except OutcomeUnknown as exc:
                self.sleep(LOOK_DELAY_S * attempt)
                ts = self._look(account, channel, metadata, oldest, exc)
                if ts is not None:
                    log.info("thread root found after a lost answer", extra={"channel": channel, "ts": ts})
                    break
            except SlackError as exc:
                raise ProvisioningError(f"slack refused to post a thread root in channel {channel}: {exc}") from None
            except DeliveryError as exc:  # rate limited, connection refused: nothing was posted
                if attempt == MAX_POSTS:
                    raise ProvisioningError(f"slack: could not post a thread root in channel {channel}: "
                                            f"{exc}") from None
        if ts is None:
            raise ProvisioningError(f"slack: no answer to the thread root post in channel {channel} "
                                    f"after {MAX_POSTS} tries, and no root found")
        at = Where(channel, ts)
        self.rt.threads.watch(account, at)
        self.rt.activity.record(account, channel, ts)
        log.info("thread root posted", extra={"account": account, "channel": channel, "ts": ts})
        return ProvisionedConversation(conversation_id=ts, metadata={"channel": channel, "threadTs": ts})

    def _look(self, account: str, channel: str, metadata: dict[str, Any], oldest: str | None,
              cause: Exception) -> str | None:
        try:
            return find_message(self.rt.api, account, Where(channel, None), metadata, oldest=oldest)
        except (SlackError, DeliveryError) as exc:
            # Posting again could make a second root: fail the bind instead.
            raise ProvisioningError(f"slack: the thread root post in channel {channel} got no answer ({cause}), "
                                    f"and the channel could not be read to check ({exc})") from None

    def close(self) -> None:
        self.rt.close()


def make_provisioner(config: TetherConfig, client: redis.Redis) -> SlackProvisioner:
    """Entry point `tether.provisioners: slack`."""
    return SlackProvisioner(config, client)
