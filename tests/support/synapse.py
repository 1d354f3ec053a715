"""A real Synapse homeserver for tests: configured in a temp dir, started as a subprocess, stopped at the end.

Nothing is installed at test time (`matrix-synapse` is a dev dependency). The homeserver:
- listens on 127.0.0.1 on a free port, client API only (no federation listener), SQLite in the temp dir;
- never makes an outbound connection: no trusted key servers, no stats, no URL previews, no push, no federation;
- registers users by shared secret (the admin API's HMAC registration, `register_new_matrix_user`'s protocol);
- limits messages low (`rc_message`) so a test can meet a real 429; users meant to send fast are exempted per user
  through the admin API (`override_ratelimit`), as an operator would exempt a bot.

`SynapseAdmin` holds what the tests do to the homeserver as people would: register, log in, create rooms, invite,
kick, redact, upgrade a room, read a room back (`/messages`, `/relations`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

SERVER_NAME = "tether.test"
START_TIMEOUT_S = 90.0
# Low enough that four quick sends from a user without an override meet a 429.
MESSAGE_RATE = {"per_second": 0.5, "burst_count": 3}

_CONFIG = """\
server_name: "{server_name}"
pid_file: "{dir}/homeserver.pid"
public_baseurl: "http://127.0.0.1:{port}/"
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "{dir}/homeserver.db"
log_config: "{dir}/log.config"
media_store_path: "{dir}/media"
signing_key_path: "{dir}/signing.key"
registration_shared_secret: "{shared_secret}"
macaroon_secret_key: "{macaroon}"
form_secret: "{form}"
report_stats: false
enable_metrics: false
url_preview_enabled: false
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
send_federation: false
enable_registration: false
presence:
  enabled: false
rc_message: {{per_second: {msg_per_s}, burst_count: {msg_burst}}}
rc_login:
  address: {{per_second: 1000, burst_count: 1000}}
  account: {{per_second: 1000, burst_count: 1000}}
  failed_attempts: {{per_second: 1000, burst_count: 1000}}
rc_registration: {{per_second: 1000, burst_count: 1000}}
rc_joins:
  local: {{per_second: 1000, burst_count: 1000}}
rc_joins_per_room: {{per_second: 1000, burst_count: 1000}}
rc_invites:
  per_room: {{per_second: 1000, burst_count: 1000}}
  per_user: {{per_second: 1000, burst_count: 1000}}
  per_issuer: {{per_second: 1000, burst_count: 1000}}
rc_room_creation: {{per_second: 1000, burst_count: 1000}}
rc_admin_redaction: {{per_second: 1000, burst_count: 1000}}
"""

_LOG_CONFIG = """\
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: "{dir}/homeserver.log"
    encoding: utf8
loggers:
  synapse.storage.SQL:
    level: WARNING
  synapse.access:
    level: WARNING
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class User:
    user_id: str
    access_token: str
    device_id: str
    password: str


