"""The webhook adapter: each chunk of a delivery is one signed POST to the endpoint the destination's account names.

The chunk's `webhook-id` is `msg_` + the engine's idempotency key, deterministic per (delivery, chunk): the same on
every resend, whichever process sends it. So the platform-side idempotency key is the receiver's dedupe by
`webhook-id` (`Capabilities.idempotency_key`): after a lost answer the engine resends with the same id, and a
receiver that remembers ids answers the repeat without acting on it twice.

The receiver's answer decides (`errors.classify`): 2xx delivered (its `{"messageId": …}` is recorded, else the
webhook-id); 410 → the destination is gone, the binding ends `endpoint-gone`; 429/502/503/504 retried after their
Retry-After (a 429 holds every process back, `adapters.ratelimit`); other 4xx permanent; other 5xx, timeouts and
connection errors retried.

After every 2xx the conversation's last send is recorded (`keys.activity`) and the binding touched.
"""

from __future__ import annotations

import logging

import msgspec
import redis

from adapters.chunking import split_message
from adapters.protocol import Capabilities, OutboundChunk
from adapters.webhook import keys
from adapters.webhook.endpoints import CHANNEL
from adapters.webhook.payload import message_body, webhook_id_for_chunk
from adapters.webhook.sender import Answer, WebhookSender
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.model import ConversationRef

log = logging.getLogger("tether.webhook")

MAX_MESSAGE_ID_CHARS = 200
ACTIVITY_RETENTION_MS = 30 * 86_400_000
_answer = msgspec.json.Decoder(dict[str, object])


class WebhookAdapter:
    channel = CHANNEL

    def __init__(self, config: TetherConfig, client: redis.Redis, *, sender: WebhookSender | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self.redis = client
        self.clock = clock
        self.sender = sender or WebhookSender(config, client, clock=clock)
        max_chunk = self.sender.settings.max_chunk_chars
        self.capabilities = Capabilities(placements=frozenset({"current", "child"}), idempotency_key=True,
                                         max_message_length=max_chunk or 1 << 31)
        from bindings.service import SessionBindingService

        self.bindings = SessionBindingService(client, config, clock=clock)

    def split(self, text: str) -> list[str]:
        max_chunk = self.sender.settings.max_chunk_chars
        return [text] if max_chunk == 0 else split_message(text, max_chunk, unit="chars")

    def send(self, chunk: OutboundChunk) -> str:
        dest = chunk.delivery.destination
        endpoint = self.sender.endpoint(dest.account_id)
        msg_id = webhook_id_for_chunk(chunk.idempotency_key)
        response = self.sender.post(endpoint, msg_id, lambda now_ms: message_body(chunk, now_ms))
        message_id = _message_id(response) or msg_id
        self._after_send(chunk, message_id)
        return message_id

    def reconcile(self, chunk: OutboundChunk) -> str | None:
        return None  # never asked: the resend with the same webhook-id is the receiver's to drop

    def validate(self, destination: ConversationRef) -> None:
        self.sender.endpoint(destination.account_id)

    def close(self) -> None:
        self.sender.close()

    def _after_send(self, chunk: OutboundChunk, message_id: str) -> None:
        """Bookkeeping after the receiver took the chunk: never raises, so it cannot cause a resend."""
        d = chunk.delivery
        try:
            now = self.clock.now_ms()
            index = keys.activity(d.destination.account_id)
            pipe = self.redis.pipeline(transaction=True)
            pipe.zadd(index, {d.destination.conversation_id or "": now})
            pipe.zremrangebyscore(index, "-inf", now - ACTIVITY_RETENTION_MS)
            pipe.pexpire(index, ACTIVITY_RETENTION_MS)
            pipe.execute()
            if d.binding_id:
                self.bindings.touch(d.binding_id)
        except (redis.RedisError, ValueError) as exc:
            log.warning("bookkeeping after a send failed", extra={"deliveryId": d.delivery_id,
                                                                   "messageId": message_id, "error": str(exc)})


def _message_id(response: Answer) -> str | None:
    """The receiver's own id for the message, when its answer is a JSON object naming one."""
    if "json" not in response.headers.get("content-type", "") or not response.content:
        return None
    try:
        body = _answer.decode(response.content)
    except msgspec.DecodeError:
        return None
    value = body.get("messageId")
    if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
        return str(value)[:MAX_MESSAGE_ID_CHARS]
    return None


def make_adapter(config: TetherConfig, client: redis.Redis) -> WebhookAdapter:
    """Entry point `tether.adapters: webhook`."""
    return WebhookAdapter(config, client)
