"""Bearer tokens: `api.tokens`, each `env:NAME` or `file:PATH`, read at every request (a rotated token is taken at
once) and compared in constant time. `/healthz`, `/readyz` and `/openapi.json` are open.

With no tokens configured the API is open, which `tether api` allows only on a loopback address: anyone who can
reach a non-loopback port could otherwise bind sessions and read every event (`check_exposure`).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from adapters.secrets import SecretUnavailable, parse_secret_spec, read_secret
from bindings.errors import ConfigError

log = logging.getLogger("tether.api")

def read_token(spec: str, field: str) -> str | None:
    """The token a spec names now; None when the variable or file is missing or empty (logged, without a value)."""
    try:
        return read_secret(spec, field=field)
    except SecretUnavailable as exc:
        log.warning("api token unavailable", extra={"error": str(exc)})
        return None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerAuth:
    def __init__(self, specs: list[str]) -> None:
        self.fields = [f"api.tokens[{i}]" for i in range(len(specs))]
        for spec, field in zip(specs, self.fields, strict=True):
            parse_secret_spec(spec, field=field)  # a literal token is a ConfigError naming the key
        self.specs = list(specs)

    @property
    def open(self) -> bool:
        return not self.specs

    def check_exposure(self, host: str) -> None:
        """Refuse to serve an open API anywhere but on loopback."""
        if self.open and not is_loopback(host):
            raise ConfigError(f"`tether api` would listen on {host} with no `api.tokens`: anyone who reaches that "
                              "address could bind sessions and read events. Configure `api.tokens` (env:/file:), "
                              "or listen on 127.0.0.1")

    def allows(self, authorization: str | None) -> bool:
        if self.open:
            return True
        if not authorization:
            return False
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer" or not presented:
            return False
        given = presented.strip().encode()
        ok = False
        for spec, field in zip(self.specs, self.fields, strict=True):  # all compared: timing tells nothing
            token = read_token(spec, field)
            if token is not None and hmac.compare_digest(given, token.encode()):
                ok = True
        return ok
