"""The web console's files: served at / and /console/, shipped in the package, behind Basic auth when it is on."""

from __future__ import annotations

import base64
import re
import tomllib
from collections.abc import Iterator

import pytest

from tests.server.harness import REPO, ServerProcess

CONSOLE = REPO / "server" / "console"


def test_the_console_page_and_its_assets_are_served(client) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="(/console/[^"]+)"', page.text)
    assert sorted(assets) == ["/console/app.css", "/console/app.js"]
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert response.content == (CONSOLE / asset.removeprefix("/console/")).read_bytes()
        assert response.headers["cache-control"] == "no-cache"  # an upgraded server's console is seen at once
    assert client.get("/console/app.js").headers["content-type"].startswith(("text/javascript",
                                                                              "application/javascript"))
    assert client.get("/console/missing.js").status_code == 404


def test_nothing_is_loaded_from_elsewhere() -> None:
    for path in CONSOLE.iterdir():
        assert not re.search(r"(src|href)=\"(https?:)?//|@import\s+url|https?://[^\"' ]+\.(js|css)\b",
                             path.read_text()), path


def test_the_console_files_are_package_data() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["server"]
    shipped = {p for pattern in patterns for p in (REPO / "server").glob(pattern) if p.is_file()}
    assert {p for p in CONSOLE.iterdir() if p.is_file()} <= shipped


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("console-auth") / "data", {
        "ksql.log.fsync": "never", "authentication.method": "BASIC",
        "authentication.basic.users": "alice:wonderland"}).start()
    try:
        yield process
    finally:
        process.kill()


@pytest.mark.parametrize("path", ["/", "/console/app.js", "/console/app.css", "/topics/x/records"])
def test_with_basic_auth_the_console_needs_credentials(secured: ServerProcess, path: str) -> None:
    with secured.client() as client:
        refused = client.get(path)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic")
        wrong = client.get(path, auth=("alice", "looking-glass"))
        assert wrong.status_code == 401
        token = base64.b64encode(b"alice:wonderland").decode()
        allowed = client.get(path, headers={"Authorization": f"Basic {token}"})
        assert allowed.status_code == (404 if path.startswith("/topics") else 200)

