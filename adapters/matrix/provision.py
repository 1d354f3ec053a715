"""Child placement on Matrix: `bind(..., placement="child")` under a room posts an intro event in the room and binds
the thread rooted at it.

The intro's text is `channels.matrix.threadRootText` ("🤖 {label}" by default; the label, else the session key). Its
transaction id is deterministic per (account, room, session, label), so a bind retried after a lost answer — or run
twice at once — makes one root (while the homeserver remembers the transaction, see the README). The binding's
metadata gets `roomId` and `rootEventId`; the thread is watched by the sweeper.
"""

from __future__ import annotations

import logging

import redis

from adapters.matrix.client import q
from adapters.matrix.errors import MatrixApiError
from adapters.matrix.events import content, root_txn_id
from adapters.matrix.runtime import MatrixRuntime
from adapters.protocol import DeliveryError
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig
from bindings.errors import ProvisioningError
from bindings.model import ConversationRef
from bindings.provisioner import ProvisionedConversation

log = logging.getLogger("tether.matrix.provision")


def root_text(template: str, label: str | None, target_session_key: str) -> str:
    name = " ".join((label or "").split()) or " ".join(target_session_key.split()) or "session"
    return template.replace("{label}", name)


class MatrixProvisioner:
    def __init__(self, config: TetherConfig, client: redis.Redis, *, runtime: MatrixRuntime | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        # Built at the first child bind: every installed provisioner is made when bindings start, and a deployment
        # without `channels.matrix` must not fail for want of a homeserver it never uses.
        self._rt = runtime
        self._args = (config, client, clock)

    @property
    def rt(self) -> MatrixRuntime:
        if self._rt is None:
            config, client, clock = self._args
            self._rt = MatrixRuntime(config, client, clock=clock)
        return self._rt

    def provision(self, parent: ConversationRef, *, label: str | None,
                  target_session_key: str) -> ProvisionedConversation:
        room_id = parent.parent_conversation_id or parent.conversation_id or ""
        if not room_id.startswith("!"):
            raise ProvisioningError("matrix: child placement needs the room id (!room:server) as "
                                    "parent_conversation_id")
        account = parent.account_id
        s = self.rt.settings
        event = content(root_text(s.root_text, label, target_session_key), s.message_type, None)
        txn_id = root_txn_id(account, room_id, target_session_key, label)
        try:
            made = self.rt.api.request(account, "PUT", "PUT /rooms/{room}/send/m.room.message/{txn}",
                                       f"/_matrix/client/v3/rooms/{q(room_id)}/send/m.room.message/{q(txn_id)}",
                                       json=event, repeatable=True)
        except MatrixApiError as exc:
            raise ProvisioningError(f"matrix refused the thread root in room {room_id}: {exc.status} "
                                    f"{exc.errcode} {exc.error}") from None
        except DeliveryError as exc:
            raise ProvisioningError(f"matrix: could not post the thread root in room {room_id}: {exc}") from None
        root = made.get("event_id") if isinstance(made, dict) else None
        if not isinstance(root, str) or not root:
            raise ProvisioningError("matrix: the thread root was posted without an event id in the answer")
        self.rt.threads.watch(account, room_id, root)
        log.info("thread root posted", extra={"account": account, "roomId": room_id, "rootEventId": root})
        return ProvisionedConversation(conversation_id=root, metadata={"roomId": room_id, "rootEventId": root})

    def close(self) -> None:
        if self._rt is not None:
            self._rt.close()


def make_provisioner(config: TetherConfig, client: redis.Redis) -> MatrixProvisioner:
    """Entry point `tether.provisioners: matrix`."""
    return MatrixProvisioner(config, client)
