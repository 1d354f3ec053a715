"""The one per-process configuration: the file named by TETHER_CONFIG, read once per value, unless a worker set
the configuration it was started with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bindings.config import parse_config
from bindings.process_config import process_config, set_process_config


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    set_process_config(None)
    yield
    set_process_config(None)


def test_the_file_is_read_once_per_tether_config_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text("[router]\nmaxEventBytes = 1000\n")
    second.write_text("[router]\nmaxEventBytes = 2000\n")
    monkeypatch.setenv("TETHER_CONFIG", str(first))
    assert process_config().router.max_event_bytes == 1000
    first.write_text("[router]\nmaxEventBytes = 9999\n")
    assert process_config().router.max_event_bytes == 1000  # read once
    monkeypatch.setenv("TETHER_CONFIG", str(second))
    assert process_config().router.max_event_bytes == 2000


def test_a_configuration_set_by_the_worker_wins_until_cleared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.toml"
    path.write_text("[router]\nmaxEventBytes = 1000\n")
    monkeypatch.setenv("TETHER_CONFIG", str(path))
    set_process_config(parse_config("[router]\nmaxEventBytes = 3000\n"))
    assert process_config().router.max_event_bytes == 3000
    set_process_config(None)
    assert process_config().router.max_event_bytes == 1000
