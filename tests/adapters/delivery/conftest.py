"""The delivery engine's fixtures (defined in tests/adapters/fixtures.py, shared with the CLI tests)."""

from tests.adapters.fixtures import config, drain, probe_env

__all__ = ["config", "drain", "probe_env"]
