"""Idempotent binds: a retry with the same `Idempotency-Key` gets the first answer and creates nothing; concurrent
duplicates create one thread; a key reused for another body is refused. Against a real `tether api` process."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import httpx
import redis

from adapters.console import keys as console_keys
from bindings.service import SessionBindingService
from tests.support.waiting import wait_for
from tests.workers.api.support import TOKEN, ApiProcess
from workers.api import keys
from workers.api.idempotency import Held, IdempotencyStore, Reserved

SESSION = "agent:main:subagent:idem"
CHILD = {"targetSessionKey": SESSION, "placement": "child", "label": "research",
         "conversation": {"channel": "console", "parentConversationId": "main"}}


def threads_created(client: redis.Redis) -> int:
    return int(client.get(console_keys.console_threads()) or 0)


def bind_with_retries(api: ApiProcess, key: str, body: dict[str, Any] = CHILD) -> httpx.Response:
    """What a runner does: retry on 409 (the first attempt still running) after Retry-After."""
    with api.client() as client:
        def attempt() -> httpx.Response | None:
            response = client.post("/v1/bindings", json=body, headers={"Idempotency-Key": key})
            return None if response.status_code == 409 else response

        return wait_for(attempt, timeout_s=20, interval_s=0.05, what="the bind to be answered")


def send_and_hang_up(api: ApiProcess, key: str, body: bytes) -> None:
    """A client that sends the whole request and goes away before the answer: the answer is lost."""
    request = (f"POST /v1/bindings HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
               f"Idempotency-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
               "Connection: close\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)


def test_a_retried_child_bind_whose_answer_was_lost_makes_one_thread(api_process: ApiProcess,
                                                                      real_redis: redis.Redis) -> None:
    send_and_hang_up(api_process, "spawn-1", json.dumps(CHILD).encode())
    wait_for(lambda: real_redis.exists(keys.idempotency("spawn-1")), timeout_s=10, what="the first bind to start")

    retried = bind_with_retries(api_process, "spawn-1")

    assert retried.status_code == 201
    assert retried.headers.get("Idempotent-Replayed") == "true"
    bound = SessionBindingService(real_redis).list_by_session(SESSION)
    assert [b.binding_id for b in bound] == [retried.json()["bindingId"]]
    assert threads_created(real_redis) == 1


def test_concurrent_duplicates_make_one_thread(api_process: ApiProcess, real_redis: redis.Redis) -> None:
    answers: list[httpx.Response] = []
    start = threading.Barrier(8)

    def runner() -> None:
        start.wait()
        answers.append(bind_with_retries(api_process, "spawn-2"))

    threads = [threading.Thread(target=runner) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert [r.status_code for r in answers] == [201] * 8
    assert len({r.json()["bindingId"] for r in answers}) == 1
    assert sum(1 for r in answers if r.headers.get("Idempotent-Replayed") != "true") == 1
    assert len(SessionBindingService(real_redis).list_by_session(SESSION)) == 1
    assert threads_created(real_redis) == 1


def test_a_key_reused_for_another_body_is_422_and_keys_do_not_mix(api_process: ApiProcess,
                                                                  real_redis: redis.Redis) -> None:
    first = bind_with_retries(api_process, "spawn-3")
    other = bind_with_retries(api_process, "spawn-3", {**CHILD, "label": "something else"})
    fresh = bind_with_retries(api_process, "spawn-4")

    assert first.status_code == 201
    assert (other.status_code, other.json()["field"]) == (422, "Idempotency-Key")
    assert fresh.status_code == 201 and fresh.json()["bindingId"] != first.json()["bindingId"]
    assert threads_created(real_redis) == 2


def test_a_failed_bind_releases_its_key(api_process: ApiProcess, real_redis: redis.Redis) -> None:
    no_such_channel = {**CHILD, "conversation": {"channel": "pigeon", "parentConversationId": "p"}}

    failed = bind_with_retries(api_process, "spawn-5", no_such_channel)

    assert failed.status_code == 422
    assert not real_redis.exists(keys.idempotency("spawn-5"))


# ---- the store ---------------------------------------------------------------------------------------------------


def test_the_store_reserves_once_then_replays_the_stored_answer(real_redis: redis.Redis) -> None:
    store = IdempotencyStore(real_redis, ttl_ms=60_000)

    first = store.reserve("k", "fp-1")
    while_running = store.reserve("k", "fp-1")
    assert isinstance(first, Reserved)
    assert while_running == Held("pending")

    assert store.store(first, 201, b'{"bindingId":"x"}')
    assert store.reserve("k", "fp-1") == Held("done", 201, b'{"bindingId":"x"}')
    assert store.reserve("k", "fp-2") == Held("mismatch")
    assert 0 < real_redis.pttl(keys.idempotency("k")) <= 60_000


def test_a_reservation_outlives_a_dead_server_only_for_its_lease(real_redis: redis.Redis) -> None:
    store = IdempotencyStore(real_redis, ttl_ms=60_000, pending_lease_ms=5_000)

    lost = store.reserve("k", "fp")
    assert isinstance(lost, Reserved)
    assert 0 < real_redis.pttl(keys.idempotency("k")) <= 5_000
    real_redis.delete(keys.idempotency("k"))  # the lease ran out
    taken_over = store.reserve("k", "fp")

    assert isinstance(taken_over, Reserved)
    assert not store.store(lost, 201, b"{}")  # the dead attempt cannot overwrite the new one's key
    assert not store.release(lost)
    assert store.reserve("k", "fp") == Held("pending")


def test_key_names_are_pinned() -> None:
    assert keys.idempotency("spawn-1") == (
        "tether:{api}:idem:46a52f5808c17a6f362cfd521c891520b3deacec80271317a59faba6f87a9094")
