"""The Telegram adapter's Redis keys, pinned."""

from __future__ import annotations

from adapters.telegram import keys


def test_key_names() -> None:
    assert keys.chat_rate("default", "-100") == "tether:telegram:rl:default:chat:-100"
    assert keys.group_rate("default", "-100") == "tether:telegram:rl:default:group:-100"
    assert keys.global_rate("default") == "tether:telegram:rl:default:global"
    assert keys.migrated("default", "-4") == "tether:telegram:migrated:default:-4"
    assert keys.conversations("default", "-4") == "tether:telegram:convs:default:-4"
    assert keys.watched_chats() == "tether:telegram:chats"
    assert keys.activity_index("default") == "tether:telegram:activity:default"
    assert keys.activity("default", "-4:topic:2") == "tether:telegram:activity:default:-4:topic:2"
