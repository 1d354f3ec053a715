"""Endpoints come from the configuration only, and a wrong one fails the worker at start, naming the key."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from adapters.webhook.endpoints import check_url, decode_secret, load_endpoints
from bindings.config import parse_config
from bindings.errors import ConfigError


def endpoints_of(tmp_path: Path, account: str, secret: str = "whsec_" + base64.b64encode(b"k" * 32).decode()):  # type: ignore[no-untyped-def]
    path = tmp_path / "secret"
    path.write_text(secret)
    text = f'[channels.webhook.accounts.main]\nsecret = "file:{path}"\n' + account
    return load_endpoints(parse_config(text))


def test_a_good_account_gives_its_endpoint(tmp_path: Path) -> None:
    [(name, endpoint)] = endpoints_of(tmp_path, 'url = "https://bridge.example.com/tether"\n'
                                                'headers = { X-Team = "ops" }\n').items()
    assert (name, endpoint.url, endpoint.headers) == ("main", "https://bridge.example.com/tether", {"X-Team": "ops"})
    assert [s.key for s in endpoint.secrets] == ["channels.webhook.accounts.main.secret"]


@pytest.mark.parametrize(("url", "complaint"), [
    ("not a url", "absolute http"),
    ("ftp://example.com/x", "absolute http"),
    ("http://bridge.example.com/x", "loopback"),
    ("http://10.0.0.5/x", "loopback"),
    ("https://user:pw@example.com/x", "credentials"),
    ("https://example.com/x#frag", "fragment"),
])
def test_a_bad_url_is_refused_naming_the_key(tmp_path: Path, url: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=rf"channels\.webhook\.accounts\.main\.url.*{complaint}"):
        endpoints_of(tmp_path, f'url = "{url}"\n')


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "http://localhost/x", "http://[::1]:9/x"])
def test_plain_http_is_fine_to_loopback(url: str) -> None:
    assert check_url(url, key="k", allow_insecure=False)


def test_plain_http_elsewhere_needs_allow_insecure(tmp_path: Path) -> None:
    [endpoint] = endpoints_of(tmp_path, 'url = "http://bridge.internal/x"\nallowInsecure = true\n').values()
    assert endpoint.url == "http://bridge.internal/x"


@pytest.mark.parametrize(("value", "complaint"), [
    ("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "start with `whsec_`"),
    ("whsec_not*base64!", "base64"),
    ("whsec_" + base64.b64encode(b"short").decode(), "24-64 bytes"),
])
def test_a_secret_value_that_is_not_whsec_base64_is_refused_naming_the_key(tmp_path: Path, value: str,
                                                                           complaint: str) -> None:
    with pytest.raises(ConfigError, match=rf"channels\.webhook\.accounts\.main\.secret.*{complaint}") as caught:
        endpoints_of(tmp_path, 'url = "https://x.example/h"\n', secret=value)
    assert value not in str(caught.value)


def test_a_literal_secret_is_refused(tmp_path: Path) -> None:
    text = '[channels.webhook.accounts.main]\nurl = "https://x.example/h"\nsecret = "whsec_abc"\n'
    with pytest.raises(ConfigError, match=r"accounts\.main\.secret.*env:NAME"):
        load_endpoints(parse_config(text))


def test_a_bad_previous_secret_is_named_by_its_index(tmp_path: Path) -> None:
    bad = tmp_path / "old"
    bad.write_text("nope")
    with pytest.raises(ConfigError, match=r"accounts\.main\.previousSecrets\[0\]"):
        endpoints_of(tmp_path, f'url = "https://x.example/h"\npreviousSecrets = ["file:{bad}"]\n')


def test_an_unreadable_secret_at_load_is_left_to_the_send(tmp_path: Path) -> None:
    text = '[channels.webhook.accounts.main]\nurl = "https://x.example/h"\nsecret = "env:TETHER_TEST_UNSET_SECRET"\n'
    assert list(load_endpoints(parse_config(text), env={})) == ["main"]


def test_headers_tether_sets_itself_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"accounts\.main\.headers\.webhook-id"):
        endpoints_of(tmp_path, 'url = "https://x.example/h"\nheaders = { webhook-id = "x" }\n')


def test_url_and_secret_are_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"accounts\.main\.url.*required"):
        endpoints_of(tmp_path, "")


def test_decode_secret_accepts_unpadded_base64() -> None:
    raw = b"x" * 32
    assert decode_secret("whsec_" + base64.b64encode(raw).decode().rstrip("=")) == raw
