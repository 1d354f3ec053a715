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
<<<<<<< HEAD
    "slack": "tests.adapters.conformance.platforms.slack:SlackHarness",
    "matrix": "tests.adapters.conformance.platforms.matrix:MatrixHarness",
    "webhook": "tests.adapters.conformance.platforms.webhook:WebhookHarness",
=======
    "webhook": "tests.adapters.conformance.platforms.webhook:WebhookHarness",
>>>>>>> efbd8d1 (After rebasing onto main: DestinationGone.end_reason (main's name for it) instead of unbind_reason; a receiver's 429 and a connection never made are unsent; README section restored after the Telegram one, engine tables name endpoint-gone)
}


def make_harness(name: str) -> PlatformHarness:
    module, _, cls = PLATFORMS[name].partition(":")
    harness: PlatformHarness = getattr(importlib.import_module(module), cls)()
    return harness
