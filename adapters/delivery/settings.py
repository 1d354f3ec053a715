"""The delivery engine's settings derived from the configuration, and its job ids."""

from __future__ import annotations

import hashlib
import re

from bindings.config import DeliveryConfig, TetherConfig

_SAFE_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,160}")


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
