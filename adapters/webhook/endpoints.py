"""The configured receivers: `[channels.webhook.accounts.<name>]` → one `Endpoint` each, checked when loaded.

Endpoints come from the configuration only — never from an event or a binding: a binding's `accountId` picks one
by name. Loading refuses, with a `ConfigError` naming the key: a URL that is not absolute http(s), one carrying
credentials or a fragment, plain `http://` to a host that is not loopback (unless `allowInsecure = true`), a secret
that is not `env:NAME` / `file:PATH`, and a secret whose value (when readable at load) is not `whsec_` + base64.
Secrets are read again at every request (rotation) and appear nowhere but in the HMAC.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass, field

import httpx

from adapters.protocol import PermanentError
from adapters.secrets import SecretUnavailable, parse_secret_spec, read_secret
from bindings.config import AccountConfig, TetherConfig
from bindings.errors import ConfigError

CHANNEL = "webhook"
# Set by tether on every request; a configured header of the same name would break verification or framing.
RESERVED_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "content-type",
                              "content-length", "host", "transfer-encoding", "connection"})


class SecretInvalid(PermanentError):
    """The secret's value is not `whsec_` + base64: every receiver would refuse the signature."""

    reason = "secret-invalid"


class UnknownEndpoint(PermanentError):
    reason = "unknown-endpoint"


@dataclass(frozen=True)
class SecretSpec:
    """Where one secret comes from; `key` is its configuration key, the only thing errors name."""

    kind: str  # "env" | "file"
    name: str
    key: str

    @classmethod
    def parse(cls, spec: str, key: str) -> SecretSpec:
        kind, name = parse_secret_spec(spec, field=key)
        return cls(kind, name, key)

    def describe(self) -> str:
        return f"{self.kind}:{self.name}"

    def read(self, env: dict[str, str] | None = None) -> str:
        """The current value (read afresh: rotation needs no restart); SecretUnavailable (retryable) if unreadable."""
        return read_secret(f"{self.kind}:{self.name}", field=self.key, env=env)


@dataclass(frozen=True)
class Endpoint:
    account_id: str
    url: str
    secrets: tuple[SecretSpec, ...]  # `secret` first, then `previousSecrets`: every one signs while rotating
    headers: dict[str, str] = field(default_factory=dict)  # values may be `env:`/`file:` specs, resolved at use

    def key(self, name: str) -> str:
        return f"channels.{CHANNEL}.accounts.{self.account_id}.{name}"


def load_endpoints(config: TetherConfig, env: dict[str, str] | None = None) -> dict[str, Endpoint]:
    """Every configured endpoint by account id; raises ConfigError naming the first bad key."""
    channel = config.channels.get(CHANNEL)
    found: dict[str, Endpoint] = {}
    for raw_id, account in (channel.accounts if channel else {}).items():
        account_id = raw_id.strip().lower()
        found[account_id] = _endpoint(account_id, account, env)
    return found


def _endpoint(account_id: str, account: AccountConfig, env: dict[str, str] | None) -> Endpoint:
    prefix = f"channels.{CHANNEL}.accounts.{account_id}"
    if not account.url:
        raise ConfigError(f"key `{prefix}.url`: required (the receiver's https:// endpoint)")
    url = check_url(account.url, key=f"{prefix}.url", allow_insecure=account.allow_insecure)
    if not account.secret:
        raise ConfigError(f"key `{prefix}.secret`: required (`env:NAME` or `file:PATH` holding `whsec_…`)")
    specs = [SecretSpec.parse(account.secret, f"{prefix}.secret")]
    specs += [SecretSpec.parse(s, f"{prefix}.previousSecrets[{i}]") for i, s in enumerate(account.previous_secrets)]
    for spec in specs:
        try:
            value = spec.read(env)
        except SecretUnavailable:
            continue  # not readable yet: checked again at every send, which retries until it is
        try:
            decode_secret(value)
        except ValueError as exc:
            raise ConfigError(f"key `{spec.key}`: the value of {spec.describe()} {exc}") from None
    for name in account.headers:
        if name.strip().lower() in RESERVED_HEADERS or not name.strip():
            raise ConfigError(f"key `{prefix}.headers.{name}`: tether sets this header itself")
    return Endpoint(account_id=account_id, url=url, secrets=tuple(specs), headers=dict(account.headers))


def check_url(raw: str, *, key: str, allow_insecure: bool) -> str:
    try:
        url = httpx.URL(raw.strip())
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigError(f"key `{key}`: not a valid URL ({exc})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigError(f"key `{key}`: must be an absolute http:// or https:// URL")
    if url.userinfo:
        raise ConfigError(f"key `{key}`: must not carry credentials (use `headers` with an `env:` value)")
    if url.fragment:
        raise ConfigError(f"key `{key}`: must not have a #fragment")
    if url.scheme == "http" and not allow_insecure and not is_loopback(url.host):
        raise ConfigError(f"key `{key}`: plain http:// is only allowed to a loopback address "
                          f"(use https://, or set allowInsecure = true for this account)")
    return str(url)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def decode_secret(value: str) -> bytes:
    """`whsec_` + standard base64 → the HMAC key. ValueError says what is wrong (never the value)."""
    if not value.startswith("whsec_"):
        raise ValueError("must start with `whsec_`")
    body = value[len("whsec_"):]
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not `whsec_` followed by base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"must decode to 24-64 bytes (the specification's range), got {len(key)}")
    return key


def resolve_header(value: str, key: str, env: dict[str, str] | None = None) -> str:
    """A header value: literal, or read at use from `env:NAME` / `file:PATH` (an Authorization token, say)."""
    kind = value.partition(":")[0].strip().lower()
    if kind in ("env", "file") and ":" in value:
        return SecretSpec.parse(value, key).read(env)
    return value
