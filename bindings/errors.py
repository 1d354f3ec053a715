"""One error hierarchy for all of tether; it lives here because `bindings` is the package every other one imports."""

from __future__ import annotations


class TetherError(Exception):
    """Base of every error tether raises on purpose."""


class InvalidInput(TetherError, ValueError):
    """Bad input from a caller; `field` names the offending field (dotted path, wire or Python name)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ConfigError(TetherError):
    """The configuration file or environment is wrong; the message names the key and the file."""


class NotFound(TetherError, LookupError):
    """A record that was asked for by id does not exist (or has expired)."""


class ProvisioningError(TetherError):
    """A child conversation could not be created (no provisioner for the channel, or the platform refused)."""


class ProvisionerMissing(ProvisioningError):
    """No conversation provisioner is registered for the channel: the caller asked for something this
    installation cannot do (as opposed to a platform that refused)."""
