"""Bot tokens of `channels.discord.accounts.<id>.token`, resolved at every request (see `adapters.secrets`)."""

from __future__ import annotations

from adapters.secrets import SecretNotConfigured, SecretSource, SecretUnavailable
from bindings.config import TetherConfig

CHANNEL = "discord"

# The names Discord's modules and tests have always used.
TokenUnavailable = SecretUnavailable
TokenNotConfigured = SecretNotConfigured


class TokenSource(SecretSource):
    """The bot token of every configured Discord account, read afresh on each call."""

    def __init__(self, config: TetherConfig, env: dict[str, str] | None = None) -> None:
        super().__init__(config, CHANNEL, field="token", env=env)

    def token(self, account_id: str) -> str:
        return self.get(account_id)