class Synapse:
    """One homeserver process. `start()` returns once `/_matrix/client/versions` answers."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = 0
        self.shared_secret = secrets.token_urlsafe(24)
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_s = 0.0  # how long start() took, for the report

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.dir / "homeserver.yaml"

    def write_config(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config_path.write_text(_CONFIG.format(
            server_name=SERVER_NAME, dir=self.dir, port=self.port, shared_secret=self.shared_secret,
            macaroon=secrets.token_urlsafe(24), form=secrets.token_urlsafe(24),
            msg_per_s=MESSAGE_RATE["per_second"], msg_burst=MESSAGE_RATE["burst_count"]))
        (self.dir / "log.config").write_text(_LOG_CONFIG.format(dir=self.dir))

    def start(self, attempts: int = 3) -> None:
        began = time.monotonic()
        for attempt in range(attempts):
            self.write_config()
            if not (self.dir / "signing.key").exists():
                subprocess.run([sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path),
                                "--generate-keys"], check=True, capture_output=True, timeout=60)
            out = (self.dir / "stdout.log").open("ab")
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.dir)
            out.close()
            if self._wait_up():
                self.start_s = time.monotonic() - began
                return
            self.kill()  # most likely the port was taken between choosing and binding it: another port
            if attempt == attempts - 1:
                tail = (self.dir / "stdout.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"synapse did not start (log in {self.dir}):\n{tail}")

    def _wait_up(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    return False
                try:
                    if http.get(f"{self.base_url}/_matrix/client/versions").status_code == 200:
                        return True
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)  # a subprocess coming up: nothing to wait on but its port
        return False

    def rss_kib(self) -> int | None:
        if self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill()
        self.proc = None

    def kill(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=15)
        self.proc = None


def q(segment: str) -> str:
    return quote(segment, safe="")


@dataclass
class SynapseAdmin:
    """What people do to the homeserver, through its client and admin APIs (never through tether's code)."""

    server: Synapse
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30.0))
    admin: User | None = None
    _txn: int = 0

    def close(self) -> None:
        self.http.close()

    def _url(self, path: str) -> str:
        return self.server.base_url + path

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        r = self.http.request(method, self._url(path), headers=headers, **kwargs)
        for _ in range(20):  # a person told to slow down does (users under the low message limit)
            if r.status_code != 429:
                break
            time.sleep(r.json().get("retry_after_ms", 500) / 1000)
            r = self.http.request(method, self._url(path), headers=headers, **kwargs)
        if r.status_code >= 400:
            raise AssertionError(f"{method} {path} → {r.status_code}: {r.text[:300]}")
        return r.json() if r.content else None

    # -- users ------------------------------------------------------------------------------------------------

    def register(self, localpart: str, *, admin: bool = False, unlimited: bool = False) -> User:
        """Shared-secret registration (HMAC-SHA1 over nonce, user, password, admin flag), as
        `register_new_matrix_user` does it."""
        nonce = self.call("GET", "/_synapse/admin/v1/register")["nonce"]
        password = secrets.token_urlsafe(12)
        # HMAC-SHA1 of the parts joined by NUL bytes.
        message = b"\x00".join(p.encode() for p in (nonce, localpart, password, "admin" if admin else "notadmin"))
        mac = hmac.new(self.server.shared_secret.encode(), message, digestmod=hashlib.sha1).hexdigest()
        body = {"nonce": nonce, "username": localpart, "password": password, "admin": admin, "mac": mac}
        got = self.call("POST", "/_synapse/admin/v1/register", json=body)
        user = User(got["user_id"], got["access_token"], got["device_id"], password)
        if admin and self.admin is None:
            self.admin = user
        if unlimited:
            self.unlimit(user.user_id)
        return user

    def login(self, user: User, device_id: str | None = None) -> User:
        """A second login: a new access token (and, without `device_id`, a new device)."""
        body: dict[str, Any] = {"type": "m.login.password", "password": user.password,
                                "identifier": {"type": "m.id.user", "user": user.user_id}}
        if device_id:
            body["device_id"] = device_id
        got = self.call("POST", "/_matrix/client/v3/login", json=body)
        return User(got["user_id"], got["access_token"], got["device_id"], user.password)

    def logout(self, user: User) -> None:
        self.call("POST", "/_matrix/client/v3/logout", token=user.access_token, json={})

    def unlimit(self, user_id: str) -> None:
        assert self.admin is not None, "register an admin first"
        self.call("POST", f"/_synapse/admin/v1/users/{q(user_id)}/override_ratelimit", token=self.admin.access_token,
                  json={"messages_per_second": 0, "burst_count": 0})

    # -- rooms ------------------------------------------------------------------------------------------------

    def create_room(self, owner: User, name: str, *, invite: Sequence[User] = ()) -> str:
        body = {"name": name, "preset": "private_chat", "invite": [u.user_id for u in invite]}
        made = self.call("POST", "/_matrix/client/v3/createRoom", token=owner.access_token, json=body)
        room_id: str = made["room_id"]
        for user in invite:
            self.join(user, room_id)
        return room_id

    def join(self, user: User, room_id: str) -> None:
        self.call("POST", f"/_matrix/client/v3/join/{q(room_id)}", token=user.access_token, json={})

    def invite(self, by: User, room_id: str, user: User) -> None:
        self.call("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/invite", token=by.access_token,
                  json={"user_id": user.user_id})

    def kick(self, by: User, room_id: str, user: User) -> None:
        self.call("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/kick", token=by.access_token,
                  json={"user_id": user.user_id, "reason": "test"})

    def send_text(self, user: User, room_id: str, text: str) -> str:
        self._txn += 1
        path = f"/_matrix/client/v3/rooms/{q(room_id)}/send/m.room.message/admin-{self._txn}-{time.time_ns()}"
        event_id: str = self.call("PUT", path, token=user.access_token,
                                  json={"msgtype": "m.text", "body": text})["event_id"]
        return event_id

    def redact(self, user: User, room_id: str, event_id: str) -> None:
        self._txn += 1
        self.call("PUT", f"/_matrix/client/v3/rooms/{q(room_id)}/redact/{q(event_id)}/r-{self._txn}-{time.time_ns()}",
                  token=user.access_token, json={"reason": "test"})

    def upgrade(self, owner: User, room_id: str) -> str:
        """Upgrade the room (the old one gets an `m.room.tombstone` naming the new one)."""
        got = self.call("POST", f"/_matrix/client/v3/rooms/{q(room_id)}/upgrade", token=owner.access_token,
                        json={"new_version": "10"})
        new_room: str = got["replacement_room"]
        return new_room

    def set_power(self, owner: User, room_id: str, **changes: Any) -> None:
        path = f"/_matrix/client/v3/rooms/{q(room_id)}/state/m.room.power_levels/"
        levels = self.call("GET", path, token=owner.access_token)
        levels.update(changes)
        self.call("PUT", path, token=owner.access_token, json=levels)

    # -- reading back -----------------------------------------------------------------------------------------

    def messages(self, reader: User, room_id: str) -> list[dict[str, Any]]:
        """Every `m.room.message` of the room, oldest first (thread replies included)."""
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {"dir": "f", "limit": 1000}
        while True:
            got = self.call("GET", f"/_matrix/client/v3/rooms/{q(room_id)}/messages", token=reader.access_token,
                            params=params)
            events += [e for e in got.get("chunk", []) if e.get("type") == "m.room.message"]
            if not got.get("end") or not got.get("chunk"):
                return events
            params["from"] = got["end"]

    def main_timeline(self, reader: User, room_id: str) -> list[dict[str, Any]]:
        """The room's messages outside any thread."""
        return [e for e in self.messages(reader, room_id)
                if (e.get("content", {}).get("m.relates_to") or {}).get("rel_type") != "m.thread"]

    def thread(self, reader: User, room_id: str, root: str) -> list[dict[str, Any]]:
        """The thread's replies, oldest first, read through `/relations`."""
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {"dir": "f", "limit": 1000}
        path = f"/_matrix/client/v1/rooms/{q(room_id)}/relations/{q(root)}/m.thread"
        while True:
            got = self.call("GET", path, token=reader.access_token, params=params)
            events += got.get("chunk", [])
            if not got.get("next_batch"):
                return events
            params["from"] = got["next_batch"]
