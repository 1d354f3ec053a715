"""The Matrix conformance harness, driven the way the conformance suite will drive it (until the suite lands)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from adapters.matrix.adapter import MatrixAdapter
from adapters.protocol import DestinationGone, PermanentError
from bindings.config import TetherConfig, load_config
from tests.adapters.matrix.harness import MatrixHarness
from tests.support.matrix_world import MatrixHome, chunk_of, delivery_to


@pytest.fixture
def harness(matrix_home: MatrixHome, tmp_path: Path) -> Iterator[MatrixHarness]:
    h = MatrixHarness(matrix_home)
    h.start(tmp_path)
    yield h
    h.stop()


def _adapter(h: MatrixHarness, tmp_path: Path, client: redis.Redis) -> MatrixAdapter:
    path = tmp_path / "tether.toml"
    path.write_text(h.config_toml())
    config: TetherConfig = load_config(path)
    return MatrixAdapter(config, client)


def test_faults_and_a_rotated_token_still_land_once(harness: MatrixHarness, tmp_path: Path,
                                                    real_redis: redis.Redis) -> None:
    h = harness
    ref = h.new_conversation("conformance")
    adapter = _adapter(h, tmp_path, real_redis)
    for kind in ("lose-answer", "5xx", "429", "timeout"):
        h.fault(kind)  # type: ignore[arg-type]
        adapter.send(chunk_of(delivery_to(ref, f"e-{kind}", f"after {kind}")))
    h.rotate_token()
    adapter.send(chunk_of(delivery_to(ref, "e-rotated", "after rotation")))
    assert [x.text for x in h.landed(ref)] == [
        "after lose-answer", "after 5xx", "after 429", "after timeout", "after rotation"]
    assert h.landed_outside(ref) == []
    assert h.parent_of(ref) == ref
    assert all(secret not in h.config_toml() for secret in h.secrets())


def test_every_error_case_ends_as_it_says(harness: MatrixHarness, tmp_path: Path, real_redis: redis.Redis) -> None:
    adapter = _adapter(harness, tmp_path, real_redis)
    for case in harness.error_cases():
        ref = case.make(harness)
        expected = DestinationGone if case.outcome == "destination-gone" else PermanentError
        with pytest.raises(expected) as info:
            adapter.send(chunk_of(delivery_to(ref, f"e-{case.name}")))
        assert info.value.reason == case.reason, case.name
