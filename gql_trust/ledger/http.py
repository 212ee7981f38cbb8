"""The public log endpoints a witness or a department reads: hashes and signed heads only.

``GET /ledger/checkpoint`` (text/plain, the newest signed checkpoint),
``GET /ledger/proof?entry=N&size=M`` and ``GET /ledger/consistency?from=M&to=N``.
No entry content leaves here, so they need no token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..errors import LedgerUnavailable
from .chain import b64
from .writer import Ledger


def routes(ledger: Ledger) -> list[Route]:
    async def checkpoint(request: Request) -> Response:
        note = await ledger.checkpoint()
        if note is None:
            return _error(404, "NOT_FOUND", "the ledger is empty: no checkpoint is signed yet")
        return PlainTextResponse(note, headers={"Cache-Control": "no-store"})

    async def proof(request: Request) -> Response:
        size = await ledger.tree_size()
        entry = _integer(request, "entry", None)
        wanted = _integer(request, "size", size)
        if wanted > size:
            raise _Refused(404, f"the ledger has {size} entries in its newest checkpoint")
        if not 1 <= entry <= wanted:
            raise _Refused(400, f"entry must be between 1 and size ({wanted})")
        leaf, path = await ledger.inclusion(entry, wanted)
        body = {
            "entry": entry,
            "treeSize": wanted,
            "leafHash": b64(leaf),
            "inclusion": [b64(h) for h in path],
        }
        return JSONResponse(body)

    async def consistency(request: Request) -> Response:
        size = await ledger.tree_size()
        old = _integer(request, "from", None)
        new = _integer(request, "to", size)
        if new > size:
            raise _Refused(404, f"the ledger has {size} entries in its newest checkpoint")
        if not 0 <= old <= new:
            raise _Refused(400, f"from must be between 0 and to ({new})")
        return JSONResponse({"consistency": [b64(h) for h in await ledger.consistency(old, new)]})

    return [
        Route("/ledger/checkpoint", _guarded(checkpoint)),
        Route("/ledger/proof", _guarded(proof)),
        Route("/ledger/consistency", _guarded(consistency)),
    ]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _integer(request: Request, name: str, default: int | None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        if default is None:
            raise _Refused(400, f"give ?{name}=N (a whole number)")
        return default
    if not raw.isdigit() or len(raw) > 18:
        raise _Refused(400, f"{name} must be a whole number, not {raw[:40]!r}")
    return int(raw)


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]}, status)


def _guarded(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except _Refused as exc:
            code = "NOT_FOUND" if exc.status == 404 else "BAD_REQUEST"
            return _error(exc.status, code, exc.message)
        except LedgerUnavailable as exc:
            return _error(503, "LEDGER_UNAVAILABLE", exc.message)

    return endpoint
