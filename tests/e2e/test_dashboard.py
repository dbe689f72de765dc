"""End to end: a real browser opens the served dashboard and sees data, the offline badge, no traceback."""
import pytest

from benchmarks.ui import wait_until_idle

pytestmark = pytest.mark.e2e


def test_signals_page_shows_sample_chart_and_offline_badge(browser, dashboard_url):
    page = browser.new_page()
    page.goto(dashboard_url, wait_until="domcontentloaded")
    page.get_by_text("offline sample").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    wait_until_idle(page, "Signals")
    body = page.inner_text("body")
    assert "Signals" in body
    assert "Traceback" not in body
    page.close()


def test_performance_page_shows_the_test_period_metrics(browser, dashboard_url):
    page = browser.new_page()
    page.goto(dashboard_url + "/performance", wait_until="domcontentloaded")
    page.get_by_text("test period of hrm-default").first.wait_for(timeout=120_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=120_000)
    wait_until_idle(page, "Performance", timeout_ms=240_000)
    body = page.inner_text("body")
    assert "Metrics" in body and "Regimes" in body
    assert "Traceback" not in body and "This is a bug" not in body
    page.close()


def test_an_unknown_ticker_gives_a_clear_message_not_a_traceback(browser, dashboard_url):
    page = browser.new_page()
    page.goto(dashboard_url, wait_until="domcontentloaded")
    page.get_by_text("offline sample").first.wait_for(timeout=60_000)
    box = page.get_by_placeholder("e.g. AAPL, EURUSD=X")
    box.fill("nope123")
    box.press("Enter")
    page.get_by_text("unknown symbol 'NOPE123'").first.wait_for(timeout=60_000)
    wait_until_idle(page, "Signals")
    body = page.inner_text("body")
    assert "Available offline: ^GSPC" in body and "Traceback" not in body
    page.close()
