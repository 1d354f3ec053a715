"""Signed POSTs to the configured endpoints, one request per call, the answer classified (`errors.classify`).

Before each request the endpoint's shared limit admits it (`rateLimit.globalPerSecond`, and any block a 429 set for
every process); the secrets are read afresh and every one of them signs; configured headers are added. Redirects
are never followed: a 3xx is a permanent failure, so a request never goes to a host that is not configured.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import redis

from adapters.protocol import DeliveryError
from adapters.ratelimit import SharedLimiter
from adapters.secrets import SecretUnavailable
from adapters.webhook import keys
from adapters.webhook.endpoints import (
    Endpoint,
    SecretInvalid,
    UnknownEndpoint,
    decode_secret,
    load_endpoints,
    resolve_header,
)
from adapters.webhook.errors import classify, retry_after_s, transport_error
from adapters.webhook.settings import WebhookSettings
from adapters.webhook.signing import sign
from bindings.clock import SYSTEM_CLOCK, Clock
from bindings.config import TetherConfig

log = logging.getLogger("tether.webhook")

DEFAULT_BLOCK_S = 1.0  # a 429 without a readable Retry-After still holds every process back this long
USER_AGENT = "tether-webhook/1"
MAX_ANSWER_BYTES = 64 * 1024  # of an answer's body, tether reads no more (a message id, an excerpt of an error)


@dataclass(frozen=True)
class Answer:
    """The receiver's answer: status, headers, and at most MAX_ANSWER_BYTES of its body."""

    status_code: int
    headers: httpx.Headers
    content: bytes


class WebhookSender:
    def __init__(self, config: TetherConfig, client: redis.Redis, *, clock: Clock = SYSTEM_CLOCK,
                 settings: WebhookSettings | None = None, env: dict[str, str] | None = None,
                 http: httpx.Client | None = None) -> None:
        self.endpoints = load_endpoints(config, env)
        self.settings = settings or WebhookSettings.from_config(config)
        self.clock = clock
        self.env = env
        self.limiter = SharedLimiter(client, clock=clock)
        self.http = http or httpx.Client(follow_redirects=False, timeout=httpx.Timeout(self.settings.timeout_s),
                                         headers={"user-agent": USER_AGENT})

    def endpoint(self, account_id: str) -> Endpoint:
        found = self.endpoints.get(account_id.strip().lower())
        if found is None:
            raise UnknownEndpoint(f"webhook: no endpoint configured for account {account_id!r} "
                                  f"(channels.webhook.accounts.{account_id})")
        return found

    def post(self, endpoint: Endpoint, msg_id: str, body_at: Callable[[int], bytes], *,
             answer: Callable[[int], bool] = lambda status: False) -> Answer:
        """POST `body_at(now_ms)` as `msg_id`; returns a 2xx answer (or one whose status `answer` accepts), else
        raises the classified DeliveryError."""
        limit = keys.rate_limit(endpoint.account_id)
        self.limiter.acquire([(limit, self.settings.rate)], max_wait_s=self.settings.max_wait_s)
        headers = self._headers(endpoint)
        now_ms = self.clock.now_ms()
        body = body_at(now_ms)
        timestamp = now_ms // 1000
        headers["webhook-id"] = msg_id
        headers["webhook-timestamp"] = str(timestamp)
        headers["webhook-signature"] = sign(self._keys(endpoint), msg_id, timestamp, body)
        try:
            response = self._request(endpoint.url, body, headers)
        except httpx.HTTPError as exc:
            raise transport_error(endpoint.account_id, exc) from None
        if 200 <= response.status_code < 300 or answer(response.status_code):
            return response
        if response.status_code == 429:
            wait = retry_after_s(response.headers.get("retry-after"))
            self.limiter.block(limit, DEFAULT_BLOCK_S if wait is None else wait)
        error: DeliveryError = classify(endpoint.account_id, response.status_code, response.headers,
                                        response.content)
        log.info("webhook answered with an error", extra={"account": endpoint.account_id, "webhookId": msg_id,
                                                           "status": response.status_code, "reason": error.reason})
        raise error

    def close(self) -> None:
        self.http.close()

    def _request(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        with self.http.stream("POST", url, content=body, headers=headers) as response:
            content = bytearray()
            for part in response.iter_bytes():
                content += part
                if len(content) >= MAX_ANSWER_BYTES:
                    break  # the rest is never read: closing the response drops the connection
            return Answer(response.status_code, response.headers, bytes(content[:MAX_ANSWER_BYTES]))

    def _keys(self, endpoint: Endpoint) -> list[bytes]:
        found = []
        for i, spec in enumerate(endpoint.secrets):
            try:
                value = spec.read(self.env)
            except SecretUnavailable:
                if i == 0:
                    raise
                continue  # a retired secret's file already removed: the current one still signs
            try:
                found.append(decode_secret(value))
            except ValueError as exc:
                raise SecretInvalid(f"`{spec.key}`: the value of {spec.describe()} {exc}") from None
        return found

    def _headers(self, endpoint: Endpoint) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        for name, value in endpoint.headers.items():
            headers[name] = resolve_header(value, endpoint.key(f"headers.{name}"), self.env)
        return headers
