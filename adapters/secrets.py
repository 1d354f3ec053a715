"""Secrets of the configuration (bot tokens, access tokens, signing secrets), resolved at every use.

A secret is configured as `env:NAME` (read from the environment) or `file:PATH` (read from the file, surrounding
white space stripped), never as a literal: a literal would sit in a file that is copied, printed and committed. Nothing
is cached, so a long-lived worker uses a rotated token file with its next request. A secret's value never appears in
a log line, an error message or a repr: errors name the account and the *source* (`env:NAME`, `file:PATH`) only.
"""

from __future__ import annotations

import os
from pathlib import Path

from adapters.protocol import PermanentError, RetryableError
from bindings.config import TetherConfig
from bindings.secret_specs import parse_secret_spec

SECRET_RETRY_S = 5.0  # an unset variable or a missing file may be fixed by an operator: try again soon
EMPTY_FILE_RETRY_S = 1.0  # a writer that truncates before writing leaves the file empty for a moment


__all__ = ["SecretNotConfigured", "SecretSource", "SecretUnavailable", "parse_secret_spec", "read_secret"]


class SecretUnavailable(RetryableError):
    """The secret's source is configured but cannot be read right now (unset variable, missing or empty file)."""

    reason = "token-unavailable"
    unsent = True  # raised before anything was sent


class SecretNotConfigured(PermanentError):
    reason = "no-token"


def read_secret(spec: str, *, field: str, env: dict[str, str] | None = None, who: str | None = None) -> str:
    """The secret's current value. `who` names its owner in errors (default: the key)."""
    kind, name = parse_secret_spec(spec, field=field)
    return _read(kind, name, who or f"`{field}`", env)


def _read(kind: str, name: str, who: str, env: dict[str, str] | None) -> str:
    if kind == "env":
        value = (os.environ if env is None else env).get(name, "").strip()
        if not value:
            raise SecretUnavailable(f"{who}: environment variable {name} is unset or empty",
                                    retry_after_s=SECRET_RETRY_S)
        return value
    try:
        value = Path(name).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SecretUnavailable(f"{who}: cannot read secret file {name} ({exc.strerror or type(exc).__name__})",
                                retry_after_s=SECRET_RETRY_S) from None
    if not value:
        raise SecretUnavailable(f"{who}: secret file {name} is empty", retry_after_s=EMPTY_FILE_RETRY_S)
    return value


_CAMEL = {"token": "token", "access_token": "accessToken", "secret": "secret"}


class SecretSource:
    """One secret field (`token`, `access_token`, `secret`) of every configured account of a channel.

    Specs are checked when the source is built (a literal fails the process at start, naming the key); values are
    read afresh on every `get`.
    """

    def __init__(self, config: TetherConfig, channel: str, *, field: str = "token",
                 env: dict[str, str] | None = None) -> None:
        self.channel = channel
        self.field = field
        section = config.channels.get(channel)
        self._specs: dict[str, tuple[str, str]] = {}
        for account_id, account in (section.accounts if section else {}).items():
            spec = getattr(account, field)
            if spec is not None:
                key = f"channels.{channel}.accounts.{account_id}.{_CAMEL.get(field, field)}"
                self._specs[account_id.strip().lower()] = parse_secret_spec(spec, field=key)
        self._env = env  # None: the live process environment

    def accounts(self) -> list[str]:
        return sorted(self._specs)

    def has(self, account_id: str) -> bool:
        return account_id in self._specs

    def describe(self, account_id: str) -> str:
        """Where the secret comes from, safe to log (`env:NAME` / `file:PATH`)."""
        kind, name = self._specs[account_id]
        return f"{kind}:{name}"

    def get(self, account_id: str) -> str:
        spec = self._specs.get(account_id)
        if spec is None:
            raise SecretNotConfigured(f"no {_CAMEL.get(self.field, self.field)} configured for {self.channel} "
                                      f"account {account_id!r}")
        return _read(*spec, f"{self.channel} account {account_id!r}", self._env)
