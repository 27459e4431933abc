"""The workspaces in a browser, served by the gateway itself: ``/`` (agent), ``/manager`` and
``/chat`` (a demo web chat acting as a channel gateway).

Plain HTML pages and small plain JavaScript modules in ``static/`` (no framework, no build step,
nothing from another origin): each page signs in with a bearer token and calls the same JSON API
and event streams a real workspace integration would, so it can show nothing the API would not
(SPEC R5). The Content-Security-Policy on every page allows this origin only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HERE = Path(__file__).parent
PAGES = {"/": "agent.html", "/manager": "manager.html", "/chat": "chat.html"}
# Only this origin: a page that tried to load anything from elsewhere would be stopped by the browser.
POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
          "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
HEADERS = {"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-cache"}


# The API docs (fastapi-offline's Swagger UI and ReDoc, with inline scripts): this origin only as well,
# which also stops ReDoc's footer logo from being fetched from its vendor's CDN.
DOCS_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'")
DOCS = ("/docs", "/redoc")


def install(app: FastAPI) -> None:
    """Mount the static assets at ``/web``, serve the pages, and keep the API docs to this origin."""
    app.mount("/web", StaticFiles(directory=HERE / "static"), name="web")

    app.add_middleware(DocsPolicy)
    router = APIRouter(include_in_schema=False)
    for path, page in PAGES.items():
        router.add_api_route(path, _page(page), methods=["GET"], name=f"page_{page.removesuffix('.html')}")
    app.include_router(router)


class DocsPolicy:
    """Pure ASGI: the docs pages get their policy header; every other request passes untouched (an
    ``@app.middleware("http")`` wraps each request in a task group and memory streams: about a
    millisecond of the gateway's CPU a call)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in DOCS:
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["Content-Security-Policy"] = DOCS_POLICY
            await send(message)

        await self.app(scope, receive, sending)


def _page(name: str):
    async def page() -> FileResponse:
        return FileResponse(HERE / "pages" / name, media_type="text/html", headers=HEADERS)
    return page
