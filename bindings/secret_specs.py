"""Where a secret of the configuration comes from: `env:NAME` or `file:PATH`, never a literal.

Checked when the configuration is loaded (`bindings.config.check_secret_specs`), so every process (workers, router,
sweeper, API, CLI) refuses a literal secret the same way, at start, with one message naming the key and never the
value. Reading the value at use is `adapters.secrets`'s job.
"""

from __future__ import annotations

from bindings.errors import ConfigError


def literal_secret_message(field: str) -> str:
    return f"key `{field}`: must be `env:NAME` or `file:PATH` (a literal secret is not accepted)"


def parse_secret_spec(spec: str, *, field: str) -> tuple[str, str]:
    """Split `env:NAME` / `file:PATH` into (kind, name); anything else is refused, naming the key only."""
    kind, sep, rest = spec.partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in ("env", "file") or not rest.strip():
        raise ConfigError(literal_secret_message(field))
    return kind, rest.strip()
