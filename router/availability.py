"""Whether a channel has an adapter installed, remembered once true: entry-point discovery costs milliseconds, and
the router asks for every event."""

from __future__ import annotations

from adapters.registry import has_adapter

_adapters_seen: set[str] = set()


def adapter_available(channel: str) -> bool:
    """`adapters.registry.has_adapter`, remembered once true."""
    if channel in _adapters_seen:
        return True
    if has_adapter(channel):
        _adapters_seen.add(channel)
        return True
    return False


def forget(channel: str) -> None:
    """Ask the registry again next time (an adapter registered for a test only)."""
    _adapters_seen.discard(channel)
