"""The app in a real browser: Debian's Chromium driven by Playwright, the app served by
uvicorn on a free loopback port. Outside CI a missing Chromium skips with a message; in
CI (CI=true) it fails, since .ci/run installs it."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from nmmstrial.web import create_app

from .conftest import PASSWORD, today

CHROMIUM = os.environ.get("NMMSTRIAL_TEST_CHROMIUM") or "/usr/bin/chromium"
ARTEFACTS = Path(
    os.environ.get("NMMSTRIAL_TEST_ARTEFACTS", Path(__file__).parents[2] / "test-artefacts")
)


def _unavailable(reason: str):
    message = f"{reason}; install it with `apt-get install chromium` (make test does)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser tests: {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ModuleNotFoundError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).is_file():
        _unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        # Playwright cannot download its own browsers here: Debian's package is used.
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(study_db):
    """The app served by uvicorn in a thread; its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        create_app(str(study_db)), host="127.0.0.1", port=port, log_level="warning"
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)


def log_in(page, base: str, user: str) -> None:
    """By keyboard only, as at a ward computer."""
    page.goto(f"{base}/login")
    page.focus("#user")
    page.keyboard.type(user)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    submit(page)
    assert page.url == f"{base}/"


def submit(page) -> None:
    """Enter in a field submits its form; wait for the answer page."""
    with page.expect_navigation():
        page.keyboard.press("Enter")


T0_KEYS = (
    # MRC, eight muscles, left then right (row by row); one grade out of range.
    ["4", "5", "4", "5", "4", "5", "4", "5", "7", "5", "4", "5", "4", "5", "4", "5"]
    # Handgrip, three trials, left then right.
    + ["20", "18", "22", "18.5", "24", "19"]
    # ALSFRS-R, twelve items.
    + ["3"] * 12
    # FVC (CMAP is the electrophysiologist's: disabled, skipped by Tab).
    + ["88"]
)


def test_assessor_enters_a_visit_by_keyboard_and_the_monitor_sees_it(browser, server):
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    log_in(page, server, "assessor")
    assert "P01" in page.content()
    page.screenshot(path=str(ARTEFACTS / "dashboard.png"), full_page=True)

    page.goto(f"{server}/patients/P01/visits/T0")
    page.focus("#visit_date")
    page.keyboard.press("Control+A")
    page.keyboard.type(today())
    for keys in T0_KEYS:
        page.keyboard.press("Tab")
        page.keyboard.type(keys)
    submit(page)

    # The out-of-range grade is refused at its field, naming the range; the rest is kept.
    error = page.locator("#v\\.mrc_fcr\\.left\\.error")
    assert "0-5" in error.inner_text()
    assert page.input_value("#v\\.mrc_fcr\\.left") == "7"
    assert page.input_value("#v\\.alsfrs_r_q12") == "3"
    assert page.input_value("#v\\.dynamometer_kg_trial2\\.right") == "18.5"
    page.screenshot(path=str(ARTEFACTS / "visit-form-error.png"), full_page=True)

    page.focus("#v\\.mrc_fcr\\.left")
    page.keyboard.press("Control+A")
    page.keyboard.type("4")
    submit(page)
    assert "Saved: 40 values written" in page.content()
    assert page.locator("#v\\.mrc_sum\\.left").inner_text() == "32"
    assert page.locator("#v\\.dynamometer_kg\\.left").inner_text() == "22"
    assert page.locator("#v\\.alsfrs_r").inner_text() == "36"
    page.screenshot(path=str(ARTEFACTS / "visit-form.png"), full_page=True)

    # Changing a saved value: a reason is asked for, then it is saved.
    page.focus("#v\\.fvc_pct")
    page.keyboard.press("Control+A")
    page.keyboard.type("90")
    submit(page)
    assert "needs a reason" in page.locator("#reason\\.error").inner_text()
    page.focus("#reason")
    page.keyboard.type("misread the spirometer")
    submit(page)
    assert "Saved: 1 value written" in page.content()
    assert page.input_value("#v\\.fvc_pct") == "90"
    context.close()

    physician = browser.new_context().new_page()
    log_in(physician, server, "unblinded_physician")
    physician.goto(f"{server}/patients/P01/reveal")
    with physician.expect_navigation():
        physician.get_by_role("button", name="Reveal the side to stimulate").click()
    real = physician.locator("#real-side").inner_text()
    assert real in ("left", "right")
    assert physician.locator("#sham-side").inner_text() == {"left": "right", "right": "left"}[real]
    physician.context.close()

    monitor = browser.new_context().new_page()
    log_in(monitor, server, "monitor")
    monitor.goto(f"{server}/audit?patient=P01")
    text = monitor.content()
    assert "misread the spirometer" in text and "88.0" in text and "90.0" in text
    assert "reveal" in text and f">{real}<" not in text  # the reveal, its side masked
    monitor.screenshot(path=str(ARTEFACTS / "audit.png"), full_page=True)
    monitor.context.close()
