"""Bindings between agent sessions and chat conversations, kept in Redis (DESIGN §3)."""

from bindings.errors import ConfigError, InvalidInput, NotFound, ProvisioningError, TetherError
from bindings.model import ConversationRef, SessionBindingRecord
from bindings.normalize import normalize_account_id, normalize_channel, normalize_conversation
from bindings.service import SessionBindingService
from bindings.sweep import sweep_once

__all__ = [
    "ConfigError",
    "ConversationRef",
    "InvalidInput",
    "NotFound",
    "ProvisioningError",
    "SessionBindingRecord",
    "SessionBindingService",
    "TetherError",
    "normalize_account_id",
    "normalize_channel",
    "normalize_conversation",
    "sweep_once",
]
