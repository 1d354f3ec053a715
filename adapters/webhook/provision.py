"""Child placement for webhook endpoints: a signed `tether.conversation.create` call whose 2xx answer names the new
conversation (`{"conversationId": "…"}`).

The call's `webhook-id` is deterministic per bind request (account, parent, session, label), so a retried
provisioning — by tether here, or by a caller repeating its bind — can be answered by a deduping receiver with the
conversation it already created. An endpoint that does not offer it (404, 405, 501) refuses `placement="child"`
with a ProvisioningError saying so; use `placement="current"` with the receiver's own conversation id instead.
"""

from __future__ import annotations

import time

import msgspec
import redis

from adapters.protocol import DeliveryError, RetryableError
from adapters.webhook.payload import create_body, webhook_id_for_create
from adapters.webhook.sender import WebhookSender
from bindings.config import TetherConfig
from bindings.errors import ProvisioningError
from bindings.model import ConversationRef
from bindings.provisioner import ProvisionedConversation

UNSUPPORTED = frozenset({404, 405, 501})
ATTEMPTS = 3
RETRY_PAUSE_S = (0.2, 0.5)
MAX_RETRY_WAIT_S = 2.0
MAX_ID_CHARS = 256
_answer = msgspec.json.Decoder(dict[str, object])


class WebhookProvisioner:
    def __init__(self, sender: WebhookSender) -> None:
        self.sender = sender

    def provision(self, parent: ConversationRef, *, label: str | None,
                  target_session_key: str) -> ProvisionedConversation:
        try:
            endpoint = self.sender.endpoint(parent.account_id)
        except DeliveryError as exc:
            raise ProvisioningError(str(exc)) from None
        parent_id = parent.parent_conversation_id or ""
        msg_id = webhook_id_for_create(endpoint.account_id, parent_id, target_session_key, label)
        for attempt in range(ATTEMPTS):
            try:
                response = self.sender.post(endpoint, msg_id,
                                            lambda now_ms: create_body(parent, label, target_session_key, now_ms),
                                            answer=UNSUPPORTED.__contains__)
                break
            except RetryableError as exc:
                wait = exc.retry_after_s if exc.retry_after_s is not None else RETRY_PAUSE_S[min(attempt, 1)]
                if attempt == ATTEMPTS - 1 or wait > MAX_RETRY_WAIT_S:
                    raise ProvisioningError(f"webhook {endpoint.account_id}: could not create a conversation: "
                                            f"{exc}") from None
                time.sleep(wait)  # same webhook-id: a receiver that acted already answers with its conversation
            except DeliveryError as exc:
                raise ProvisioningError(f"webhook {endpoint.account_id}: could not create a conversation: "
                                        f"{exc}") from None
        if response.status_code in UNSUPPORTED:
            raise ProvisioningError(
                f"webhook {endpoint.account_id}: the endpoint does not create conversations (HTTP "
                f"{response.status_code} to tether.conversation.create); placement=\"child\" is not available there: "
                f"bind with placement=\"current\" and the receiver's own conversation id")
        conversation_id = _conversation_id(response.content)
        if conversation_id is None:
            raise ProvisioningError(f"webhook {endpoint.account_id}: the answer to tether.conversation.create "
                                    f"(HTTP {response.status_code}) names no conversationId")
        return ProvisionedConversation(conversation_id=conversation_id, metadata={"webhookId": msg_id})


def _conversation_id(content: bytes) -> str | None:
    try:
        body = _answer.decode(content)
    except msgspec.DecodeError:
        return None
    value = body.get("conversationId")
    if isinstance(value, str | int) and not isinstance(value, bool) and 0 < len(str(value).strip()) <= MAX_ID_CHARS:
        return str(value).strip()
    return None


def make_provisioner(config: TetherConfig, client: redis.Redis) -> WebhookProvisioner:
    """Entry point `tether.provisioners: webhook`."""
    return WebhookProvisioner(WebhookSender(config, client))

