"""The Slack adapter's settings from the configuration (TOML, `channels.slack`).

    apiBase                             Web API base URL (default https://slack.com/api/; tests point it at a fake)
    accounts.<id>.token                 the bot token (xoxb-…), `env:NAME` or `file:PATH`, read at every request
    rateLimit.perConversationPerSecond  chat.postMessage into one channel (default 1, Slack's "1 per second")
    rateLimit.perConversationBurst      how many may go back to back before that rate applies (default 3)
    rateLimit.globalPerSecond           chat.postMessage across the workspace (default: no limit of tether's own)
    rateLimit.maxWaitSeconds            longest in-process wait for a slot before the attempt is retried later (10)
    rateLimit.historyPerMinute          conversations.replies and conversations.history, which reconciliation reads
                                        (default 50, Slack's Tier 3; set 1 for a commercially distributed app outside
                                        the Slack Marketplace, which Slack limits to one a minute since 2025)
    maxChunkChars                       split longer texts (default 4000; Slack truncates above 40,000)
    threadRootText                      the root message of a child thread (default "🤖 {label}")

The other methods are limited by Slack's tiers (per method per workspace): `conversations.replies`,
`conversations.history` and `conversations.info` Tier 3 (50 a minute), `auth.test` Tier 4 (100 a minute).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.ratelimit import Rate
from bindings.config import TetherConfig
from bindings.errors import ConfigError

CHANNEL = "slack"
DEFAULT_API_BASE = "https://slack.com/api/"
DEFAULT_MAX_CHUNK = 4000
MAX_TEXT = 40_000
DEFAULT_ROOT_TEXT = "🤖 {label}"

DEFAULT_POST_RATE = Rate(per_s=1.0, burst=3)
TIER_3 = Rate.per_minute(50, burst=5)
TIER_4 = Rate.per_minute(100, burst=10)
METHOD_TIERS: dict[str, Rate] = {
    "auth.test": TIER_4,
    "conversations.replies": TIER_3,
    "conversations.history": TIER_3,
    "conversations.info": TIER_3,
}


@dataclass(frozen=True)
class SlackSettings:
    api_base: str = DEFAULT_API_BASE
    timeout_s: int = 10
    post_rate: Rate = DEFAULT_POST_RATE
    workspace_rate: Rate | None = None
    method_rates: dict[str, Rate] = field(default_factory=lambda: dict(METHOD_TIERS))
    max_wait_s: float = 10.0
    max_rate_limited: int = 3  # 429s in a row within one call before the attempt is handed back to the engine
    max_chunk: int = DEFAULT_MAX_CHUNK
    root_text: str = DEFAULT_ROOT_TEXT

    @classmethod
    def from_config(cls, config: TetherConfig) -> SlackSettings:
        channel = config.channels.get(CHANNEL)
        if channel is None:
            return cls()
        api_base = channel.api_base or DEFAULT_API_BASE
        if not api_base.startswith(("http://", "https://")):
            raise ConfigError(f"key `channels.{CHANNEL}.apiBase`: must be an http(s) URL")
        rl = channel.rate_limit
        try:
            post_rate = Rate(per_s=rl.per_conversation_per_second or 1.0, burst=rl.per_conversation_burst or 3)
            workspace = Rate(per_s=rl.global_per_second, burst=max(1, round(rl.global_per_second))) \
                if rl.global_per_second else None
        except ValueError as exc:
            raise ConfigError(f"key `channels.{CHANNEL}.rateLimit`: {exc}") from None
        max_chunk = channel.max_chunk_chars if channel.max_chunk_chars is not None else DEFAULT_MAX_CHUNK
        if not 32 <= max_chunk <= MAX_TEXT:
            raise ConfigError(f"key `channels.{CHANNEL}.maxChunkChars`: must be between 32 and {MAX_TEXT}")
        root_text = channel.thread_root_text if channel.thread_root_text is not None else DEFAULT_ROOT_TEXT
        if not root_text.strip():
            raise ConfigError(f"key `channels.{CHANNEL}.threadRootText`: must not be empty")
        methods = dict(METHOD_TIERS)
        if rl.history_per_minute is not None:
            if not rl.history_per_minute > 0:
                raise ConfigError(f"key `channels.{CHANNEL}.rateLimit.historyPerMinute`: must be positive")
            history = Rate.per_minute(rl.history_per_minute, burst=max(1, min(5, round(rl.history_per_minute / 10))))
            methods |= {"conversations.replies": history, "conversations.history": history}
        return cls(api_base=api_base if api_base.endswith("/") else api_base + "/", post_rate=post_rate,
                   workspace_rate=workspace, method_rates=methods, max_wait_s=rl.max_wait_seconds or 10.0,
                   max_chunk=max_chunk, root_text=root_text)
