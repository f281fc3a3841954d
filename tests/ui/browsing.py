"""What every browser test does: log in through the form, watch the page for errors, visit,
wait for an API answer, save a screenshot.

A :class:`Watcher` fails the test on any console error, uncaught page error, or non-2xx
answer to an ``/api``, ``/ui`` or ``/ide/api`` request, because the Airflow web app shows a
wrong answer as a blank widget rather than as an error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ADMIN = "admin"
PASSWORD = "leoflow-ui-test-password"
SETTLE_MS = 1500
API_PREFIXES = ("/api/", "/ui/", "/ide/api/")

KNOWN_UPSTREAM_FAULTS = ("/static/wasm/sqlparser_rs_wasm.js",)
"""Requests the pinned web app makes for files its own release does not ship (Airflow's
wheel has the SQL parser's ``.wasm`` but not its JavaScript loader; real Airflow answers
404 as well, and the page only loses SQL highlighting in rendered templates)."""


@dataclass
class Watcher:
    """Collects what a page did wrong while it was watched."""

    base: str
    problems: list[str] = field(default_factory=list)
    api_calls: list[str] = field(default_factory=list)
    armed: bool = False
    expected: set[tuple[int, str]] = field(default_factory=set)
    """``(status, path)`` answers a test provokes on purpose (a refused save, say)."""

    def attach(self, page: Any) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self._add(f"page error: {error}"))
        page.on("response", self._response)
        page.on("requestfailed", self._failed)

    def _add(self, problem: str) -> None:
        if self.armed:
            self.problems.append(problem)

    def _console(self, message: Any) -> None:
        source = str((message.location or {}).get("url", ""))
        if source.endswith(KNOWN_UPSTREAM_FAULTS):
            return
        if message.type == "error":
            if any(str(status) in message.text for status, _ in self.expected):
                return  # the browser's own note about an answer the test provoked
            self._add(f"console error: {message.text} @ {message.location}")

    def _is_api(self, url: str) -> bool:
        return urlparse(url).path.startswith(API_PREFIXES)

    def _response(self, response: Any) -> None:
        if not self._is_api(response.url):
            return
        path = urlparse(response.url).path
        self.api_calls.append(f"{response.request.method} {path}")
        if (response.status, path) in self.expected:
            return
        if not 200 <= response.status < 300 and response.status != 304:
            self._add(f"{response.status} {response.request.method} {response.url}")

    def _failed(self, request: Any) -> None:
        if self._is_api(request.url) and request.failure != "net::ERR_ABORTED":
            self._add(f"request failed: {request.method} {request.url} ({request.failure})")


def login(page: Any, watcher: Watcher, url: str, artifacts: Path | None = None) -> None:
    """Log in through the real form, as a person does after opening a bookmark."""
    page.goto(f"{url}/dags")
    page.wait_for_url(re.compile(r"/auth/login\?next="))
    page.locator("input[name=username]").wait_for()
    if artifacts is not None:
        shot(page, artifacts, "01-login")
    page.fill("input[name=username]", ADMIN)
    page.fill("input[name=password]", PASSWORD)
    watcher.armed = True  # the 401 that sent the browser to the login page was expected
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{url}/dags")


def shot(page: Any, artifacts: Path, name: str) -> None:
    """Save what the page shows now as ``<name>.png``."""
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=False)


def visit(page: Any, url: str, text: str | re.Pattern[str]) -> None:
    """Open ``url`` and wait until ``text`` shows and the page has settled."""
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.get_by_text(text).first.wait_for(state="visible")
    page.wait_for_timeout(SETTLE_MS)


def check(watcher: Watcher, where: str) -> None:
    """Fail with everything the watcher saw go wrong since the last check."""
    problems, watcher.problems = watcher.problems, []
    assert not problems, f"{where}:\n" + "\n".join(problems)


def api_answer(
    page: Any, method: str, fragment: str | re.Pattern[str], action: Callable[[], Any]
) -> Any:
    """Do ``action`` and return the answer to the API request it causes: the first ``method``
    request whose URL contains ``fragment`` (or, for a pattern, whose path matches it)."""

    def wanted(response: Any) -> bool:
        if response.request.method != method:
            return False
        if isinstance(fragment, str):
            return fragment in response.url
        return fragment.fullmatch(urlparse(response.url).path) is not None

    with page.expect_response(wanted, timeout=20_000) as answer:
        action()
    return answer.value


def api_get(page: Any, url: str) -> Any:
    """``GET url`` with the page's login (its ``_token`` cookie), as JSON."""
    response = page.request.get(url)
    assert response.ok, f"GET {url}: {response.status} {response.text()}"
    return response.json()


def wait_for(
    probe: Callable[[], Any], what: str, *, timeout: float = 60.0, every: float = 0.25
) -> Any:
    """Call ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {last!r})")
