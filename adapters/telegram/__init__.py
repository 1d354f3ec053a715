"""The Telegram adapter: completions into chats and forum topics through the Bot API (see README, "Telegram")."""
