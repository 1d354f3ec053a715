"""The binding store's key names are a storage contract: pinned here, and the Lua copy agrees with keys.py."""

from __future__ import annotations

import random

import redis

from bindings import keys
from bindings.scripts import source


def test_key_names_are_pinned() -> None:
    assert keys.PREFIX == "tether:{b}:"
    assert keys.record("0123456789ab") == "tether:{b}:r:0123456789ab"
    assert keys.conversation_bucket("discord", "default", "1234567890123456789") == ("tether:{b}:c:1086", "7845953")
    assert keys.session_bucket("agent:main:subagent:abc") == ("tether:{b}:s:3493", "10910990")
    assert keys.expiry_shard_name("0123456789ab") == "3deb"
    assert keys.expiry_shard("3deb") == "tether:{b}:x:3deb"
    assert keys.expiry_directory() == "tether:{b}:xd"
    assert keys.events() == "tether:{b}:events"
    assert keys.active_count() == "tether:{b}:active"


def test_slot_hash_is_pinned() -> None:
    assert keys.slot_hash("") == 0
    assert keys.slot_hash("abc") == 1677554
    assert keys.conversation_string("discord", "default", "1") == "discord\ndefault\n1"


def _lua_keys(client: redis.Redis, texts: list[str]) -> list[list[bytes]]:
    """The same names built by lib.lua, for each (channel, account, conversation, session, binding id)."""
    script = (
        source("touch").split("-- end of lib.lua")[0]
        + """
local out = {}
for i = 1, #ARGV, 5 do
  local ck, cf = conversation_index(KEYS[1], ARGV[i], ARGV[i + 1], ARGV[i + 2])
  local sk, sf = session_index(KEYS[1], ARGV[i + 3])
  out[#out + 1] = {ck, cf, sk, sf, shard_name(ARGV[i + 4]), record_key(KEYS[1], ARGV[i + 4])}
end
return out
"""
    )
    result: list[list[bytes]] = client.eval(script, 1, keys.PREFIX, *texts)  # type: ignore[no-untyped-call]
    return result


def test_lua_builds_the_same_keys_as_python(any_redis: redis.Redis) -> None:
    rng = random.Random(7)
    alphabet = "abcXYZ019-_:|\n é漢🙂"
    samples = [("discord", "default", "1234567890123456789", "agent:main:subagent:abc", "0123456789ab")]
    for _ in range(60):
        samples.append(
            tuple("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 90))) for _ in range(5))  # type: ignore[arg-type]
        )
    flat = [text for sample in samples for text in sample]
    for (channel, account, conversation, session, binding_id), got in zip(
        samples, _lua_keys(any_redis, flat), strict=True
    ):
        ckey, cfield = keys.conversation_bucket(channel, account, conversation)
        skey, sfield = keys.session_bucket(session)
        expected = [ckey, cfield, skey, sfield, keys.expiry_shard_name(binding_id), keys.record(binding_id)]
        assert [g.decode() for g in got] == expected
