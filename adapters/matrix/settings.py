"""The Matrix adapter's settings, from `channels.matrix` of the configuration.

    homeserver                          the homeserver's base URL (required), e.g. https://matrix.example.org
    accounts.<id>.accessToken           `env:NAME` or `file:PATH`, read at every request
    accounts.<id>.userId                the bot's user id (@bot:server); asked of the homeserver (whoami) if absent
    messageType                         "m.text" (default) or "m.notice" (clients show notices as bot messages)
    threadRootText                      the intro event of a child thread; "{label}" is replaced (default "🤖 {label}")
    identityPrefix                      true: the first chunk starts with "<sub-agent name>: "
    maxChunkChars                       the body budget of one event, in UTF-8 bytes (default and ceiling 30000)
    rateLimit.globalPerSecond           the account's sends per second, all rooms together (default 2)
    rateLimit.perConversationPerSecond  sends per second into one room (default 1), burst perConversationBurst (5)
    rateLimit.maxWaitSeconds            longest in-process wait for a slot before the attempt is retried (default 10)
"""

from __future__ import annotations

from dataclasses import dataclass

from adapters.ratelimit import Rate
from bindings.config import TetherConfig
from bindings.errors import ConfigError

CHANNEL = "matrix"
MESSAGE_TYPES = ("m.text", "m.notice")
DEFAULT_ROOT_TEXT = "\N{ROBOT FACE} {label}"
# A Matrix event is at most 65,536 bytes of canonical JSON, envelope (ids, hashes, signatures, auth and prev events)
# included. The body gets at most 30,000 UTF-8 bytes, and at most 60,000 once JSON-escaped (events.py): the
# envelope and the thread relation fit in the rest with room to spare.
MAX_BODY_BYTES = 30_000
MAX_BODY_JSON_BYTES = 60_000
ACCOUNT_RATE = Rate(per_s=2.0, burst=5)
ROOM_RATE = Rate(per_s=1.0, burst=5)


@dataclass(frozen=True)
class MatrixSettings:
    homeserver: str
    message_type: str = "m.text"
    root_text: str = DEFAULT_ROOT_TEXT
    identity_prefix: bool = False
    max_body_bytes: int = MAX_BODY_BYTES
    account_rate: Rate = ACCOUNT_RATE
    room_rate: Rate = ROOM_RATE
    max_wait_s: float = 10.0
    timeout_s: float = 15.0
    connect_timeout_s: float = 5.0
    max_server_retries: int = 3
    backoff_base_s: float = 0.2
    backoff_max_s: float = 4.0
    max_rate_limited: int = 5

    @classmethod
    def from_config(cls, config: TetherConfig) -> MatrixSettings:
        section = config.channels.get(CHANNEL)
        if section is None or not section.homeserver:
            raise ConfigError(f"key `channels.{CHANNEL}.homeserver`: required (the homeserver's base URL)")
        homeserver = section.homeserver.rstrip("/")
        if not homeserver.startswith(("http://", "https://")):
            raise ConfigError(f"key `channels.{CHANNEL}.homeserver`: must be an http(s) URL")
        message_type = section.message_type or "m.text"
        if message_type not in MESSAGE_TYPES:
            raise ConfigError(f"key `channels.{CHANNEL}.messageType`: must be one of {', '.join(MESSAGE_TYPES)}")
        max_body = section.max_chunk_chars or MAX_BODY_BYTES
        if not 256 <= max_body <= MAX_BODY_BYTES:
            raise ConfigError(f"key `channels.{CHANNEL}.maxChunkChars`: must be between 256 and {MAX_BODY_BYTES} "
                              "(UTF-8 bytes of one event's body)")
        rl = section.rate_limit
        defaults = cls(homeserver=homeserver)
        try:
            account_rate = Rate(per_s=rl.global_per_second or defaults.account_rate.per_s,
                                burst=defaults.account_rate.burst)
            room_rate = Rate(per_s=rl.per_conversation_per_second or defaults.room_rate.per_s,
                             burst=rl.per_conversation_burst or defaults.room_rate.burst)
        except ValueError as exc:
            raise ConfigError(f"key `channels.{CHANNEL}.rateLimit`: {exc}") from None
        return cls(
            homeserver=homeserver,
            message_type=message_type,
            root_text=section.thread_root_text or DEFAULT_ROOT_TEXT,
            identity_prefix=section.identity_prefix,
            max_body_bytes=max_body,
            account_rate=Rate(per_s=account_rate.per_s, burst=max(account_rate.burst, room_rate.burst)),
            room_rate=room_rate,
            max_wait_s=defaults.max_wait_s if rl.max_wait_seconds is None else rl.max_wait_seconds,
        )
