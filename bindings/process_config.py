"""The configuration of this process, for code that has no other way to get it (RQ job functions, the route and
delivery jobs' helpers): loaded once per `TETHER_CONFIG` value, or the one a worker was started with."""

from __future__ import annotations

import os
import threading

from bindings.config import TetherConfig, load_config

_lock = threading.Lock()
_explicit: TetherConfig | None = None
_loaded: dict[str, TetherConfig] = {}


def process_config() -> TetherConfig:
    """The configuration set with `set_process_config`, else the file named by TETHER_CONFIG (read once per value)."""
    explicit = _explicit
    if explicit is not None:
        return explicit
    path = os.environ.get("TETHER_CONFIG", "")
    found = _loaded.get(path)
    if found is None:
        with _lock:
            found = _loaded.get(path)
            if found is None:
                found = _loaded[path] = load_config()
    return found


def set_process_config(config: TetherConfig | None) -> None:
    """Use `config` in this process from now on (a worker started with an explicit one); None: back to the file,
    read afresh on next use."""
    global _explicit  # noqa: PLW0603 - one per process, on purpose
    with _lock:
        _explicit = config
        _loaded.clear()
