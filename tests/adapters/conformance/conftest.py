"""One world per platform (its local API, a private redis-server, real worker processes), shared by that platform's
cases: pytest groups the cases by platform, so each world starts once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.adapters.conformance.platforms import PLATFORMS, make_harness
from tests.adapters.conformance.world import World


@pytest.fixture(scope="module", params=sorted(PLATFORMS))
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    harness = make_harness(request.param)
    w = World(harness, tmp_path_factory.mktemp(f"conformance-{request.param}"))
    try:
        w.start()
        yield w
    finally:
        w.stop()
