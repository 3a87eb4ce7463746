"""The web console: static pages shipped in the package (server/console/), served at / and /console/.

The console is plain HTML, CSS and JavaScript that talk to this server's own REST
API; there is no build step and nothing is fetched from elsewhere. Authentication,
when configured, covers these files like every other path.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

CONSOLE_DIR = Path(__file__).with_name("console")
CONSOLE_PATH = "/console"
NO_CACHE = {"Cache-Control": "no-cache"}  # revalidate (ETag) so an upgraded server's console is seen at once


class ConsoleFiles(StaticFiles):
    """The console's assets, revalidated on every load."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(NO_CACHE)
        return response


def mount_console(app: FastAPI) -> None:
    """GET / answers the console's page; its scripts and styles are under /console/."""

    @app.get("/", include_in_schema=False)
    async def console_page() -> Response:
        return FileResponse(CONSOLE_DIR / "index.html", headers=NO_CACHE)

    @app.get(CONSOLE_PATH, include_in_schema=False)
    async def console_root() -> Response:
        return RedirectResponse("/", status_code=307)

    app.mount(CONSOLE_PATH, ConsoleFiles(directory=CONSOLE_DIR), name="console")
