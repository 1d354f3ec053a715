"""The local Discord API from another process: start it as a subprocess, control and read it over HTTP.

`FakeDiscordControl` has the same method names as the in-process `FakeDiscord` and returns the same record types
(`Channel`, `Webhook`, `Message`, `Snapshot`, ...), so a chaos test reads like an ordinary one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import msgspec

from tests.fakes.discord_faults import FaultRule
from tests.fakes.discord_model import Channel, Message, Snapshot, Webhook

REPO_ROOT = Path(__file__).resolve().parents[2]

T = TypeVar("T")


class FakeDiscordControl:
    """Typed client of the `/_fake` control endpoints of a running local Discord API."""

    def __init__(self, root_url: str, *, timeout_s: float = 30.0) -> None:
        self.root_url = root_url.rstrip("/")
        self.base_url = f"{self.root_url}/api/v10"
        self._http = httpx.Client(base_url=f"{self.root_url}/_fake", timeout=timeout_s)

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        response = self._http.request(method, path, json=body, params=params or None)
        if response.status_code != 200:
            raise RuntimeError(f"{method} /_fake{path} → {response.status_code}: {response.text}")
        return response.json()

    def _as(self, typ: type[T], payload: Any) -> T:
        return msgspec.convert(payload, typ)

    def state(self, *, include_requests: bool = True) -> Snapshot:
        return self._as(Snapshot, self._call("GET", "/state", requests="1" if include_requests else "0"))

    def messages(self, channel_id: str | None = None, *, include_system: bool = False) -> list[Message]:
        params: dict[str, Any] = {"include_system": "1" if include_system else "0"}
        if channel_id is not None:
            params["channel_id"] = channel_id
        return self._as(list[Message], self._call("GET", "/messages", **params))

    def add_channel(
        self,
        name: str = "general",
        *,
        type: int = 0,  # Discord's field name
        channel_id: str | None = None,
        deny: Iterable[str] = (),
    ) -> Channel:
        body = {"name": name, "type": type, "channel_id": channel_id, "deny": list(deny)}
        return self._as(Channel, self._call("POST", "/channels", body))

    def add_thread(self, parent_id: str, name: str = "thread", **options: Any) -> Channel:
        return self._as(Channel, self._call("POST", "/threads", {"parent_id": parent_id, "name": name, **options}))

    def set_channel(self, channel_id: str, **changes: Any) -> Channel:
        return self._as(Channel, self._call("POST", f"/channels/{channel_id}", changes))

    def delete_channel(self, channel_id: str) -> None:
        self._call("DELETE", f"/channels/{channel_id}")

    def add_webhook(self, channel_id: str, name: str = "tether") -> Webhook:
        return self._as(Webhook, self._call("POST", "/webhooks", {"channel_id": channel_id, "name": name}))

    def delete_webhook(self, webhook_id: str) -> None:
        self._call("DELETE", f"/webhooks/{webhook_id}")

    def set_token(self, token: str) -> None:
        self._call("POST", "/token", {"token": token})

    def add_token(self, token: str) -> None:
        self._call("POST", "/tokens", {"token": token})

    def inject(self, kind: str, **options: Any) -> FaultRule:
        return self._as(FaultRule, self._call("POST", "/faults", {"kind": kind, **options}))

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def configure(self, **options: Any) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/config", options)
        return result

    def set_limit(self, route: str, limit: int, window_s: float) -> None:
        self._call("POST", "/limits", {"route": route, "limit": limit, "window_s": window_s})

    def advance(self, seconds: float) -> int:
        return int(self._call("POST", "/clock", {"advance_s": seconds})["now_ms"])

    def reset(self) -> None:
        self._call("POST", "/reset")


class FakeDiscordProcess:
    """Runs `python -m tests.fakes.discord_api` in its own process; `control` talks to it.

    `stop()` sends SIGTERM; the server then writes its final state to `state_dir/state.json` (`final_state()`).
    """

    def __init__(self, state_dir: Path, *, args: Sequence[str] = (), start_timeout_s: float = 15.0) -> None:
        self.state_dir = Path(state_dir)
        self.args = list(args)
        self.start_timeout_s = start_timeout_s
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: FakeDiscordControl | None = None

    def start(self) -> Self:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        server_json = self.state_dir / "server.json"
        server_json.unlink(missing_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.discord_api", "--state-dir", str(self.state_dir), *self.args],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.start_timeout_s
        while not server_json.exists():
            if self._proc.poll() is not None:
                raise RuntimeError(f"fake Discord exited with {self._proc.returncode} before listening")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fake Discord did not listen within {self.start_timeout_s}s")
            time.sleep(0.02)
        self.info = json.loads(server_json.read_text())
        self._control = FakeDiscordControl(self.info["root_url"])
        return self

    @property
    def control(self) -> FakeDiscordControl:
        if self._control is None:
            raise RuntimeError("FakeDiscordProcess is not started")
        return self._control

    @property
    def base_url(self) -> str:
        return str(self.info["base_url"])

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

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
        """The state the server wrote when it stopped."""
        return msgspec.json.decode((self.state_dir / "state.json").read_bytes(), type=Snapshot)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
