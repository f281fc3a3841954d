"""The API reference (``/docs``) in headless Chromium against ``leoflow lite``: Scalar, served by
Leoflow itself, renders Leoflow's own OpenAPI document, and the page never reaches another
origin, neither while loading nor while a person browses it and sends a test request.

Any console message of level error fails the test: a request the page's
Content-Security-Policy blocks (a CDN font, a style without the nonce) is reported there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from ui.browsing import SETTLE_MS, shot
from ui.conftest import UiServer

pytestmark = pytest.mark.ui


class PageLog:
    """Every request the page made and every error it reported."""

    def __init__(self, page: Any) -> None:
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text} @ {message.location}")

    def foreign(self, origin: str) -> list[str]:
        """Requests that went anywhere but ``origin`` (``scheme://host:port``)."""
        ours = urlparse(origin)
        return [
            url
            for url in self.requests
            if (urlparse(url).scheme, urlparse(url).netloc) != (ours.scheme, ours.netloc)
        ]


@pytest.fixture(scope="module")
def docs_page(browser: Any, ui_server: UiServer) -> Iterator[tuple[Any, PageLog]]:
    """A fresh browser tab (no login: ``/docs`` is open by default) on ``/docs``."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(20_000)
    log = PageLog(page)
    try:
        response = page.goto(f"{ui_server.url}/docs")
        assert response is not None and response.status == 200
        yield page, log
    finally:
        context.close()


def test_scalar_renders_leoflows_openapi_from_our_origin_only(
    docs_page: tuple[Any, PageLog], ui_server: UiServer, artifacts: Path
) -> None:
    page, log = docs_page
    page.get_by_role("heading", name="Leoflow API", exact=True).wait_for()
    page.get_by_text("Airflow 3 compatible REST API served by Leoflow.").wait_for()
    page.get_by_role("heading", name="Get Health").first.wait_for()  # the first tag is open
    page.get_by_text("DAG", exact=True).first.click()  # a tag of the sidebar
    page.get_by_text("Get Dags", exact=True).first.wait_for()
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "40-api-docs")
    paths = {urlparse(url).path for url in log.requests}
    assert {"/docs", "/docs/scalar/standalone.js", "/openapi.json"} <= paths
    assert log.foreign(ui_server.url) == []
    assert log.errors == []


def test_search_and_a_test_request_stay_on_our_origin(
    docs_page: tuple[Any, PageLog], ui_server: UiServer, artifacts: Path
) -> None:
    page, log = docs_page
    page.keyboard.press("Control+k")
    page.keyboard.type("Get Dag Details")
    page.get_by_role("dialog").get_by_text("Get Dag Details").first.wait_for()
    shot(page, artifacts, "41-api-docs-search")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Test Request").first.click()  # Get Health's
    with page.expect_response(lambda r: r.url.endswith("/api/v2/monitor/health")) as answer:
        page.get_by_role("button", name="Send").first.click()
    assert answer.value.status == 200
    page.get_by_text("200 OK").first.wait_for()
    page.get_by_text('"metadatabase"').first.wait_for()  # the answer, rendered
    page.wait_for_timeout(SETTLE_MS)
    shot(page, artifacts, "42-api-docs-test-request")
    assert log.foreign(ui_server.url) == []
    assert log.errors == []
