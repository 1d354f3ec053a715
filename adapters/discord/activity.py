"""Outbound activity of Discord conversations, by webhook or by bot alike (the shared `adapters.activity` log under
`tether:discord:activity:…`)."""

from __future__ import annotations

from typing import Literal

import redis

from adapters.activity import DEFAULT_RETENTION_S, Activity
from adapters.activity import ActivityLog as _SharedActivityLog
from bindings.clock import SYSTEM_CLOCK, Clock

__all__ = ["DEFAULT_RETENTION_S", "Activity", "ActivityLog", "Via"]

Via = Literal["webhook", "bot"]


class ActivityLog(_SharedActivityLog):
    def __init__(self, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK,
                 retention_s: int = DEFAULT_RETENTION_S) -> None:
        super().__init__(client, "discord", clock=clock, retention_s=retention_s)
