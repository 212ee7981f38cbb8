"""The Starlette application: GraphQL, offline GraphiQL, health and readiness."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL

from . import graphiql
from .config import CONFIG_ENV, Settings, load_settings
from .errors import Unauthenticated
from .graphql import build_schema
from .graphql.context import RequestContext
from .identity import PUBLIC, authenticate
from .trust import Trust


class TrustGraphQL(GraphQL):
    """Strawberry's ASGI view, with the trust as context and GraphiQL served locally."""

    def __init__(self, trust: Trust, **kwargs: Any) -> None:
        super().__init__(build_schema(tuple(trust.contracts.values())), **kwargs)
        self.trust = trust

    async def get_context(self, request: Any, response: Any) -> RequestContext:  # type: ignore[override]
        principal = getattr(request.state, "principal", PUBLIC)
        return RequestContext(
            trust=self.trust, request=request, response=response, principal=principal
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(graphiql.render_page(graphql_path="/graphql", static_prefix="/static"))


def create_app(settings: Settings) -> Starlette:
    trust = Trust.from_settings(settings)
    graphql_app = TrustGraphQL(trust, allow_queries_via_get=False)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await trust.start()
        try:
            yield
        finally:
            await trust.close()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        sources = await trust.readiness()
        failing = sorted(name for name, state in sources.items() if state != "ok")
        body = {"status": "unavailable" if failing else "ok", "sources": sources}
        if failing:
            body["failing"] = failing
        return JSONResponse(body, status_code=503 if failing else 200)

    async def graphql_route(request: Request) -> Response:
        # A browser asking for the page gets GraphiQL, even with ?query= in its URL
        # (which pre-fills the editor); queries themselves are only accepted by POST.
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            return await graphql_app.render_graphql_ide(request)
        try:
            request.state.principal = authenticate(
                request.headers.get("authorization"), settings.auth
            )
        except Unauthenticated as exc:
            return _unauthenticated(exc)
        try:
            return await graphql_app.run(request)
        except HTTPException as exc:
            return PlainTextResponse(exc.reason, status_code=exc.status_code)

    async def home(request: Request) -> Response:
        return HTMLResponse(_home_page(trust))

    middleware = []
    if settings.server.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.server.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
            )
        )
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql_route, methods=["GET", "POST"]),
            Mount("/static", StaticFiles(directory=graphiql.STATIC_DIR), name="static"),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.trust = trust
    return app


def create_app_from_env() -> Starlette:
    """Factory for `uvicorn --factory` (and `gql-trust serve --workers N`)."""
    return create_app(load_settings(os.environ.get(CONFIG_ENV)))


def _unauthenticated(exc: Unauthenticated) -> Response:
    return JSONResponse(
        {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _home_page(trust: Trust) -> str:
    from html import escape

    items = "".join(
        f"<li><strong>{escape(c.title)}</strong> ({escape(c.owner)}): "
        f"<code>{escape(c.name)}</code></li>"
        for c in trust.contracts.values()
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Labour Market Data Trust</title></head><body>"
        "<h1>Labour Market Data Trust</h1><ul>"
        f"{items}</ul><p><a href=/graphql>Open GraphiQL</a></p></body></html>"
    )
