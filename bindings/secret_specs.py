"""Where a secret of the configuration comes from: `env:NAME` or `file:PATH`, never a literal.

Checked when the configuration is loaded, so every process (workers, router, sweeper, API, CLI) refuses a literal
secret the same way, at start, with one message naming the key and never the value. Reading the value at use is
`adapters.secrets`'s job.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from bindings.errors import ConfigError

if TYPE_CHECKING:
    from bindings.config import TetherConfig


def literal_secret_message(field: str) -> str:
    return f"key `{field}`: must be `env:NAME` or `file:PATH` (a literal secret is not accepted)"


def parse_secret_spec(spec: str, *, field: str) -> tuple[str, str]:
    """Split `env:NAME` / `file:PATH` into (kind, name); anything else is refused, naming the key only."""
    kind, sep, rest = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in ("env", "file") or not rest.strip():
        raise ConfigError(literal_secret_message(field))
    return kind, rest.strip()


def secret_specs(config: TetherConfig) -> Iterator[tuple[str, str]]:
    """Every secret of the configuration as (key, spec): account tokens, access tokens, signing secrets (current
    and previous), the API's bearer tokens."""
    for channel, section in config.channels.items():
        for account_id, account in section.accounts.items():
            prefix = f"channels.{channel}.accounts.{account_id}"
            for name, spec in (("token", account.token), ("accessToken", account.access_token),
                               ("secret", account.secret)):
                if spec is not None:
                    yield f"{prefix}.{name}", spec
            for i, spec in enumerate(account.previous_secrets):
                yield f"{prefix}.previousSecrets[{i}]", spec
    for i, spec in enumerate(config.api.tokens):
        yield f"api.tokens[{i}]", spec


def check_secret_specs(config: TetherConfig) -> None:
    """Raise ConfigError naming the first secret configured as a literal."""
    for field, spec in secret_specs(config):
        parse_secret_spec(spec, field=field)
