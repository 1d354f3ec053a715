"""Structured logs: one JSON object per line on stderr, so a log shipper can index decisions and deliveries."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import msgspec

from adapters.redact import redact

_RESERVED = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
# RQ logs a failed job's arguments and keyword arguments (`BaseWorker.handle_exception`): whole events and
# deliveries, whatever their text holds. The job id, function and queue it logs beside them are enough to find them.
_DROPPED = frozenset({"arguments", "kwargs"})
_encoder = msgspec.json.Encoder()


class JSONFormatter(logging.Formatter):
    """One JSON object per record, with every secret pattern `adapters.redact` knows scrubbed from the whole line
    (messages, fields and tracebacks alike: an error from an HTTP client or from Redis may quote what it sent)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and key not in _DROPPED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact(_encoder.encode(out).decode())


def setup_logging(level: str = "INFO", *, json_format: bool = True) -> None:
    # Neither format prints a record's caller, thread or process, so they are not collected: the logging HOWTO's
    # "Optimization" settings. A router logs a line per event, and collecting them (a stack walk among them) took
    # a fifth of that line's cost.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if json_format else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
