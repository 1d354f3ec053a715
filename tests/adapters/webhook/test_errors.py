"""One classifier turns a receiver's answer into delivered / retry / dead / gone."""

from __future__ import annotations

import datetime as dt
import email.utils

import httpx
import pytest

from adapters.protocol import DestinationGone, PermanentError, RetryableError
from adapters.webhook.errors import BODY_EXCERPT_CHARS, classify, excerpt, retry_after_s


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_busy_answers_are_retried_after_their_retry_after(status: int) -> None:
    err = classify("main", status, httpx.Headers({"retry-after": "7"}), b"")
    assert isinstance(err, RetryableError) and err.retry_after_s == 7.0


@pytest.mark.parametrize("status", [500, 501, 507])
def test_other_server_errors_are_retried(status: int) -> None:
    err = classify("main", status, httpx.Headers(), b"")
    assert isinstance(err, RetryableError) and err.retry_after_s is None and err.reason == "server-error"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 408, 413, 422, 301, 302])
def test_other_client_errors_and_redirects_are_permanent_with_their_status(status: int) -> None:
    err = classify("main", status, httpx.Headers(), b"")
    assert isinstance(err, PermanentError) and err.reason == f"http-{status}"


def test_410_is_gone_and_ends_the_binding_endpoint_gone() -> None:
    err = classify("main", 410, httpx.Headers(), b"")
    assert isinstance(err, DestinationGone) and err.end_reason == "endpoint-gone"


def test_retry_after_as_an_http_date() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    when = email.utils.format_datetime(now + dt.timedelta(seconds=30), usegmt=True)
    assert retry_after_s(when, now) == 30.0
    assert retry_after_s("garbage") is None
    assert retry_after_s(None) is None


def test_only_a_short_redacted_excerpt_of_the_body_is_kept() -> None:
    body = b'{"error": "bad", "echo": "Bearer abcdefghijklmnop whsec_c2VjcmV0"}' + b"x" * 5000
    text = excerpt(body)
    assert len(text) <= BODY_EXCERPT_CHARS
    assert "abcdefghijklmnop" not in text and "c2VjcmV0" not in text
    assert "whsec_c2VjcmV0" not in str(classify("main", 400, httpx.Headers(), body))


def test_only_refusals_and_connections_never_made_count_as_unsent() -> None:
    from adapters.webhook.errors import transport_error

    assert classify("main", 429, httpx.Headers(), b"").unsent is True  # type: ignore[attr-defined]
    assert classify("main", 503, httpx.Headers(), b"").unsent is False  # type: ignore[attr-defined]
    assert transport_error("main", httpx.ConnectError("refused")).unsent is True
    assert transport_error("main", httpx.ReadTimeout("slow")).unsent is False
    assert transport_error("main", httpx.RemoteProtocolError("dropped")).unsent is False
