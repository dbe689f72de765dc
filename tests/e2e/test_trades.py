"""End to end: the trade list on Signals; clicking a trade shows it on candles with the link to its decision."""
import re

import pytest

from benchmarks.ui import wait_until_idle

pytestmark = pytest.mark.e2e


def test_clicking_a_trade_shows_its_chart_and_opens_the_entry_decision(browser, dashboard_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(dashboard_url, wait_until="domcontentloaded")
    wait_until_idle(page, "Signals", timeout_ms=240_000)
    page.locator('[data-testid="stRadio"] label', has_text="Trades").first.click()
    page.get_by_text("Click a row to see the trade").first.wait_for(timeout=240_000)
    grid = page.locator('[data-testid="stDataFrame"]').filter(has=page.locator("canvas")).last
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    page.mouse.click(box["x"] + 12, box["y"] + 35 + 17)  # the selection cell of the first row (newest trade)
    button = page.get_by_role("button", name=re.compile(r"Explain the entry decision \(\d{4}-\d{2}-\d{2}\)"))
    button.wait_for(timeout=120_000)
    wait_until_idle(page, "Signals")
    titles = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].map(g => "
                           "(g.layout && g.layout.title && (g.layout.title.text || g.layout.title)) || '')")
    assert any(re.search(r"\^GSPC 1d: (long|short) \d\.\d\d from \d{4}-\d{2}-\d{2}", t) for t in titles), titles
    day = re.search(r"\((\d{4}-\d{2}-\d{2})\)", button.inner_text())[1]
    button.click()
    page.wait_for_url(re.compile(rf".*/explain\?.*at={day}.*"), timeout=60_000)
    page.get_by_text(f"decision at the close of {day}").first.wait_for(timeout=240_000)
    page.close()
