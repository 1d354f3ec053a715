"""Secrets never survive into stored or logged error texts."""

from __future__ import annotations

import pytest

from adapters.redact import REDACTED, redact

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123"


@pytest.mark.parametrize(("text", "secret", "kept"), [
    (f"Authorization: Bot {TOKEN}", TOKEN, "Authorization: Bot"),
    ("Authorization: Bearer abcdefghijkl", "abcdefghijkl", "Bearer"),
    ("POST https://discord.com/api/v10/webhooks/1234/s3cr3t-t0k3n?wait=true -> 500", "s3cr3t-t0k3n",
     "/webhooks/1234/"),
    ("GET /callback?token=hunter2&page=1", "hunter2", "page=1"),
    ('{"token": "hunter2", "id": 1}', "hunter2", '"id": 1'),
    ('headers={"authorization": "opaque-value"}', "opaque-value", "authorization"),
    (f"bare token {TOKEN} in text", TOKEN, "bare token"),
])
def test_secrets_are_replaced_and_the_rest_kept(text: str, secret: str, kept: str) -> None:
    out = redact(text)
    assert secret not in out
    assert REDACTED in out
    assert kept in out


def test_text_without_secrets_is_unchanged() -> None:
    text = "503 Service Unavailable (channel 1234, message 5678)"
    assert redact(text) == text


def test_telegram_bot_paths_and_tokens_are_scrubbed() -> None:
    from adapters.redact import redact

    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    text = f"POST https://api.telegram.org/bot{token}/sendMessage failed; token {token}"
    scrubbed = redact(text)
    assert token not in scrubbed
    assert "/bot[redacted]/sendMessage" in scrubbed
