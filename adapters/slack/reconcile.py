"""Finding a message tether sent, by the metadata every message of tether's carries.

Slack has no idempotency key for `chat.postMessage`. Instead every chunk carries message metadata
`{"event_type": "tether_delivery", "event_payload": {"deliveryId": …, "chunk": …}}` (a child bind's root post
`tether_thread_root` with `{"requestId": …}`). After a send whose answer was lost, the thread is read
(`conversations.replies`, or `conversations.history` for a channel, with `include_all_metadata=true`, from a little
before the delivery was routed) and the message with that metadata, if any, is the one that landed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.slack.client import SlackClient
from adapters.slack.threads import Where

DELIVERY_EVENT = "tether_delivery"
ROOT_EVENT = "tether_thread_root"
PAGE = 200
MAX_PAGES = 50
CLOCK_MARGIN_S = 600.0  # tether's clock and Slack's may differ; searching further back costs one page at most


def delivery_metadata(delivery_id: str, chunk: int) -> dict[str, Any]:
    return {"event_type": DELIVERY_EVENT, "event_payload": {"deliveryId": delivery_id, "chunk": chunk}}


def root_metadata(request_id: str) -> dict[str, Any]:
    return {"event_type": ROOT_EVENT, "event_payload": {"requestId": request_id}}


def oldest_for(since_ms: int | None) -> str | None:
    if not since_ms:
        return None
    return f"{max(0.0, since_ms / 1000 - CLOCK_MARGIN_S):.6f}"


def find_message(api: SlackClient, account: str, at: Where, metadata: Mapping[str, Any], *,
                 oldest: str | None) -> str | None:
    """The ts of the message in `at` (a thread, or the channel itself) carrying exactly this metadata, else None.
    Raises SlackError (e.g. `thread_not_found`) and DeliveryError (rate limits, timeouts)."""
    args: dict[str, Any] = {"channel": at.channel, "include_all_metadata": True, "limit": PAGE}
    method = "conversations.history"
    if at.thread_ts is not None:
        method = "conversations.replies"
        args["ts"] = at.thread_ts
    if oldest is not None:
        args |= {"oldest": oldest, "inclusive": True}
    cursor = ""
    for _ in range(MAX_PAGES):
        body = api.call(account, method, {**args, "cursor": cursor} if cursor else args)
        for message in body.get("messages") or []:
            if isinstance(message, dict) and message.get("metadata") == metadata and isinstance(message.get("ts"), str):
                return str(message["ts"])
        meta = body.get("response_metadata")
        cursor = meta.get("next_cursor", "") if isinstance(meta, dict) else ""
        if not body.get("has_more") or not cursor:
            return None
    return None
