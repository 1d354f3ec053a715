"""Real `tether …` processes for the API tests: `tether api` on a free port (read from its "api listening" log
line), and workers, each with its own log file, stopped by the test that started them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.waiting import wait_for

TOKEN_ENV = "TETHER_TEST_API_TOKEN"
TOKEN = "test-token-4f1c"


def write_config(path: Path, extra: str = "") -> Path:
    path.write_text(f"""
[api]
tokens = ["env:{TOKEN_ENV}"]

[channels.console.threadBindings]
spawnSubagentSessions = true

[delivery]
backoffMinS = 0.05
backoffMaxS = 0.2
{extra}
""")
    return path


class TetherProcess:
    def __init__(self, args: list[str], *, redis_url: str, config: Path, log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.log = log
        full_env = {**os.environ, "TETHER_REDIS_URL": redis_url, "TETHER_CONFIG": str(config), TOKEN_ENV: TOKEN,
                    **(env or {})}
        with log.open("wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "workers", *args], env=full_env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def log_lines(self) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


class ApiProcess(TetherProcess):
    def __init__(self, *, redis_url: str, config: Path, log: Path) -> None:
        super().__init__(["api", "--port", "0"], redis_url=redis_url, config=config, log=log)

        def port() -> int | None:
            if self.proc.poll() is not None:
                raise AssertionError(f"tether api exited: {self.log.read_text()[-2000:]}")
            return next((int(str(r["port"])) for r in self.log_lines() if r.get("msg") == "api listening"), None)

        self.port = wait_for(port, timeout_s=30, what="tether api to listen")
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for(lambda: self._up(), timeout_s=30, what="tether api to answer /healthz")

    def _up(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def client(self, token: str | None = TOKEN, timeout_s: float = 10) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
