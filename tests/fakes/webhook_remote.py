"""The webhook receiver in its own process (`python -m tests.fakes.webhook_receiver`), driven over HTTP.

`ReceiverControl` has the reading and steering methods of the in-process `WebhookReceiver` (`messages`, `requests`,
`rejected`, `fault`, `clear_faults`, `set_gone`, `set_secret`) and returns the same record types.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import msgspec

from tests.fakes.webhook_receiver import Fault, Message, Received, Rejected

REPO_ROOT = Path(__file__).resolve().parents[2]


class ReceiverControl:
    def __init__(self, control_url: str, url: str) -> None:
        self.url = url
        self._http = httpx.Client(base_url=control_url, timeout=30.0)

    def close(self) -> None:
        self._http.close()

    def _call(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.post(path, json=body or {})
        if response.status_code != 200:
            raise RuntimeError(f"receiver control {path} → {response.status_code}: {response.text}")
        return response.json()

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = self._call("/state")
        return state

    def messages(self) -> list[Message]:
        return msgspec.convert(self._state()["messages"], list[Message])

    def requests(self) -> list[Received]:
        return msgspec.convert(self._state()["requests"], list[Received])

    def rejected(self) -> list[Rejected]:
        return msgspec.convert(self._state()["rejected"], list[Rejected])

    def incomplete(self) -> int:
        """Requests whose body was cut off (a sender killed mid-request)."""
        return int(self._state()["incomplete"])

    def fault(self, fault: Fault) -> None:
        self._call("/fault", msgspec.to_builtins(fault))

    def clear_faults(self) -> None:
        self._call("/clear-faults")

    def set_gone(self, conversation_id: str) -> None:
        self._call("/gone", {"conversationId": conversation_id})

    def set_secret(self, secret: str) -> None:
        self._call("/secret", {"secret": secret})


class ReceiverProcess:
    """Runs the receiver as a subprocess of the test; `control` reads and steers it."""

    def __init__(self, state_dir: Path, secret: str, *, dedupe: bool = True, provisioning: bool = False,
                 seed: int = 0, start_timeout_s: float = 15.0) -> None:
        self.state_dir = Path(state_dir)
        self.secret = secret
        self.flags = (["--dedupe"] if dedupe else []) + (["--provisioning"] if provisioning else [])
        self.flags += ["--seed", str(seed)]
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._control: ReceiverControl | None = None

    @property
    def log_path(self) -> Path:
        return self.state_dir / "messages.jsonl"

    def start(self) -> Self:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        secret_file = self.state_dir / "secret"
        secret_file.write_text(self.secret)
        ready = self.state_dir / "ready.json"
        ready.unlink(missing_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.webhook_receiver", "--secret-file", str(secret_file),
             "--ready-file", str(ready), "--log", str(self.log_path), *self.flags],
            cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + self.start_timeout_s
        while not ready.exists():
            if self._proc.poll() is not None:
                raise RuntimeError(f"the receiver exited with {self._proc.returncode} before listening")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the receiver did not listen within {self.start_timeout_s}s")
            time.sleep(0.02)
        info = json.loads(ready.read_text())
        self._control = ReceiverControl(info["control"], info["url"])
        return self

    @property
    def control(self) -> ReceiverControl:
        if self._control is None:
            raise RuntimeError("ReceiverProcess is not started")
        return self._control

    @property
    def url(self) -> str:
        return self.control.url

    def stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
