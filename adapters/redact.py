"""Scrub secrets out of text before it is stored or logged (last errors, dead letters, log lines, CLI output).

Platform errors often echo the request that failed: an `Authorization: Bot …` header, a webhook URL carrying its
token (`/webhooks/{id}/{token}`), a `token=` query value. Every error text tether keeps goes through `redact`.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"
ERROR_MAX_CHARS = 2000

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization schemes: "Bot abc.def.ghi", "Bearer xyz".
    (re.compile(r"\b(Bot|Bearer)\s+[A-Za-z0-9_\-\.=+/]{8,}"), rf"\1 {REDACTED}"),
    # An Authorization header whatever its scheme.
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(?!Bot\s|Bearer\s)[^\s'\",}]+"), rf"\1{REDACTED}"),
    # Webhook URLs (Discord, Slack-style): keep the id, drop the token.
    (re.compile(r"(/webhooks/[^/\s?#]+/)[^/\s?#'\"]+"), rf"\1{REDACTED}"),
    # token=… / access_token=… in query strings or form bodies.
    (re.compile(r"(?i)\b((?:access_|refresh_|bot_)?token=)[^&\s'\"#]+"), rf"\1{REDACTED}"),
    # "token": "…" in echoed JSON.
    (re.compile(r"(?i)(\"(?:access_|refresh_|bot_|webhook_)?token\"\s*:\s*\")[^\"]*"), rf"\1{REDACTED}"),
    # A Telegram Bot API path: the bot token is part of it (`/bot123456:AA…/sendMessage`).
    (re.compile(r"/bot[0-9]{1,20}:[A-Za-z0-9_\-]+"), f"/bot{REDACTED}"),
    # A bare Telegram bot token (`123456789:AA…`, 35 characters after the colon).
    (re.compile(r"\b[0-9]{6,20}:[A-Za-z0-9_\-]{30,}\b"), REDACTED),
    # A bare Discord bot token (three base64url segments).
    (re.compile(r"\b[A-Za-z0-9_\-]{23,28}\.[A-Za-z0-9_\-]{6,7}\.[A-Za-z0-9_\-]{27,}\b"), REDACTED),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def clean_error(message: str) -> str:
    """What the ledger, dead letters and logs keep of an error: secrets scrubbed, length bounded."""
    text = redact(message)
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 1] + "…"
