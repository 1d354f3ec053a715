"""Reading Redis replies: clients may or may not decode responses, and Lua returns numbers as integers, so every
package reads strings out of a reply through these two helpers."""

from __future__ import annotations

from typing import Any


def as_text(value: Any) -> str:
    """A reply value as a string: bytes decoded as UTF-8, anything else through `str`."""
    return value.decode() if isinstance(value, bytes) else str(value)


def as_opt_text(value: Any) -> str | None:
    """`as_text`, with None (a missing key or field) kept as None."""
    return None if value is None else as_text(value)
