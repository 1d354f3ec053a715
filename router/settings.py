"""The router's settings derived from the configuration (which `bindings.process_config` reads once per process)."""

from __future__ import annotations

from bindings.config import HOUR_MS, TetherConfig


def dedupe_window_ms(config: TetherConfig) -> int:
    return max(1, int(config.router.dedupe_window_hours * HOUR_MS))
