"""The fault proxy in front of the real homeserver does what its faults say, seen from the client and the room."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes.matrix_proxy import MatrixProxy
from tests.support.matrix_world import MatrixHome
from tests.support.synapse import q


def _put(proxy: MatrixProxy, home: MatrixHome, room: str, txn: str) -> httpx.Response:
    return httpx.put(f"{proxy.base_url}/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/{txn}",
                     headers={"Authorization": f"Bearer {home.bot.access_token}"},
                     json={"msgtype": "m.text", "body": txn}, timeout=10)


def test_faults_act_as_named_and_the_homeserver_sees_what_was_forwarded(matrix_home: MatrixHome) -> None:
    home = matrix_home
    room = home.admin.create_room(home.human, "proxy", invite=[home.bot])
    with MatrixProxy(home.server.base_url) as proxy:
        proxy.add("5xx")
        assert _put(proxy, home, room, "t-5xx").status_code == 500
        proxy.add("lose-answer")
        with pytest.raises(httpx.RemoteProtocolError):
            _put(proxy, home, room, "t-lost")
        proxy.add("5xx-after")
        assert _put(proxy, home, room, "t-after").status_code == 502
        assert _put(proxy, home, room, "t-ok").status_code == 200
        proxy.add("429", retry_after_s=30)
        limited = _put(proxy, home, room, "t-429")
        assert limited.status_code == 429 and limited.json()["retry_after_ms"] == 30_000
        held = _put(proxy, home, room, "t-held")  # within retry_after: the proxy holds to it, as a homeserver does
        assert held.status_code == 429 and 0 < held.json()["retry_after_ms"] <= 30_000
        assert [injected for _, injected in proxy.stats.rate_limited] == [True, False]
        assert proxy.unfired() == 0
    bodies = [e["content"]["body"] for e in home.admin.main_timeline(home.human, room)]
    assert bodies == ["t-lost", "t-after", "t-ok"]  # forwarded ones only
    assert proxy.stats.faults == {"5xx": 1, "429": 1, "lose-answer": 1, "5xx-after": 1}
