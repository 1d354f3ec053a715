"""tether's signatures verify with the specification's reference library, one per secret while rotating."""

from __future__ import annotations

import base64
import datetime as dt
import os

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from adapters.webhook.endpoints import decode_secret
from adapters.webhook.signing import sign


def secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def headers(msg_id: str, ts: int, signature: str) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


def test_a_signature_verifies_with_standardwebhooks() -> None:
    s = secret()
    ts = int(dt.datetime.now(dt.UTC).timestamp())
    body = '{"type":"tether.message","data":{"text":"héllo"}}'.encode()
    signature = sign([decode_secret(s)], "msg_1", ts, body)
    assert signature.startswith("v1,")
    assert Webhook(s).verify(body, headers("msg_1", ts, signature))["data"]["text"] == "héllo"


def test_it_is_the_reference_librarys_own_signature() -> None:
    s = secret()
    at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    assert sign([decode_secret(s)], "msg_1", int(at.timestamp()), b"{}") == Webhook(s).sign("msg_1", at, "{}")


def test_while_rotating_both_the_old_and_the_new_secret_verify() -> None:
    new, old = secret(), secret()
    ts = int(dt.datetime.now(dt.UTC).timestamp())
    signature = sign([decode_secret(new), decode_secret(old)], "msg_1", ts, b"{}")
    assert len(signature.split(" ")) == 2
    for s in (new, old):
        Webhook(s).verify(b"{}", headers("msg_1", ts, signature))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret()).verify(b"{}", headers("msg_1", ts, signature))


def test_the_id_is_signed() -> None:
    s = secret()
    ts = int(dt.datetime.now(dt.UTC).timestamp())
    with pytest.raises(WebhookVerificationError):
        Webhook(s).verify(b"{}", headers("msg_2", ts, sign([decode_secret(s)], "msg_1", ts, b"{}")))
