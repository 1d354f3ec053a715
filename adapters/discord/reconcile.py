"""Did a send whose answer was lost reach Discord? Attempt markers, claimed message ids, and the search.

Before the first request of a chunk, `AttemptLog.begin` records (once, `SET NX`) when and where the chunk was first
tried. After every successful send the message is *claimed* by the chunk (message id → the chunk's idempotency key).
To reconcile a chunk, `find_sent` lists the channel's messages created after the first attempt (less a clock-skew
margin) and takes the first one that

- has the chunk's exact content,
- was sent by tether the same way (a webhook message with the chunk's username, or a bot message),
- and is unclaimed or claimed by this very chunk (a worker that sent it and died before the ledger heard of it) —
  claiming it atomically (`SET NX`), so two chunks with the same text, identity and thread, both reconciling, never
  take the same message.

Webhooks have no nonce; this search is what keeps the webhook path from sending a chunk twice. Its guarantee and
limits are in the README (Discord section): it holds when the lost request had finished on Discord's side by the
time of the search, and when fewer than `max_pages` * 100 messages arrived in the thread since the first attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import redis

from adapters.discord import keys, routes
from adapters.discord.client import DiscordClient
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.replies import as_opt_text

DISCORD_EPOCH_MS = 1_420_070_400_000
ATTEMPT_TTL_S = 7 * 86_400
CLAIM_TTL_S = 7 * 86_400
SKEW_MARGIN_MS = 60_000


class Attempt(msgspec.Struct, frozen=True, kw_only=True):
    at_ms: int
    channel_id: str
    via: str  # "webhook" | "bot": how the first attempt went out


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Attempt)


@dataclass(frozen=True)
class Expected:
    """What the message of a chunk looks like."""

    content: str
    username: str | None  # webhook messages: the identity's username, when one was given


def snowflake_at(ms: int) -> int:
    return max(0, ms - DISCORD_EPOCH_MS) << 22


class AttemptLog:
    def __init__(self, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.client = client
        self.clock = clock

    def begin(self, idempotency_key: str, channel_id: str, via: str) -> Attempt | None:
        """Record the first attempt; returns the earlier one if this chunk was tried before (its outcome unknown)."""
        mine = Attempt(at_ms=self.clock.now_ms(), channel_id=channel_id, via=via)
        key = keys.attempt(idempotency_key)
        if self.client.set(key, _encoder.encode(mine), nx=True, ex=ATTEMPT_TTL_S):
            return None
        return self.get(idempotency_key)

    def get(self, idempotency_key: str) -> Attempt | None:
        raw = self.client.get(keys.attempt(idempotency_key))
        if raw is None:
            return None
        try:
            return _decoder.decode(raw)
        except msgspec.DecodeError:
            return None

    def claim(self, message_id: str, idempotency_key: str) -> bool:
        """Mark a message as the chunk's; False if it is another chunk's."""
        key = keys.claim(message_id)
        if self.client.set(key, idempotency_key, nx=True, ex=CLAIM_TTL_S):
            return True
        return self.owner(message_id) == idempotency_key

    def owner(self, message_id: str) -> str | None:
        raw = self.client.get(keys.claim(message_id))
        return as_opt_text(raw)


def find_sent(
    api: DiscordClient,
    attempts: AttemptLog,
    account: str,
    attempt: Attempt,
    *,
    idempotency_key: str,
    expected: Expected,
    max_pages: int = 5,
) -> str | None:
    """The id of the message a lost attempt created, claimed for this chunk; None if there is none (yet)."""
    after = snowflake_at(attempt.at_ms - SKEW_MARGIN_MS)
    route = routes.GET_CHANNEL_MESSAGES.compile(channel=attempt.channel_id)
    for _ in range(max_pages):
        page = api.request(account, route, query={"after": str(after), "limit": "100"}, repeatable=True)
        if not isinstance(page, list) or not page:
            return None
        # Discord lists newest first; the oldest match is the one the first attempt made.
        for message in sorted(page, key=_message_id_int):
            if _matches(message, expected):
                message_id = str(message["id"])
                if attempts.claim(message_id, idempotency_key):
                    return message_id
        after = max(_message_id_int(m) for m in page)
        if len(page) < 100:
            return None
    return None


def _message_id_int(message: Any) -> int:
    try:
        return int(message.get("id", 0)) if isinstance(message, dict) else 0
    except (TypeError, ValueError):
        return 0


def _matches(message: Any, expected: Expected) -> bool:
    if not isinstance(message, dict) or message.get("content") != expected.content or message.get("type", 0) != 0:
        return False
    author = message.get("author")
    author = author if isinstance(author, dict) else {}
    if message.get("webhook_id"):
        return expected.username is None or author.get("username") == expected.username
    return bool(author.get("bot"))
