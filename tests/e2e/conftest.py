"""A simulated store served on loopback, and a headless Chromium to look at it with."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine

from tests.conftest import IN_CI
from trustflow.accounts import service as accounts_service
from trustflow.accounts.models import Role
from trustflow.api.app import create_app
from trustflow.db import session_factory, transaction
from trustflow.simulate import SimulationRun, config_for, run_simulation

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        if IN_CI:
            pytest.fail("CI=true but Chromium is missing: browser tests must run")
        pytest.skip("Chromium not installed")


@contextmanager
def serve(engine: Engine) -> Iterator[str]:
    """The app on a free loopback port, in a thread, until the block ends."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def operator_key(engine: Engine) -> str:
    with transaction(session_factory(engine)) as s:
        return accounts_service.create_api_key(s, role=Role.OPERATOR, subject_id=None)[1]


def open_page(browser: Any, url: str, *, lang: str, width: int = 1280, height: int = 1800) -> Any:
    """A new page in ``lang`` (the pages keep the choice in local storage) at ``url``."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.add_init_script(f"localStorage.setItem('trustflow-lang', '{lang}')")
    page.goto(url)
    return page


def sign_in(page: Any, key: str, ready: str) -> None:
    page.fill("#key", key)
    page.click("#login button[type=submit]")
    page.wait_for_selector(ready, timeout=15_000)


@pytest.fixture(scope="session")
def run(tmp_path_factory: pytest.TempPathFactory) -> SimulationRun:
    require_chromium()
    return run_simulation(
        replace(config_for("small", seed=5, days=3), shops=12, creators=30, buyers=800),
        tmp_path_factory.mktemp("e2e"),
    )


@pytest.fixture(scope="session")
def served(run: SimulationRun) -> Iterator[tuple[str, str]]:
    key = operator_key(run.engine)
    with serve(run.engine) as url:
        yield url, key


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, for one module's tests. Playwright's synchronous API keeps an asyncio loop
    running on this thread while it is open, so it is closed with the module: a session-long
    browser would leave every later test inside a running loop (``asyncio.run`` refuses)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()
