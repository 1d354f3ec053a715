"""Local stand-ins for the chat platforms' HTTP APIs: real servers on loopback ports.

Discord (REST API v10):
- `tests.fakes.discord_api`     `FakeDiscord`, the server (in-process), and `python -m tests.fakes.discord_api`
- `tests.fakes.discord_remote`  `FakeDiscordProcess` (the server in its own process), `FakeDiscordControl`
- `tests.fakes.fixtures`        pytest fixtures `fake_discord`, `fake_discord_process`
- `tests.fakes.discord_core`    `LocalDiscord`: state, behaviour, and the Python control/reading API
- `tests.fakes.discord_model`   records: `Channel`, `Webhook`, `Message`, `RequestRecord`, `FaultRecord`, `Snapshot`
- `tests.fakes.discord_faults`  `FaultRule`: what can be injected
- `tests.fakes.discord_limits`  the rate limiter (buckets, global limit)
- `tests.fakes.discord_wire`    route table, parsing, canned responses

Telegram (Bot API):
- `tests.fakes.telegram_api`     `FakeTelegram`, the server (in-process), and `python -m tests.fakes.telegram_api`
- `tests.fakes.telegram_remote`  `FakeTelegramProcess` (the server in its own process), `FakeTelegramControl`
- `tests.fakes.telegram_core`    `LocalTelegram`: methods, chats and topics, flood limits, faults, logs
- `tests.fakes.telegram_model`   records: `Chat`, `Topic`, `Message`, `RequestRecord`, `Limits`, `Snapshot`

Nothing is imported here, so `python -m tests.fakes.discord_api` runs its module only once.
"""
