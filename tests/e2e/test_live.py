"""End to end: a served dashboard shows the Live and Model health pages in a real browser, filled and empty."""
import pytest

from benchmarks.ui import wait_until_idle

pytestmark = pytest.mark.e2e
TITLES = {"/live": "Live", "/health": "Model health"}


def _open(browser, url: str, text: str):
    """Open a page by its URL (a deep link works as any request, even a fresh server's first) and wait until its
    run is over: the page streams, so reading it earlier can miss what comes last."""
    page = browser.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(text).first.wait_for(timeout=120_000)
    wait_until_idle(page, TITLES["/" + url.rsplit("/", 1)[-1]], timeout_ms=240_000)
    return page


def test_live_page_shows_the_reconciled_ledger(browser, replayed_dashboard):
    page = _open(browser, replayed_dashboard + "/live", "Signal agreement")
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    body = page.inner_text("body")
    assert "100.0%" in body and "Reconciliation" in body and "Last decisions" in body
    assert "Traceback" not in body and "This is a bug" not in body
    page.close()


def test_health_page_shows_status_drift_and_latency(browser, replayed_dashboard):
    page = _open(browser, replayed_dashboard + "/health", "Input drift")
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    body = page.inner_text("body")
    assert any(s in body for s in ("GREEN", "AMBER", "RED")) and "Decision p95" in body and "Alert history" in body
    assert "Traceback" not in body and "This is a bug" not in body
    page.close()


@pytest.mark.parametrize("path", ["/live", "/health"])
def test_an_empty_ledger_offers_the_demo_replay(browser, dashboard_url, path):
    page = _open(browser, dashboard_url + path, "Run the demo replay")
    body = page.inner_text("body")
    assert "hrm live --replay 2014-01-01 2014-06-30 --symbol ^GSPC --interval 1d" in body
    assert "Traceback" not in body
    page.close()
