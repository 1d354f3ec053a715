"""The delivery engine's Redis keys, pinned: changing one strands the data already in Redis."""

from __future__ import annotations

from adapters.delivery import keys


def test_key_strings_are_pinned() -> None:
    assert keys.dead_letter("d-1") == "tether:dlq:d-1"
    assert keys.dead_letter_index() == "tether:dlq:index"
    assert keys.delivery("d-1") == "tether:delivery:d-1"
    assert keys.delivery_watch() == "tether:deliveries:watch"
    assert keys.delivery_stats() == "tether:stats:deliveries"
