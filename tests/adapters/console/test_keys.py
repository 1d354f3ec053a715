"""The console adapter's Redis keys, pinned: changing one strands the data already in Redis."""

from __future__ import annotations

from adapters.console import keys


def test_key_strings_are_pinned() -> None:
    assert keys.console_sent("k") == "tether:console:sent:k"
    assert keys.console_threads() == "tether:console:threads"
