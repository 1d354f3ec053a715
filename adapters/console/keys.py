"""Every Redis key of the console adapter, built here and nowhere else.

    tether:console:sent:{key}       string   message id already printed for an idempotency key
    tether:console:threads          string   console provisioner: counter naming child "threads"
"""

from __future__ import annotations

PREFIX = "tether:"


def console_sent(idempotency_key: str) -> str:
    return f"{PREFIX}console:sent:{idempotency_key}"


def console_threads() -> str:
    return f"{PREFIX}console:threads"
