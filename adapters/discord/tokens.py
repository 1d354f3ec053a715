"""Bot tokens, resolved at every request from `channels.discord.accounts.<id>.token`.

A token is configured as `env:NAME` (read from the environment) or `file:PATH` (read from the file, surrounding white
space stripped). Nothing is cached: a long-lived worker picks up a rotated token file with its next request. A token
never appears in a log line, an error message or a repr; errors name the account and the *source* only.
"""

from __future__ import annotations

import os
from pathlib import Path

from adapters.protocol import PermanentError, RetryableError
from bindings.config import TetherConfig
from bindings.errors import ConfigError

CHANNEL = "discord"
TOKEN_RETRY_S = 5.0


class TokenUnavailable(RetryableError):
    """The token's source exists in the configuration but cannot be read right now (unset variable, missing file)."""

    reason = "token-unavailable"


class TokenNotConfigured(PermanentError):
    reason = "no-token"


def parse_token_spec(spec: str, *, field: str) -> tuple[str, str]:
    """Split `env:NAME` / `file:PATH` into (kind, name); a literal token is refused so it never sits in a file."""
    kind, sep, rest = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in ("env", "file") or not rest.strip():
        raise ConfigError(f"key `{field}`: must be `env:NAME` or `file:PATH` (a literal token is not accepted)")
    return kind, rest.strip()


class TokenSource:
    """The bot token of every configured Discord account, read afresh on each call."""

    def __init__(self, config: TetherConfig, env: dict[str, str] | None = None) -> None:
        channel = config.channels.get(CHANNEL)
        self._specs: dict[str, tuple[str, str]] = {}
        for account_id, account in (channel.accounts if channel else {}).items():
            if account.token is not None:
                field = f"channels.{CHANNEL}.accounts.{account_id}.token"
                self._specs[account_id.strip().lower()] = parse_token_spec(account.token, field=field)
        self._env = env  # None: the live process environment

    def accounts(self) -> list[str]:
        return sorted(self._specs)

    def describe(self, account_id: str) -> str:
        """Where the token comes from, safe to log (`env:NAME` / `file:PATH`)."""
        kind, name = self._specs[account_id]
        return f"{kind}:{name}"

    def token(self, account_id: str) -> str:
        spec = self._specs.get(account_id)
        if spec is None:
            raise TokenNotConfigured(f"no token configured for discord account {account_id!r}")
        kind, name = spec
        if kind == "env":
            env = os.environ if self._env is None else self._env
            value = env.get(name, "").strip()
            if not value:
                raise TokenUnavailable(
                    f"discord account {account_id!r}: environment variable {name} is unset or empty",
                    retry_after_s=TOKEN_RETRY_S,
                )
            return value
        try:
            value = Path(name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TokenUnavailable(
                f"discord account {account_id!r}: cannot read token file {name} ({exc.strerror or type(exc).__name__})",
                retry_after_s=TOKEN_RETRY_S,
            ) from None
        if not value:
            # A writer that truncates before writing leaves the file empty for a moment: try again shortly.
            raise TokenUnavailable(f"discord account {account_id!r}: token file {name} is empty", retry_after_s=1.0)
        return value
