"""Per-process state of the delivery engine: configuration, read once (`TETHER_CONFIG`), and the derived timings."""

from __future__ import annotations

import hashlib
import re
import threading

from bindings.config import DeliveryConfig, TetherConfig, load_config

_SAFE_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,160}")


_config: TetherConfig | None = None
_lock = threading.Lock()


def process_config() -> TetherConfig:
    """The configuration of this process, loaded once on first use (job functions have no other way to get it)."""
    global _config  # noqa: PLW0603 - one per process, on purpose
    with _lock:
        if _config is None:
            _config = load_config()
        return _config


def set_process_config(config: TetherConfig | None) -> None:
    """Use `config` in this process from now on (a worker started with an explicit one); None: reload on next use."""
    global _config  # noqa: PLW0603
    with _lock:
        _config = config


def lease_ms(config: DeliveryConfig) -> int:
    return max(1, int(config.lease_s * 1000))


def retention_s(config: TetherConfig) -> int:
    """How long a delivered record outlives its delivery: as long as the router remembers the event."""
    return max(3600, int(config.router.dedupe_window_hours * 3600))


def job_id_for(delivery_id: str) -> str:
    """The RQ job id of a delivery's first job; retries, reaps and replays append `-a<n>`, `-r<n>`, `-p<n>`."""
    if _SAFE_JOB_ID.fullmatch(delivery_id):
        return f"deliver-{delivery_id}"
    return "deliver-h" + hashlib.sha256(delivery_id.encode()).hexdigest()[:32]
