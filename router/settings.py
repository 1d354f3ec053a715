"""The router's view of the configuration: read once per process (per TETHER_CONFIG value), as job functions have
no other way to get it."""

from __future__ import annotations

import os
from functools import cache

from bindings.config import HOUR_MS, TetherConfig, load_config


def current_config() -> TetherConfig:
    return _config_for(os.environ.get("TETHER_CONFIG", ""))


@cache
def _config_for(_path: str) -> TetherConfig:
    return load_config()


def dedupe_window_ms(config: TetherConfig) -> int:
    return max(1, int(config.router.dedupe_window_hours * HOUR_MS))
