"""Redis keys of the HTTP API (one prefix, built here only).

tether:{api}:idem:<sha256 of the Idempotency-Key>   hash: state (pending|done), owner, fp (request fingerprint),
                                                     status, body; TTL: the pending lease, then api.idempotencyHours
"""

from __future__ import annotations

import hashlib

PREFIX = "tether:{api}"


def idempotency(key: str) -> str:
    # Hashed: the caller's key may be long or odd, and is not ours to echo into key names.
    return f"{PREFIX}:idem:{hashlib.sha256(key.encode()).hexdigest()}"
