"""Standard Webhooks signatures: `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, one per secret.

While a secret is being rotated every configured secret signs and the signatures are joined by spaces; a receiver
accepts the request when any one of them matches its secret (the specification's rule, and `standardwebhooks`').
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable


def sign(keys: Iterable[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for `body` sent as `msg_id` at `timestamp` (seconds)."""
    signed = b"%s.%d.%s" % (msg_id.encode(), timestamp, body)
    return " ".join("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
                    for key in keys)
