"""Fixtures of the local Discord API's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.discord_api import FakeDiscord

__all__ = ["bot"]


@pytest.fixture
def bot(fake_discord: FakeDiscord) -> Iterator[httpx.Client]:
    """An HTTP client authenticated as the bot, the way the adapter talks to Discord."""
    headers = {"Authorization": f"Bot {fake_discord.tokens[0]}"}
    with httpx.Client(base_url=fake_discord.base_url, headers=headers, timeout=5.0) as client:
        yield client
