"""Without a redis-server binary, the embedded default runs on in-process fakeredis with the workers as threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import workers.embedded as embedded
from workers.cli_run import DEMO_CONFIG
from workers.demo import PRINTED_LOG_ENV, play


def test_without_redis_server_the_demo_runs_on_fakeredis_threads_and_stops_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(embedded.shutil, "which", lambda name: None)
    config = tmp_path / "demo.toml"
    config.write_text(DEMO_CONFIG)
    monkeypatch.setenv("TETHER_CONFIG", str(config))
    monkeypatch.delenv("TETHER_REDIS_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    printed = tmp_path / "console.jsonl"
    monkeypatch.setenv(PRINTED_LOG_ENV, str(printed))  # the console worker thread records what it prints

    run = embedded.Embedded(None)
    run.start()
    try:
        assert run.mode == "in-process fakeredis"
        assert run.procs == [] and len(run.threads) == 3
        play(run.client(), threading.Event(), printed=printed)
    finally:
        run.stop()
    assert not any(t.is_alive() for t in run.threads)
    out = capsys.readouterr().out
    assert "decisions: 3 (2 bound, 1 fallback), deliveries: 3 delivered, 0 dead" in out
    assert "bound completions copied to the main conversation: 0 (counted in " in out
    assert "messages printed: 3 (1 in the main conversation 'general', 2 in threads)" in out
