"""End to end: a real browser opens the Diagnostics page and sees its summary strip and charts, no error."""
import pytest

from benchmarks.ui import wait_until_idle

pytestmark = pytest.mark.e2e


def test_diagnostics_page_renders_its_charts_without_errors(browser, dashboard_url):
    page = browser.new_page(viewport={"width": 1400, "height": 2000})
    page.goto(dashboard_url + "/diagnostics?at=2017-03-15", wait_until="domcontentloaded")
    page.get_by_text("All models").first.wait_for(timeout=180_000)
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=180_000)  # the linked decision: residuals, trajectory
    wait_until_idle(page, "Diagnostics", timeout_ms=240_000)
    body = page.inner_text("body")
    assert "Convergence rate" in body and "PR_H" in body and "claimed, unverified" in body
    assert "Decision at 2017-03-15" in body
    page.locator('[data-testid="stRadio"] label', has_text="Depth").first.click()
    page.locator(".js-plotly-plot").nth(1).wait_for(timeout=120_000)  # depth histogram, depth vs volatility
    page.get_by_text("Same action as full depth").first.wait_for(timeout=120_000)
    wait_until_idle(page, "Diagnostics", timeout_ms=240_000)
    body = page.inner_text("body")
    assert "Traceback" not in body and "This is a bug" not in body and "Could not" not in body
    page.close()
