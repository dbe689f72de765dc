"""A real dashboard served by `streamlit run` and a real headless Chromium (Debian's, via Playwright).

Screenshots of every page go to $HRM_SCREENSHOTS (else a temporary folder); the suite prints where.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.ui import CHROMIUM, ROOT, launch_browser, offline_settings, serve

# Texts our pages show only when something went wrong (ui.guard.guard) or a traceback leaked.
ERROR_TEXTS = ("Traceback", "This is a bug", "Could not ", "This app has encountered an error", "KeyError")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("HRM_REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; install Debian's chromium package")
        pytest.skip("Chromium not installed (apt-get install chromium); CI sets HRM_REQUIRE_BROWSER=1")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_browser(pw)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def dashboard_url(tmp_path_factory):
    """Serve app.py offline on a free port with a throwaway cache; yield its URL."""
    tmp = tmp_path_factory.mktemp("dash")
    with serve(offline_settings(tmp)) as (url, _):
        yield url


@pytest.fixture(scope="session")
def replayed_settings(tmp_path_factory) -> Path:
    """Settings whose ledger was filled by `hrm live --replay` (two months of 2018) in its own process."""
    tmp = tmp_path_factory.mktemp("live")
    settings = offline_settings(tmp)
    env = {**os.environ, "HRM_OFFLINE": "1", "HRM_SETTINGS": str(settings)}
    subprocess.run([sys.executable, "-c", "import sys; from hrm_cli import main; sys.exit(main())", "live",
                    "--replay", "2018-01-01", "2018-02-28", "--symbol", "^GSPC", "--interval", "1d"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    assert (tmp / "live.db").exists()
    return settings


@pytest.fixture(scope="session")
def replayed_dashboard(replayed_settings):
    """A dashboard over the replayed ledger (the Live and Model health pages have something to show)."""
    with serve(replayed_settings) as (url, _):
        yield url


@pytest.fixture(scope="session")
def screenshots(request, tmp_path_factory) -> Path:
    """The folder screenshots are saved in; printed at the start and at the end of the run."""
    folder = Path(os.environ.get("HRM_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nscreenshots: {folder}", flush=True)
    yield folder
    with capture.global_and_fixture_disabled():
        print(f"\nscreenshots: {folder} ({len(list(folder.glob('*.png')))} files)", flush=True)


def assert_no_error(page) -> None:
    """No exception element, no error text anywhere on the page."""
    assert page.locator('[data-testid="stException"]').count() == 0, "an exception is shown"
    body = page.inner_text("body")
    shown = [t for t in ERROR_TEXTS if t in body]
    assert not shown, f"error text on the page: {shown}"
