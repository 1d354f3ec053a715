"""Configuration: the key names users know, typed, with defaults; mistakes name the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bindings.config import HOUR_MS, TetherConfig, load_config, parse_config, redis_url
from bindings.errors import ConfigError


def test_defaults_without_a_file_enable_bindings_but_not_subagent_spawning() -> None:
    resolved = TetherConfig().thread_bindings("discord")
    assert resolved.enabled is True
    assert resolved.spawn_subagent_sessions is False
    assert resolved.idle_timeout_ms == 24 * HOUR_MS
    assert resolved.max_age_ms is None


def test_account_overrides_channel_overrides_session_defaults() -> None:
    config = parse_config(
        """
        [session.threadBindings]
        idleHours = 2
        maxAgeHours = 10
        [channels.discord.threadBindings]
        spawnSubagentSessions = true
        idleHours = 4
        [channels.discord.accounts.ops.threadBindings]
        enabled = false
        """
    )
    assert config.thread_bindings("discord").idle_timeout_ms == 4 * HOUR_MS
    assert config.thread_bindings("discord").max_age_ms == 10 * HOUR_MS
    assert config.thread_bindings("discord").spawn_subagent_sessions is True
    assert config.thread_bindings("discord", "ops").enabled is False
    assert config.thread_bindings("slack").idle_timeout_ms == 2 * HOUR_MS


def test_zero_hours_mean_no_expiry() -> None:
    config = parse_config("[session.threadBindings]\nidleHours = 0\n")
    assert config.thread_bindings("discord").idle_timeout_ms is None


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ("[channels.discord]\napiBse = 'x'\n", "key `channels.discord.apiBse`: unknown key"),
        ("[channels.discord.accounts.main]\ntoken = 5\n", "key `channels.discord.accounts.main.token`"),
        ("[session.threadBindings]\nidleHours = 'soon'\n", "key `session.threadBindings.idleHours`"),
        ("[router]\nmaxEventBytes = 1.5\n", "key `router.maxEventBytes`"),
        ("colour = 'blue'\n", "key `colour`: unknown key"),
    ],
)
def test_an_unknown_key_or_wrong_type_names_the_key_and_the_file(tmp_path: Path, toml: str, named: str) -> None:
    path = tmp_path / "tether.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert named in str(err.value)


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "tether.toml"
    path.write_text("[session\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_tether_config_names_a_missing_file() -> None:
    with pytest.raises(ConfigError, match="not a file"):
        load_config(env={"TETHER_CONFIG": "/nonexistent/tether.toml"})


def test_redis_url_prefers_tether_redis_url_then_redis_url_then_the_file() -> None:
    config = parse_config("[redis]\nurl = 'redis://file:6379/0'\n")
    assert redis_url(config, {"TETHER_REDIS_URL": "redis://a/0", "REDIS_URL": "redis://b/0"}) == "redis://a/0"
    assert redis_url(config, {"REDIS_URL": "redis://b/0"}) == "redis://b/0"
    assert redis_url(config, {}) == "redis://file:6379/0"
    assert redis_url(None, {}) is None
