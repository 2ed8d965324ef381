"""A real Streamlit server on a free loopback port, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.server import streamlit_server

CHROMIUM = os.environ.get("RLDOJO_CHROMIUM", "/usr/bin/chromium")
# The flags keep a headless Chromium off the network: this machine has none to give it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    with streamlit_server(tmp_path_factory.mktemp("data"), log, RLDOJO_MAX_RUNS="1") as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect

    # The first page of a fresh server imports torch; on a busy 2-core machine that exceeds expect's 5 s.
    expect.set_options(timeout=30_000)
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: `make test` installs Debian's chromium when it may")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
