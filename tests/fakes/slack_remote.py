"""The local Slack Web API from another process: start it as a subprocess, control and read it over HTTP.

`FakeSlackControl` has the method names of the in-process `FakeSlack` and returns the same record types, so a
multi-process test reads like an ordinary one.
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

from tests.fakes.slack_model import Channel, FaultRule, Message, Snapshot

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


class FakeSlackControl:
    def __init__(self, root_url: str, *, timeout_s: float = 30.0) -> None:
        self.root_url = root_url.rstrip("/")
        self.base_url = f"{self.root_url}/api/"
        self._http = httpx.Client(base_url=f"{self.root_url}/_fake", timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        response = self._http.request(method, path, json=body, params=params or None)
        if response.status_code != 200:
            raise RuntimeError(f"{method} /_fake{path} → {response.status_code}: {response.text}")
        return response.json()

    @staticmethod
    def _as(typ: type[T], payload: Any) -> T:
        return msgspec.convert(payload, typ)

    def state(self, *, include_requests: bool = True) -> Snapshot:
        return self._as(Snapshot, self._call("GET", "/state", requests="1" if include_requests else "0"))

    def messages(self, channel_id: str | None = None, *, thread_ts: str | None = None) -> list[Message]:
        params = {k: v for k, v in (("channel", channel_id), ("thread_ts", thread_ts)) if v is not None}
        return self._as(list[Message], self._call("GET", "/messages", **params))

    def root_messages(self, channel_id: str) -> list[Message]:
        return [m for m in self.messages(channel_id) if not m.in_thread or m.reply_broadcast]

    def add_channel(self, name: str = "general", **options: Any) -> Channel:
        return self._as(Channel, self._call("POST", "/channels", {"name": name, **options}))

    def set_channel(self, channel_id: str, **changes: Any) -> Channel:
        return self._as(Channel, self._call("POST", f"/channels/{channel_id}", changes))

    def post(self, channel_id: str, text: str, *, thread_ts: str | None = None) -> Message:
        return self._as(Message, self._call("POST", "/post", {"channel_id": channel_id, "text": text,
                                                               "thread_ts": thread_ts}))

    def delete_message(self, channel_id: str, ts: str) -> None:
        self._call("POST", "/delete", {"channel_id": channel_id, "ts": ts})

    def set_token(self, token: str, scopes: list[str] | None = None) -> None:
        self._call("POST", "/token", {"token": token, "scopes": scopes})

    def add_token(self, token: str, scopes: list[str] | None = None) -> None:
        self._call("POST", "/tokens", {"token": token, "scopes": scopes})

    def inject(self, kind: str, **options: Any) -> FaultRule:
        return self._as(FaultRule, self._call("POST", "/faults", {"kind": kind, **options}))

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def configure(self, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/config", options)
        return result


class FakeSlackProcess:
    """Runs `python -m tests.fakes.slack_api` in its own process; `control` talks to it."""

    def __init__(self, state_dir: Path, *, args: Sequence[str] = (), start_timeout_s: float = 15.0) -> None:
        self.state_dir = Path(state_dir)
        self.args = list(args)
        self.start_timeout_s = start_timeout_s
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: FakeSlackControl | None = None

    def start(self) -> Self:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        server_json = self.state_dir / "server.json"
        server_json.unlink(missing_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.slack_api", "--state-dir", str(self.state_dir), *self.args],
            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout_s
        while not server_json.exists():
            if self._proc.poll() is not None:
                raise RuntimeError(f"fake Slack exited with {self._proc.returncode} before listening")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fake Slack did not listen within {self.start_timeout_s}s")
            time.sleep(0.02)
        self.info = json.loads(server_json.read_text())
        self._control = FakeSlackControl(self.info["root_url"])
        return self

    @property
    def control(self) -> FakeSlackControl:
        if self._control is None:
            raise RuntimeError("FakeSlackProcess is not started")
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
