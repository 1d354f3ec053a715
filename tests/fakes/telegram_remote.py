"""The local Telegram Bot API from another process: start it as a subprocess, control and read it over HTTP.

`FakeTelegramControl` has the method names of the in-process `FakeTelegram` and returns the same record types, so a
chaos test or a benchmark reads like an ordinary test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import msgspec

from tests.fakes.discord_faults import FaultRule
from tests.fakes.telegram_model import Chat, Limits, Message, RequestRecord, Snapshot, Topic

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class FakeTelegramControl:
    def __init__(self, base_url: str, *, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def _call(self, typ: type[T], method: str, /, **kwargs: Any) -> T:
        response = self._http.post(f"{self.base_url}/_fake/call", json={"name": method, "kwargs": kwargs})
        if response.status_code != 200:
            raise RuntimeError(f"fake telegram {method} → {response.status_code}: {response.text}")
        return msgspec.json.decode(response.content, type=typ)

    def add_chat(self, type: str = "supergroup", **options: Any) -> Chat:
        return self._call(Chat, "add_chat", type=type, **options)

    def set_chat(self, chat_id: int, **changes: Any) -> Chat:
        return self._call(Chat, "set_chat", chat_id=chat_id, **changes)

    def add_topic(self, chat_id: int, name: str = "topic", **options: Any) -> Topic:
        return self._call(Topic, "add_topic", chat_id=chat_id, name=name, **options)

    def set_topic(self, chat_id: int, topic_id: int, state: str) -> Topic:
        return self._call(Topic, "set_topic", chat_id=chat_id, topic_id=topic_id, state=state)

    def migrate(self, chat_id: int) -> Chat:
        return self._call(Chat, "migrate", chat_id=chat_id)

    def set_token(self, token: str) -> None:
        self._call(object, "set_token", token=token)

    def set_limits(self, **changes: Any) -> Limits:
        return self._call(Limits, "set_limits", **changes)

    def inject(self, kind: str, **options: Any) -> FaultRule:
        return self._call(FaultRule, "inject", kind=kind, **options)

    def clear_faults(self) -> None:
        self._call(object, "clear_faults")

    def chat(self, chat_id: int) -> Chat:
        return self._call(Chat, "chat", chat_id=chat_id)

    def messages(self, chat_id: int | None = None, thread_id: int | None = None, **options: Any) -> list[Message]:
        return self._call(list[Message], "messages", chat_id=chat_id, thread_id=thread_id, **options)

    def requests(self, method: str | None = None) -> list[RequestRecord]:
        return self._call(list[RequestRecord], "requests", method=method)

    def snapshot(self, *, include_requests: bool = True) -> Snapshot:
        return self._call(Snapshot, "snapshot", include_requests=include_requests)


class FakeTelegramProcess:
    """Runs `python -m tests.fakes.telegram_api` in its own process; `control` talks to it."""

    def __init__(self, state_dir: Path, *, args: Sequence[str] = (), start_timeout_s: float = 15.0) -> None:
        self.state_dir = Path(state_dir)
        self.args = list(args)
        self.start_timeout_s = start_timeout_s
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: FakeTelegramControl | None = None

    def start(self) -> Self:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        server_json = self.state_dir / "server.json"
        server_json.unlink(missing_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.telegram_api", "--state-dir", str(self.state_dir), *self.args],
            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout_s
        while not server_json.exists():
            if self._proc.poll() is not None:
                raise RuntimeError(f"fake Telegram exited with {self._proc.returncode} before listening")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fake Telegram did not listen within {self.start_timeout_s}s")
            time.sleep(0.02)
        self.info = json.loads(server_json.read_text())
        self._control = FakeTelegramControl(self.info["base_url"])
        return self

    @property
    def control(self) -> FakeTelegramControl:
        if self._control is None:
            raise RuntimeError("FakeTelegramProcess is not started")
        return self._control

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def final_state(self) -> Snapshot:
        return msgspec.json.decode((self.state_dir / "state.json").read_bytes(), type=Snapshot)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
