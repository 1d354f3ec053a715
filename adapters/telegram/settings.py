"""`channels.telegram.*` read once per process into plain values, with the Bot API's own limits as defaults."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.ratelimit import Rate
from adapters.telegram.client import DEFAULT_API_BASE, ClientSettings
from bindings.config import ChannelConfig, TetherConfig
from bindings.errors import ConfigError

CHANNEL = "telegram"
MAX_MESSAGE_UTF16 = 4096  # sendMessage's limit, counted in UTF-16 code units
MAX_TOPIC_NAME = 128
DEFAULT_TOPIC_NAME = "🤖 {label}"
USERNAME_MAX_UTF16 = 64  # identityPrefix: the name is cut to this, so the prefix fits a reserved room
PREFIX_RESERVE = USERNAME_MAX_UTF16 + 2  # "<username>: "


PER_CHAT = Rate(1.0, 3)  # "about one message per second" into a chat, short bursts tolerated
PER_GROUP = Rate.per_minute(20)  # "20 messages per minute" into a group: no burst over the minute
PER_BOT = Rate(30.0)  # "30 messages per second" for the whole bot


@dataclass(frozen=True)
class TelegramRates:
    per_chat: Rate = PER_CHAT
    per_group: Rate = PER_GROUP
    per_bot: Rate = PER_BOT
    max_wait_s: float = 10.0


@dataclass(frozen=True)
class TelegramSettings:
    client: ClientSettings
    rates: TelegramRates
    max_chunk: int = MAX_MESSAGE_UTF16
    topic_name: str = DEFAULT_TOPIC_NAME
    identity_prefix: bool = False

    @classmethod
    def from_config(cls, config: TetherConfig) -> TelegramSettings:
        ch = config.channels.get(CHANNEL) or ChannelConfig()
        rl = ch.rate_limit
        defaults = TelegramRates()
        try:
            rates = TelegramRates(
                per_chat=Rate(rl.per_conversation_per_second or defaults.per_chat.per_s,
                              rl.per_conversation_burst or defaults.per_chat.burst),
                per_group=Rate.per_minute(rl.per_group_per_minute or 20),
                per_bot=Rate(rl.global_per_second or defaults.per_bot.per_s),
                max_wait_s=rl.max_wait_seconds if rl.max_wait_seconds is not None else defaults.max_wait_s,
            )
        except ValueError as exc:
            raise ConfigError(f"key `channels.{CHANNEL}.rateLimit`: {exc}") from None
        max_chunk = ch.max_chunk_chars or MAX_MESSAGE_UTF16
        if not 64 + PREFIX_RESERVE <= max_chunk <= MAX_MESSAGE_UTF16:
            raise ConfigError(f"key `channels.{CHANNEL}.maxChunkChars`: must be within {64 + PREFIX_RESERVE}.."
                              f"{MAX_MESSAGE_UTF16} (UTF-16 code units), got {max_chunk}")
        topic_name = ch.topic_name if ch.topic_name is not None else DEFAULT_TOPIC_NAME
        if not topic_name.strip():
            raise ConfigError(f"key `channels.{CHANNEL}.topicName`: must not be empty")
        api_base = (ch.api_base or DEFAULT_API_BASE).rstrip("/")
        if not api_base.startswith(("https://", "http://")):
            raise ConfigError(f"key `channels.{CHANNEL}.apiBase`: must be an http(s) URL")
        return cls(client=ClientSettings(api_base=api_base, max_wait_s=rates.max_wait_s), rates=rates,
                   max_chunk=max_chunk, topic_name=topic_name, identity_prefix=ch.identity_prefix)

    def topic_title(self, label: str | None, target_session_key: str) -> str:
        """The new topic's name: `topicName` with `{label}` filled (the label, else the session key), at most 128
        characters (Telegram's limit)."""
        label = " ".join((label or "").split()) or " ".join(target_session_key.split()) or "session"
        name = " ".join(self.topic_name.replace("{label}", label).split())
        return name[:MAX_TOPIC_NAME].strip() or label[:MAX_TOPIC_NAME]
