"""Request ids and the access log: one JSON line per HTTP request.

Every request gets an id of the server's own, so two entries never share one whatever
a caller re-sends. A well-formed incoming ``X-Request-Id`` (at most 64 of
``A-Z a-z 0-9 . _ : -``, as proxies and gateways send them) is kept apart as the
client's (``request.state.client_request_id``, the ledger's ``clientRequestId`` and the
access log's ``client_request_id``). The server's id goes on
``request.state.request_id``, back to the caller in the ``X-Request-Id`` response
header and, for executed GraphQL operations, in ``extensions.requestId``.

Once the response is sent, the ``gql_trust.access`` logger gets one record with
the id, method, path, status, duration, the caller's ``sub``/``dept`` (never a
token or any header) and the ledger entry's id and outcome when one was written.
``gql-trust serve`` sends these (and every other log line) to stderr as JSON.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .ledger.gate import ENTRY as LEDGER_ENTRY

ACCESS_LOG = logging.getLogger("gql_trust.access")
HEADER = "X-Request-Id"
STATE_KEY = "request_id"  # request.state.request_id: read by the ledger gate
CLIENT_KEY = "client_request_id"  # request.state.client_request_id: the caller's own id
_WELL_FORMED = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_HEADER_KEY = HEADER.lower().encode("latin-1")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(value: str | None) -> str | None:
    """The caller's id if it is well-formed, else None (the server makes one)."""
    if value is None or not _WELL_FORMED.fullmatch(value):
        return None
    return value


class RequestIdMiddleware:
    """Assigns the request id, returns it in a header, and writes the access log line.

    Outermost of the app's middleware, so its duration and status are the caller's."""

    def __init__(self, app: ASGIApp, logger: logging.Logger = ACCESS_LOG) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        state = scope.setdefault("state", {})  # what request.state reads and writes
        state[STATE_KEY] = request_id
        state[CLIENT_KEY] = accepted_request_id(_incoming(scope))
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.logger.isEnabledFor(logging.INFO):
                fields = access_fields(scope, request_id, status, time.perf_counter() - started)
                self.logger.info(
                    "%s %s %s", fields["method"], fields["path"], status, extra={"fields": fields}
                )


def _incoming(scope: Scope) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == _HEADER_KEY:
            return str(value.decode("latin-1"))
    return None


def access_fields(scope: Scope, request_id: str, status: int, seconds: float) -> dict[str, Any]:
    """The access log record's fields: nothing secret (no headers, query strings, bodies)."""
    state = scope.get("state") or {}
    principal = state.get("principal")
    entry = state.get(LEDGER_ENTRY)
    return {
        "request_id": request_id,
        "client_request_id": state.get(CLIENT_KEY),
        "method": scope.get("method", ""),
        "path": scope.get("path", ""),
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "sub": getattr(principal, "sub", None),
        "dept": getattr(principal, "dept", None),
        "ledger_id": getattr(entry, "id", None),
        "outcome": getattr(getattr(entry, "outcome", None), "value", None),
    }


class JsonFormatter(logging.Formatter):
    """One JSON object a line: timestamp, level, logger, message, then the record's
    ``fields`` (the access log's) and any exception. Control characters in values
    are escaped by JSON, so no logged value can start a forged line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """``logging.config.dictConfig`` settings for the server (uvicorn's ``log_config``,
    applied in every worker process): the trust's and uvicorn's logs, as JSON on stderr."""
    handler = {"handlers": ["stderr"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "gql_trust": handler,
            "uvicorn": handler,
            "uvicorn.error": {"level": level},  # propagates to "uvicorn"
            "uvicorn.access": handler,  # off: the access log above replaces it
        },
    }


__all__ = [
    "ACCESS_LOG",
    "HEADER",
    "JsonFormatter",
    "RequestIdMiddleware",
    "accepted_request_id",
    "logging_config",
    "new_request_id",
]
