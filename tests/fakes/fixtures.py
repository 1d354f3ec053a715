"""Pytest fixtures of the local platform APIs; `tests/conftest.py` imports them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.discord_api import FakeDiscord
from tests.fakes.discord_remote import FakeDiscordProcess
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_remote import FakeSlackProcess
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_remote import FakeTelegramProcess


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    """A fresh local Discord API in this process (own port, own state), stopped after the test."""
    with FakeDiscord() as fake:
        yield fake


@pytest.fixture
def fake_discord_process(tmp_path: Path) -> Iterator[FakeDiscordProcess]:
    """The local Discord API in its own process, for tests whose adapters run in other processes too."""
    with FakeDiscordProcess(tmp_path / "fake-discord") as proc:
        yield proc


@pytest.fixture
def fake_telegram() -> Iterator[FakeTelegram]:
    """A fresh local Telegram Bot API in this process (own port, own state), stopped after the test."""
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def fake_telegram_process(tmp_path: Path) -> Iterator[FakeTelegramProcess]:
    """The local Telegram Bot API in its own process."""
    with FakeTelegramProcess(tmp_path / "fake-telegram") as proc:
        yield proc


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    """A fresh local Slack Web API in this process (own port, own state), stopped after the test."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_slack_process(tmp_path: Path) -> Iterator[FakeSlackProcess]:
    """The local Slack Web API in its own process, for tests whose adapters run in other processes too."""
    with FakeSlackProcess(tmp_path / "fake-slack") as proc:
        yield proc
