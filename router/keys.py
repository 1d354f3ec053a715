"""Every Redis key of the `router` package, built here and nowhere else.

    tether:{r}:ev:<eventId>        hash     the event as first received and its sticky routing decision:
                                            `job` the id of the RQ job that owns the event (the first one, or the
                                            one a replay created), `event` the raw JSON, `firstAt` (ms),
                                            `decision` (JSON of a `DecisionRecord`), `dups` (duplicates seen);
                                            key TTL = the dedupe window (`router.dedupeWindowHours`)
    tether:{r}:hist:<eventId>      list     earlier decisions of the event, oldest first (a reroute moves the
                                            current one here); same TTL as the event
    tether:{r}:decisions           stream   every new decision (eventId, mode, reason, bindingId, destination),
                                            MAXLEN ~ DECISIONS_MAXLEN
    tether:{r}:counters            hash     `decision:<mode>:<reason>` and `outcome:<outcome>` -> count

The `{r}` hash tag keeps the keys one script touches in one cluster slot (event, stream and counters are written
by the same script).
"""

from __future__ import annotations

PREFIX = "tether:{r}:"
DECISIONS_MAXLEN = 10_000


def event(event_id: str) -> str:
    return f"{PREFIX}ev:{event_id}"


def decision_history(event_id: str) -> str:
    return f"{PREFIX}hist:{event_id}"


def decisions_stream() -> str:
    return f"{PREFIX}decisions"


def counters() -> str:
    return f"{PREFIX}counters"


def decision_counter(mode: str, reason: str) -> str:
    """A field of `counters()`, not a key."""
    return f"decision:{mode}:{reason}"


def outcome_counter(outcome: str) -> str:
    """A field of `counters()`, not a key."""
    return f"outcome:{outcome}"
