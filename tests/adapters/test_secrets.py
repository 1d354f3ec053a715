"""Secrets (tokens, signing secrets): `env:` or `file:`, re-read at every use, stripped, never in an error message."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.discord.tokens import TokenSource
from adapters.secrets import SecretNotConfigured as TokenNotConfigured
from adapters.secrets import SecretSource, read_secret
from adapters.secrets import SecretUnavailable as TokenUnavailable
from bindings.config import parse_config
from bindings.errors import ConfigError


def _config(token: str, account: str = "default") -> str:
    return f'[channels.discord.accounts.{account}]\ntoken = "{token}"\n'


def test_an_env_token_is_read_from_the_environment_at_each_use() -> None:
    env = {"BOT": "  first  "}
    source = TokenSource(parse_config(_config("env:BOT")), env=env)
    assert source.token("default") == "first"
    env["BOT"] = "second"
    assert source.token("default") == "second"


def test_a_file_token_is_reread_at_each_use_so_a_rotation_takes_effect_at_once(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("old-token\n")
    source = TokenSource(parse_config(_config(f"file:{path}")))
    assert source.token("default") == "old-token"
    path.write_text("  new-token \n")
    assert source.token("default") == "new-token"


def test_an_unreadable_or_empty_token_is_retryable_and_does_not_leak_the_old_value(tmp_path: Path) -> None:
    path = tmp_path / "token"
    source = TokenSource(parse_config(_config(f"file:{path}")))
    with pytest.raises(TokenUnavailable) as missing:
        source.token("default")
    assert str(path) in str(missing.value)
    path.write_text("   \n")
    with pytest.raises(TokenUnavailable):
        source.token("default")
    with pytest.raises(TokenUnavailable):
        TokenSource(parse_config(_config("env:NOPE")), env={}).token("default")


def test_an_unconfigured_account_is_a_permanent_failure() -> None:
    source = TokenSource(parse_config(_config("env:BOT")), env={"BOT": "x"})
    with pytest.raises(TokenNotConfigured) as err:
        source.token("other")
    assert err.value.reason == "no-token"


@pytest.mark.parametrize("spec", ["literal-token-value", "env:", "vault:x", "file:  "])
def test_a_literal_or_malformed_token_is_a_config_error_naming_the_key_not_the_value(spec: str) -> None:
    with pytest.raises(ConfigError) as err:
        TokenSource(parse_config(_config(spec, "main")))
    assert "channels.discord.accounts.main.token" in str(err.value)
    if spec.startswith("literal"):
        assert spec not in str(err.value)


def test_any_secret_field_of_any_channel_is_read_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "matrix-token"
    path.write_text("syt_abc\n")
    config = parse_config(f'[channels.matrix.accounts.bot]\naccessToken = "file:{path}"\n')
    source = SecretSource(config, "matrix", field="access_token")
    assert source.accounts() == ["bot"]
    assert source.describe("bot") == f"file:{path}"
    assert source.get("bot") == "syt_abc"


def test_a_literal_secret_of_another_field_names_its_camel_case_key() -> None:
    with pytest.raises(ConfigError) as err:
        SecretSource(parse_config('[channels.webhook.accounts.bridge]\nsecret = "whsec_literal"\n'), "webhook",
                     field="secret")
    assert "channels.webhook.accounts.bridge.secret" in str(err.value)
    assert "whsec_literal" not in str(err.value)


def test_a_one_off_secret_is_read_from_its_spec_and_errors_name_the_key_only() -> None:
    assert read_secret("env:API_TOKEN", field="api.tokens[0]", env={"API_TOKEN": " t0k "}) == "t0k"
    with pytest.raises(TokenUnavailable) as err:
        read_secret("env:API_TOKEN", field="api.tokens[0]", env={})
    assert "api.tokens[0]" in str(err.value)
    with pytest.raises(ConfigError):
        read_secret("plain-value", field="api.tokens[0]")
