"""The chaos world: channels, threads and bindings on the local Discord API, and the events sent through it, each
with what it must become (delivered once in one conversation, or dead with one reason).

Sessions (targetSessionKey → where its completions must go):
- `webhook`: bound with `placement="child"` (tether created the thread and the parent's webhook): delivered in the
  thread through the webhook, with the event's identity;
- `bot-thread`: bound with `placement="current"` to a thread of a channel without tether's webhook: delivered in the
  thread by the bot (nonce path);
- `unbound`: no binding; `fallback` to the requester's conversation, a channel (one of them also the parent of bound
  threads, so a parent channel legitimately receives fallback messages, and never a bound session's);
- `locked`: bound to a thread a moderator then locked: every event dead `thread-locked` (an injected permanent
  failure);
- `deleted`: bound to a thread that was then deleted: its one event dead `destination-gone`, the binding ended.

Bound sessions' requester is the thread's parent channel, so a hidden reroute to the main channel would be seen.
Every event text starts with a unique marker and every word in it names the event, so each message in the fake's
log belongs to exactly one chunk of one event.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal

from adapters.chunking import split_message
from adapters.payloads import delivery_id_for
from bindings.model import ConversationRef
from bindings.service import SessionBindingService
from tests.fakes.discord_remote import FakeDiscordControl

SessionKind = Literal["webhook", "bot-thread", "unbound", "locked", "deleted"]
DISCORD_MAX_CHARS = 2000
CHANNEL = "discord"
ACCOUNT = "default"


@dataclass(frozen=True)
class Session:
    key: str
    kind: SessionKind
    requester_id: str  # the conversation the completion was asked from
    destination_id: str  # where its completions must land (the thread; the requester for unbound sessions)
    parent_id: str | None  # the destination's parent channel (threads only)
    username: str
    avatar_url: str
    binding_id: str | None = None
    destination: ConversationRef | None = None  # the binding's conversation, as the router will use it

    @property
    def expected_dead_reason(self) -> str | None:
        return {"locked": "thread-locked", "deleted": "destination-gone"}.get(self.kind)

    def destination_ref(self) -> ConversationRef:
        if self.destination is not None:
            return self.destination
        return ConversationRef(channel=CHANNEL, account_id=ACCOUNT, conversation_id=self.destination_id)


@dataclass(frozen=True)
class PlannedEvent:
    index: int
    event_id: str
    session: Session
    text: str
    enqueue_twice: bool

    @property
    def marker(self) -> str:
        return marker(self.index)

    @property
    def delivery_id(self) -> str:
        return delivery_id_for(self.event_id, self.session.destination_ref())

    def chunks(self) -> list[str]:
        return split_message(self.text, DISCORD_MAX_CHARS)

    def wire(self, created_at_ms: int) -> dict[str, Any]:
        s = self.session
        return {
            "eventId": self.event_id,
            "kind": "task_completion",
            "targetSessionKey": s.key,
            "requester": {"channel": CHANNEL, "accountId": ACCOUNT, "conversationId": s.requester_id},
            "spawnMode": "session",
            "failClosed": False,
            "content": {"text": self.text},
            "identity": {"username": s.username, "avatarUrl": s.avatar_url},
            "createdAt": created_at_ms,
            "metadata": {"chaos": True},
        }


@dataclass
class World:
    sessions: list[Session]
    parent_ids: list[str]  # every text channel that has threads of bound sessions
    lobby_id: str
    webhook_parent_ids: list[str] = field(default_factory=list)

    def by_kind(self, kind: SessionKind) -> list[Session]:
        return [s for s in self.sessions if s.kind == kind]


def marker(index: int) -> str:
    return f"[chaos e{index}]"


def build_world(fake: FakeDiscordControl, svc: SessionBindingService, *, webhook_parents: int = 12,
                threads_per_parent: int = 2, bot_threads: int = 4) -> World:
    """Seed the fake and bind the sessions. Runs before any fault is injected (binding is not under test here)."""
    sessions: list[Session] = []
    counter = iter(range(1, 1000))

    def identity(n: int) -> tuple[str, str]:
        return f"research-agent-{n}", f"https://avatars.example.test/agent-{n}.png"

    def bind_child(parent_id: str, kind: SessionKind) -> Session:
        n = next(counter)
        key = f"agent:main:subagent:chaos-{n}"
        rec = svc.bind(target_session_key=key, target_kind="subagent", placement="child", label=f"chaos {kind} {n}",
                       conversation=ConversationRef(channel=CHANNEL, account_id=ACCOUNT,
                                                    parent_conversation_id=parent_id))
        assert rec.conversation.conversation_id, rec
        username, avatar = identity(n)
        return Session(key=key, kind=kind, requester_id=parent_id, destination_id=rec.conversation.conversation_id,
                       parent_id=parent_id, username=username, avatar_url=avatar, binding_id=rec.binding_id,
                       destination=rec.conversation)

    webhook_parent_ids = [fake.add_channel(f"work-{p}").id for p in range(webhook_parents)]
    for parent_id in webhook_parent_ids:
        sessions.extend(bind_child(parent_id, "webhook") for _ in range(threads_per_parent))

    locked = bind_child(webhook_parent_ids[0], "locked")
    fake.set_channel(locked.destination_id, locked=True)
    deleted = bind_child(webhook_parent_ids[-1], "deleted")
    fake.delete_channel(deleted.destination_id)
    sessions += [locked, deleted]

    bot_parent = fake.add_channel("no-webhook").id
    for _ in range(bot_threads):
        n = next(counter)
        thread = fake.add_thread(bot_parent, f"chaos bot-thread {n}")
        key = f"agent:main:subagent:chaos-{n}"
        rec = svc.bind(target_session_key=key, target_kind="subagent", placement="current",
                       conversation=ConversationRef(channel=CHANNEL, account_id=ACCOUNT, conversation_id=thread.id,
                                                    parent_conversation_id=bot_parent))
        username, avatar = identity(n)
        sessions.append(Session(key=key, kind="bot-thread", requester_id=bot_parent, destination_id=thread.id,
                                parent_id=bot_parent, username=username, avatar_url=avatar,
                                binding_id=rec.binding_id, destination=rec.conversation))

    lobby = fake.add_channel("lobby").id
    for requester in (webhook_parent_ids[0], lobby):
        n = next(counter)
        username, avatar = identity(n)
        sessions.append(Session(key=f"agent:main:subagent:chaos-{n}", kind="unbound", requester_id=requester,
                                destination_id=requester, parent_id=None, username=username, avatar_url=avatar))
    return World(sessions=sessions, parent_ids=[*webhook_parent_ids, bot_parent], lobby_id=lobby,
                 webhook_parent_ids=webhook_parent_ids)


def plan_events(world: World, n: int, rng: random.Random, *, run_id: str, locked_events: int = 5,
                long_fraction: float = 0.03, twice_fraction: float = 0.02) -> list[PlannedEvent]:
    """`n` events: `locked_events` for the locked thread, one for the deleted one, the rest spread over the sessions
    that must deliver (a few long enough for several chunks, a few enqueued twice); in a random order."""
    [locked] = world.by_kind("locked")
    [deleted] = world.by_kind("deleted")
    deliverable = [s for s in world.sessions if s.expected_dead_reason is None]
    owners = [locked] * min(locked_events, max(0, n - 1)) + [deleted] * min(1, n)
    owners += [rng.choice(deliverable) for _ in range(n - len(owners))]
    rng.shuffle(owners)
    events = []
    for i, session in enumerate(owners):
        long = rng.random() < long_fraction
        events.append(PlannedEvent(index=i, event_id=f"v1:{session.key}:{run_id}:run-{i}", session=session,
                                   text=_text(i, rng, long=long), enqueue_twice=rng.random() < twice_fraction))
    return events


def _text(index: int, rng: random.Random, *, long: bool) -> str:
    words = rng.randint(450, 900) if long else rng.randint(4, 30)  # long: 2 to 5 chunks of at most 2000 characters
    body = " ".join(f"e{index}w{j}" for j in range(words))
    return f"{marker(index)} Task complete: {body}"
