"""The adapter conformance suite: every platform with a local API passes the same cases, through real worker
processes (router + two channel workers) and the platform's API over HTTP. What a platform cannot have is skipped
with the capability it lacks (see `harness.py`); adding a platform is one entry in `platforms/__init__.py`.

Keep this module's cases in this order: the secrets case comes last and reads the logs of every case before it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import TypeVar

import msgspec
import pytest

from adapters.delivery.ledger import Ledger
from bindings.model import ConversationRef
from tests.adapters.conformance.harness import IN_FLIGHT_MS, ConversationState, NotApplicable, Unit
from tests.adapters.conformance.world import USERNAME, World

T = TypeVar("T")


def applicable(call: Callable[[], T]) -> T:
    """Run a harness call that provokes something; skip the case when the platform cannot have it."""
    try:
        return call()
    except NotApplicable as exc:
        pytest.skip(str(exc))


def measure(text: str, unit: Unit) -> int:
    if unit == "bytes":
        return len(text.encode())
    if unit == "utf16":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def texts_in(world: World, ref: ConversationRef) -> list[str]:
    return [m.text for m in world.harness.landed(ref)]


def unprefixed(world: World, text: str) -> str:
    """The text without the sender's name a platform with identity "prefix" puts before a message's first chunk."""
    prefix = f"{USERNAME}: "
    return text[len(prefix):] if world.harness.identity == "prefix" and text.startswith(prefix) else text


def lands_once(world: World, ref: ConversationRef, text: str) -> None:
    """Exactly one message in `ref`, carrying `text` (a platform with identity "prefix" puts the name before it)."""
    found = texts_in(world, ref)
    assert len(found) == 1 and text in found[0], found
    assert world.harness.landed_outside(ref) == []


# ---- lost answers ---------------------------------------------------------------------------------------------


def test_a_lost_answer_ends_in_exactly_one_message_or_the_documented_unknown_send(world: World) -> None:
    h = world.harness
    ref = h.new_conversation("lost-answer")
    record = world.bind(ref)
    applicable(lambda: h.fault("lose-answer"))
    ledger = world.settle(world.complete(record, "the answer to this send is lost"))
    assert h.unfired_faults() == 0

    if h.lost_answer in ("idempotency-key", "reconcile"):
        assert ledger.status == "delivered"
        lands_once(world, ref, "the answer to this send is lost")
        return
    settings = world.config.channels.get(h.channel)
    if settings is not None and settings.unknown_send == "dead-letter":  # at most once: a person checks
        assert (ledger.status, ledger.dead_reason) == ("dead", "unknown-send")
        assert len(texts_in(world, ref)) == 1
    else:  # at least once: the resend is the documented duplicate
        assert ledger.status == "delivered"
        assert len(texts_in(world, ref)) == 2
    assert h.landed_outside(ref) == []


# ---- errors ---------------------------------------------------------------------------------------------------


def test_errors_are_sorted_into_retryable_permanent_and_gone_each_with_its_ledger_outcome(world: World) -> None:
    h = world.harness
    cases = h.error_cases()
    if not cases:
        pytest.skip(f"{h.channel}: no platform errors to provoke")
    for case in cases:
        ref = h.new_conversation(f"error-{case.name}")
        record = world.bind(ref)
        case.provoke(ref)
        text = f"meets {case.name}"
        ledger = world.settle(world.complete(record, text))
        assert h.unfired_faults() == 0, case.name
        if case.kind == "retryable":
            assert ledger.status == "delivered", case.name
            lands_once(world, ref, text)
            continue
        assert (ledger.status, ledger.dead_reason) == ("dead", case.reason), case.name
        letter = next((d for d in world.dead_letters() if d.delivery_id == ledger.delivery_id), None)
        assert letter is not None and letter.reason == case.reason, case.name
        ended = world.service().get(record.binding_id)
        assert ended is not None
        if case.kind == "destination-gone":
            assert ended.status == "ended", case.name
        assert texts_in(world, ref) == [], case.name
        assert h.landed_outside(ref) == [], case.name  # never sent anywhere else instead


# ---- rate limits ----------------------------------------------------------------------------------------------


def test_a_rate_limit_answer_is_honoured_by_every_worker_process(world: World) -> None:
    h = world.harness
    ref = h.new_conversation("rate-limit")
    record = world.bind(ref)
    before = len(h.rate_limited_answers())
    applicable(lambda: h.fault("429", retry_after_s=0.5))
    texts = [f"rate-limited {i}" for i in range(4)]
    ids = [world.complete(record, t) for t in texts]  # two channel workers take them at once
    for delivery_id in ids:
        assert world.settle(delivery_id).status == "delivered"

    assert sorted(unprefixed(world, m.text) for m in h.landed(ref)) == sorted(texts)
    assert h.unfired_faults() == 0
    answers = h.rate_limited_answers()[before:]
    injected = [a for a in answers if a.injected]
    assert len(injected) == 1
    # Any other 429 was earned by sending into a limit tether knew of, unless it was on its way already.
    earned = [a for a in answers if not a.injected
              and not any(0 <= a.at_ms - i.at_ms <= IN_FLIGHT_MS for i in injected)]
    assert earned == []


# ---- chunking -------------------------------------------------------------------------------------------------


def long_text(max_chunk: int, unit: Unit) -> str:
    """About 2.5 limits of prose lines (words, emoji outside the BMP, accents) with a fenced code block straddling
    the first chunk boundary."""
    words = ["alpha", "béta", "🙂", "gamma-delta", "ünïcode", "🚀🚀", "word", "x"]
    lines: list[str] = []
    code_at = int(max_chunk * 0.8)
    in_code = False
    i = 0
    while measure("\n".join(lines), unit) < int(max_chunk * 2.5):
        size = measure("\n".join(lines), unit)
        if not in_code and code_at <= size < max_chunk:
            lines.append("```python")
            in_code = True
        elif in_code and size > max_chunk * 1.3:
            lines.append("```")
            in_code = False
        prefix = "    x = " if in_code else ""
        lines.append(prefix + " ".join(words[(i + k) % len(words)] + str(i) for k in range(9)))
        i += 1
    if in_code:
        lines.append("```")
    return "\n".join(lines)


def words_of(text: str) -> list[str]:
    return [w for w in text.split() if not w.startswith("```")]


def test_a_long_message_is_chunked_at_the_platform_limit_in_its_unit_in_order_without_breaking_anything(
        world: World) -> None:
    h = world.harness
    ref = h.new_conversation("chunking")
    record = world.bind(ref)
    text = long_text(h.max_chunk, h.unit)
    ledger = world.settle(world.complete(record, text))

    assert ledger.status == "delivered"
    landed = h.landed(ref)
    chunks = [m.text for m in landed]
    assert len(chunks) == 3
    assert [m.message_id for m in landed] == ledger.message_ids  # in order, each recorded
    for chunk in chunks:
        assert measure(chunk, h.unit) <= h.max_chunk
        assert chunk.count("```") % 2 == 0  # a code block cut by the split is closed, and reopened in the next
        assert not any(0xD800 <= ord(c) <= 0xDFFF for c in chunk)  # no surrogate pair split
    assert measure(chunks[0], h.unit) > h.max_chunk - 200  # the platform's limit, not a smaller one
    # no word broken, none lost, none repeated, in order (the sender's name of a "prefix" platform aside)
    assert words_of("\n".join([unprefixed(world, chunks[0]), *chunks[1:]])) == words_of(text)
    assert h.landed_outside(ref) == []


# ---- identity -------------------------------------------------------------------------------------------------


def test_the_sender_is_the_sub_agent_as_far_as_the_platform_allows(world: World) -> None:
    h = world.harness
    if h.identity == "none":
        pytest.skip(f"{h.channel}: messages cannot carry a sender identity")
    ref = h.new_conversation("identity")
    record = world.bind(ref)
    assert world.settle(world.complete(record, "who says this")).status == "delivered"

    [message] = h.landed(ref)
    if h.identity in ("full", "username"):
        assert message.sender == USERNAME
        assert "who says this" in message.text
    else:
        assert message.text.split("\n")[0].count(USERNAME) == 1 and "who says this" in message.text


# ---- activity -------------------------------------------------------------------------------------------------


def test_a_successful_send_records_activity_and_touches_the_binding(world: World) -> None:
    h = world.harness
    ref = h.new_conversation("activity")
    svc = world.service()
    record = svc.bind(target_session_key=world.session(), target_kind="subagent", conversation=ref,
                      ttl_ms=3_600_000)
    assert record.expires_at is not None
    before = svc.clock.now_ms()
    assert world.settle(world.complete(record, "activity")).status == "delivered"

    touched = svc.get(record.binding_id)
    assert touched is not None and touched.status == "active"
    assert touched.last_activity_at is not None and touched.last_activity_at >= before
    assert touched.expires_at is not None and touched.expires_at > record.expires_at


# ---- conversation states --------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["archived", "closed", "deleted"])
def test_a_conversation_in_a_state_is_handled_as_documented_and_never_rerouted(world: World,
                                                                              state: ConversationState) -> None:
    h = world.harness
    outcome = h.states.get(state)
    if outcome is None:
        applicable(lambda: h.set_state(h.new_conversation(state), state))
        pytest.skip(f"{h.channel}: no documented outcome for a {state} conversation")
    ref = h.new_conversation(state)
    record = world.bind(ref)
    h.set_state(ref, state)
    ledger = world.settle(world.complete(record, f"to a {state} conversation"))

    assert ledger.status == outcome.status
    if outcome.status == "dead":
        assert ledger.dead_reason == outcome.reason
    if outcome.lands:
        lands_once(world, ref, f"to a {state} conversation")
    elif state != "deleted":
        assert texts_in(world, ref) == []
    binding = world.service().get(record.binding_id)
    assert binding is not None and (binding.status == "ended") == outcome.binding_ends
    assert h.landed_outside(ref) == []


# ---- tokens ---------------------------------------------------------------------------------------------------


def test_a_rotated_token_is_used_at_once_by_a_running_worker(world: World) -> None:
    h = world.harness
    ref = h.new_conversation("rotation")
    # Unbound completions go to the requester's conversation as the bot itself: the path that uses the token.
    first = world.settle(world.complete_to(world.session(), ref, "before the rotation"))
    assert first.status == "delivered"
    applicable(h.rotate_token)
    second = world.settle(world.complete_to(world.session(), ref, "after the rotation"))

    assert (second.status, second.attempts) == ("delivered", 1)  # the first attempt used the new token
    found = texts_in(world, ref)
    assert len(found) == 2 and "after the rotation" in found[1]
    assert world.workers_alive()


# ---- child placement ------------------------------------------------------------------------------------------


def test_bind_with_placement_child_creates_the_conversation_and_delivers_into_it(world: World) -> None:
    h = world.harness
    if not h.supports_child:
        pytest.skip(f"{h.channel}: no child conversations (placements has no 'child')")
    parent = h.parent_of(h.new_conversation("child-parent"))
    record = world.service().bind(
        target_session_key=world.session(), target_kind="subagent", placement="child", label="child work",
        conversation=ConversationRef(channel=h.channel, account_id=parent.account_id,
                                     parent_conversation_id=parent.conversation_id))
    child = record.conversation
    assert child.conversation_id and child.conversation_id != parent.conversation_id
    assert child.parent_conversation_id == parent.conversation_id

    assert world.settle(world.complete(record, "in the child", requester=parent)).status == "delivered"
    lands_once(world, child, "in the child")


# ---- secrets (last: it reads what every case before it left behind) -------------------------------------------


def test_secrets_never_appear_in_logs_errors_or_dead_letters(world: World) -> None:
    h = world.harness
    for case in h.error_cases():  # failures of its own, so that it checks something when run alone too
        ref = h.new_conversation(f"secret-{case.name}")
        case.provoke(ref)
        world.settle(world.complete(world.bind(ref), f"secret case {case.name}"))
    secrets = h.secrets()
    if not secrets:
        pytest.skip(f"{h.channel}: no secrets")

    ledger = Ledger(world.redis)
    records = [ledger.get(key.decode().rpartition(":")[2]) for key in world.redis.scan_iter("tether:delivery:*")]
    errors = [r.last_error or "" for r in records if r is not None]
    letters = [msgspec.json.encode(d).decode() for d in world.dead_letters()]
    logs = world.log_text()
    assert logs and errors  # there is something to search
    found = Counter(where for s in secrets for where, text in (("logs", logs), ("ledger", "\n".join(errors)),
                                                                ("dead letters", "\n".join(letters)))
                    if s in text)
    assert found == Counter()
