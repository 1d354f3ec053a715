"""The Discord adapter's Redis keys, pinned: other processes (and operators) rely on these exact strings."""

from __future__ import annotations

from adapters.discord import keys


def test_every_key_is_pinned() -> None:
    assert keys.route_buckets("default") == "tether:discord:rl:default:routes"
    assert keys.bucket("default", "abc", "123") == "tether:discord:rl:default:bucket:abc:123"
    assert keys.global_window("default") == "tether:discord:rl:default:global"
    assert keys.global_block("default") == "tether:discord:rl:default:global-block"
    assert keys.invalid_requests(2941) == "tether:discord:rl:invalid:2941"
    assert keys.webhook("default", "42") == "tether:discord:webhook:default:42"
    assert keys.webhook_lock("default", "42") == "tether:discord:webhook-lock:default:42"
    assert keys.attempt("k") == "tether:discord:attempt:k"
    assert keys.claim("42") == "tether:discord:claim:42"
    assert keys.activity_index("default") == "tether:discord:activity:default"
    assert keys.activity("default", "42") == "tether:discord:activity:default:42"
    assert keys.bound_threads() == "tether:discord:threads"
