"""End to end: every page's URL works as the very first request of a freshly started server (a bookmark, a
shared link, a tab reconnecting after a restart): the page renders with the shared sidebar, no error."""
import pytest

from benchmarks.ui import offline_settings, serve, wait_until_idle
from tests.e2e.conftest import assert_no_error

pytestmark = pytest.mark.e2e

# URL path -> page title (views/NAME.py is served at /NAME; the default page at /)
DEEP_LINKS = {
    "/": "Signals",
    "/signals?symbol=%5EIXIC&interval=1wk": "Signals",
    "/explain?at=2017-06-01&symbol=%5EGSPC&interval=1d&model=hrm-default": "Explain",
    "/diagnostics?at=2017-03-15": "Diagnostics",
    "/performance": "Performance",
    "/live": "Live",
    "/health": "Model health",
    "/train": "Train",
}


@pytest.mark.parametrize("path", list(DEEP_LINKS))
def test_a_deep_link_as_the_first_request_of_a_fresh_server(browser, tmp_path, path):
    with serve(offline_settings(tmp_path)) as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url + path, wait_until="domcontentloaded")
        wait_until_idle(page, DEEP_LINKS[path], timeout_ms=240_000)
        sidebar = page.locator('[data-testid="stSidebar"]')
        # a link that seeds the sidebar writes the full decision back to the URL, which can start one more run
        sidebar.get_by_text("Timeframe").first.wait_for(timeout=60_000)
        assert sidebar.get_by_text("Instruments").count() >= 1 and sidebar.get_by_text("Timeframe").count() == 1
        assert_no_error(page)
        if "symbol=%5EIXIC" in path:
            page.get_by_text("1wk bars").first.wait_for(timeout=60_000)
            assert "^IXIC" in sidebar.inner_text()
        page.close()
