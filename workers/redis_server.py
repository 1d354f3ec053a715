"""A private redis-server on a unix socket, owned by the process that starts it.

`tether run` uses it for the embedded default (socket under ./.tether/), the test suite for a throwaway server.
It never touches a Redis someone else uses: the socket lives in its own directory, TCP is off unless asked for
(`tcp_port`), nothing is persisted unless asked for (`appendonly`, which the chaos suite needs to restart Redis).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import redis


class RedisServer:
    def __init__(self, *, appendonly: bool = False, tcp_port: int = 0, directory: Path | None = None,
                 password: str | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH (install the Debian package redis-server)")
        self.binary = binary
        self.dir = directory if directory is not None else Path(tempfile.mkdtemp(prefix="tether-redis-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / "redis.sock"
        self.appendonly = appendonly
        self.tcp_port = tcp_port
        self.password = password  # `requirepass`: every client must AUTH as the default user
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://:{quote(self.password, safe='')}@{self.socket}" if self.password else f"unix://{self.socket}"

    @property
    def tcp_url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.tcp_port}/0"

    def start(self) -> None:
        args = [
            self.binary,
            "--port", str(self.tcp_port),
            "--bind", "127.0.0.1",
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--daemonize", "no",
            "--logfile", str(self.dir / "redis.log"),
            *(["--requirepass", self.password] if self.password else []),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client: redis.Redis = redis.Redis(unix_socket_path=str(self.socket), password=self.password)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    break
            except (redis.ConnectionError, FileNotFoundError):
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: see {self.dir}/redis.log")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer PING within 10 s")
            time.sleep(0.01)
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
