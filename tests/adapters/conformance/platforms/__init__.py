"""The platforms the conformance suite runs: channel name → the harness class (`module:Class`, imported when its
tests run, so one platform's missing dependency does not stop the others' collection).

Adding a platform: its harness module here, implementing `tests.adapters.conformance.harness.PlatformHarness`, and
one line below.
"""

from __future__ import annotations

import importlib

from tests.adapters.conformance.harness import PlatformHarness

PLATFORMS: dict[str, str] = {
    "console": "tests.adapters.conformance.platforms.console:ConsoleHarness",
    "discord": "tests.adapters.conformance.platforms.discord:DiscordHarness",
    "telegram": "tests.adapters.conformance.platforms.telegram:TelegramHarness",
    "telegram-dead-letter": "tests.adapters.conformance.platforms.telegram:TelegramAtMostOnceHarness",
    "slack": "tests.adapters.conformance.platforms.slack:SlackHarness",
    "matrix": "tests.adapters.conformance.platforms.matrix:MatrixHarness",
    "webhook": "tests.adapters.conformance.platforms.webhook:WebhookHarness",
}


def make_harness(name: str) -> PlatformHarness:
    module, _, cls = PLATFORMS[name].partition(":")
    harness: PlatformHarness = getattr(importlib.import_module(module), cls)()
    return harness
