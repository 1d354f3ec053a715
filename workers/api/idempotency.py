"""Idempotent requests (`Idempotency-Key`): the first answer is kept and returned to every retry with the same key.

A request reserves its key atomically before doing anything (`idempotency_reserve.lua`), so two concurrent requests
with one key cannot both bind: the second is answered 409 `in-progress` with `Retry-After: 1` and retries.
A success is stored for `api.idempotencyHours` (`idempotency_settle.lua`); an error answer (nothing was bound)
releases the key, so a retry runs again. A reservation whose server died is released after the pending lease
(`PENDING_LEASE_MS`).
A key reused with a different request body is a 422: the caller has a bug, and no answer fits both.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

import redis

from bindings.lua import ScriptSet
from bindings.replies import as_text
from workers.api import keys

PENDING_LEASE_MS = 120_000  # longer than any bind takes, child placement with a rate-limited platform included
MAX_KEY_CHARS = 255


ScriptName = Literal["reserve", "settle"]
SCRIPTS: ScriptSet[ScriptName] = ScriptSet(
    "workers.api", {"reserve": ("idempotency_reserve",), "settle": ("idempotency_settle",)})


@dataclass(frozen=True)
class Reserved:
    key: str
    owner: str


@dataclass(frozen=True)
class Held:
    state: Literal["pending", "done", "mismatch"]
    status: int = 0
    body: bytes = b""


def fingerprint(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


class IdempotencyStore:
    def __init__(self, client: redis.Redis, *, ttl_ms: int, pending_lease_ms: int = PENDING_LEASE_MS) -> None:
        self.client = client
        self.ttl_ms = ttl_ms
        self.pending_lease_ms = pending_lease_ms

    def reserve(self, key: str, fp: str) -> Reserved | Held:
        owner = secrets.token_hex(8)
        name = keys.idempotency(key)
        found = SCRIPTS.run(self.client, "reserve", [name], [owner, fp, self.pending_lease_ms])
        if not found:
            return Reserved(key=name, owner=owner)
        state, held_fp, status, body = (as_text(v) for v in found)
        if held_fp != fp:
            return Held("mismatch")
        if state != "done":
            return Held("pending")
        return Held("done", int(status), body.encode())

    def store(self, reserved: Reserved, status: int, body: bytes) -> bool:
        return bool(SCRIPTS.run(self.client, "settle", [reserved.key],
                                [reserved.owner, "store", status, body, self.ttl_ms]))

    def release(self, reserved: Reserved) -> bool:
        return bool(SCRIPTS.run(self.client, "settle", [reserved.key], [reserved.owner, "release", "", "", 0]))
