"""Bearer tokens: `api.tokens`, each `env:NAME` or `file:PATH`, read at every request (a rotated token is taken at
once) and compared in constant time. `/healthz`, `/readyz` and `/openapi.json` are open.

With no tokens configured the API is open, which `tether api` allows only on a loopback address: anyone who can
reach a non-loopback port could otherwise bind sessions and read every event (`check_exposure`).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from pathlib import Path

from bindings.errors import ConfigError

log = logging.getLogger("tether.api")

_SPEC_PREFIXES = ("env:", "file:")


def check_spec(spec: str, where: str) -> None:
    if not spec.startswith(_SPEC_PREFIXES):
        raise ConfigError(f"key `{where}`: must be \"env:NAME\" or \"file:PATH\" (a literal token would end up in "
                          "the configuration file and its backups)")


def read_token(spec: str) -> str | None:
    """The token a spec names now; None when the variable or file is missing or empty (logged without a value)."""
    kind, _, name = spec.partition(":")
    if kind == "env":
        value = os.environ.get(name, "")
    else:
        try:
            value = Path(name).read_text()
        except OSError as exc:
            log.warning("api token file unreadable", extra={"path": name, "error": exc.strerror})
            return None
    value = value.strip()
    return value or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerAuth:
    def __init__(self, specs: list[str]) -> None:
        for i, spec in enumerate(specs):
            check_spec(spec, f"api.tokens[{i}]")
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
        for spec in self.specs:  # every token is compared, so the time taken does not tell which one matched
            token = read_token(spec)
            if token is not None and hmac.compare_digest(given, token.encode()):
                ok = True
        return ok
