"""Endpoints are data: a template, a method, and the major parameter that decides the rate-limit bucket."""

from __future__ import annotations

import pytest

from adapters.discord import routes


def test_compiling_fills_the_template_and_names_the_major_parameter() -> None:
    r = routes.CREATE_MESSAGE.compile(channel="123")
    assert r.path == "/channels/123/messages"
    assert r.major == "123"
    assert r.key == "POST /channels/{channel}/messages"


def test_a_webhook_route_is_counted_against_the_webhook_and_not_the_bot() -> None:
    r = routes.EXECUTE_WEBHOOK.compile(webhook="9", token="s3cret-token")
    assert r.major == "9"
    assert not r.route.bot_auth
    assert all(x.bot_auth for x in routes.ALL_ROUTES if x is not routes.EXECUTE_WEBHOOK)


def test_the_webhook_token_never_shows_in_a_repr_or_a_route_key() -> None:
    r = routes.EXECUTE_WEBHOOK.compile(webhook="9", token="s3cret-token")
    assert "s3cret" not in repr(r)
    assert "s3cret" not in r.key


@pytest.mark.parametrize("bad", [{}, {"channel": ""}, {"channel": "1/2"}, {"channel": "1?x=2"}])
def test_missing_or_unsafe_parameters_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="POST /channels"):
        routes.CREATE_MESSAGE.compile(**bad)
