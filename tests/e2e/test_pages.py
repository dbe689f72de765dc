"""End to end: every page through the sidebar navigation, the shared sidebar's choices, a screenshot of each page."""
import re

import pytest

from benchmarks.ui import ROOT, offline_settings, wait_for_chart, wait_until_idle
from tests.e2e.conftest import assert_no_error
from ui.charts import MARKERS, position_changes, window_start

pytestmark = pytest.mark.e2e

# page title -> a text that only shows when the page has its real content (not a message about missing data)
PAGES = {
    "Signals": "Recent decisions",
    "Explain": "What would change the decision",
    "Diagnostics": "All models",
    "Performance": "Regimes",
    "Live": "Signal agreement",
    "Model health": "Input drift",
    "Train": "Models in models/",
}
GUIDED = {"Diagnostics", "Performance", "Live", "Model health", "Train"}


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _goto_page(page, title: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
    wait_until_idle(page, title, timeout_ms=240_000)


def _expected_markers(symbol: str, interval: str, model: str, *, start: str, tmp_path) -> list[str]:
    """Dates the Signals chart must mark by default (its 1-year range): the position changes of `model`'s own
    signal table over the sidebar's range, computed here without the dashboard."""
    from hrm_core.data.market import load_bars
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.settings import load_settings
    from hrm_core.trading.signals import action_changes, generate_signals

    settings = load_settings(offline_settings(tmp_path))
    full = load_bars(symbol, interval, settings=settings).bars
    bars = full.loc[start:]
    loaded = load_checkpoint(ROOT / "models" / model)
    table = generate_signals(loaded, full, symbol=symbol, interval=interval).table
    changes = position_changes(table.loc[bars.index[0]:], action_changes(table).loc[bars.index[0]:])
    first = window_start(bars.index, "1 year", loaded.periods)
    return sorted(t.strftime("%Y-%m-%d") for t in changes.loc[first:].index)


def test_every_page_shows_real_content_with_the_shared_sidebar(browser, replayed_dashboard, screenshots):
    page = browser.new_page(viewport={"width": 1400, "height": 1800})  # Streamlit scrolls inside: a tall window
    page.goto(replayed_dashboard, wait_until="domcontentloaded")
    wait_for_chart(page)
    for title, content in PAGES.items():
        _goto_page(page, title)
        page.get_by_text(content).first.wait_for(timeout=240_000)
        if title != "Train":
            wait_for_chart(page)
        assert page.locator('[data-testid="stSidebar"]').get_by_text("Instruments").count() >= 1, title
        if title in GUIDED:
            assert page.locator('[data-testid="stExpander"]').get_by_text("How to read this page").count() == 1, title
        assert_no_error(page)
        page.screenshot(path=str(screenshots / f"{_slug(title)}.png"), full_page=True)
    page.close()


def _choose(page, label: str, option: str) -> None:
    """Pick `option` in the sidebar selectbox or multiselect labelled `label`."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    widget = sidebar.locator('[data-testid="stSelectbox"], [data-testid="stMultiSelect"]').filter(has_text=label)
    widget.first.locator("input").first.click()
    page.get_by_role("option", name=option, exact=False).first.click()
    page.keyboard.press("Escape")


def test_the_sidebar_choices_change_the_chart_and_keep_working(browser, dashboard_url, screenshots, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(dashboard_url, wait_until="domcontentloaded")
    wait_for_chart(page)
    wait_until_idle(page, "Signals")
    assert "5,031 1d bars" in page.inner_text("body")  # ^GSPC daily, the bundled sample

    _choose(page, "Timeframe", "1wk")
    page.get_by_text("1,044 1wk bars").first.wait_for(timeout=120_000)  # the same sample resampled to weeks
    wait_until_idle(page, "Signals")
    assert_no_error(page)

    page.get_by_role("spinbutton", name="year, From").click()  # Streamlit's date field: typed segment by segment
    page.keyboard.type("20100101")
    page.keyboard.press("Escape")
    page.locator("h1").first.click()  # the date is committed when the field loses focus
    page.get_by_text(re.compile(r"bars, 2010-01-0\d to ")).first.wait_for(timeout=120_000)
    wait_until_idle(page, "Signals")
    assert_no_error(page)

    _choose(page, "Instruments", "^IXIC")  # added to the picked instruments; the first one is charted
    wait_until_idle(page, "Signals")
    box = page.get_by_placeholder("e.g. AAPL, EURUSD=X")
    box.fill("^ixic")  # a ticker typed in is charted first
    box.press("Enter")
    page.locator(".gtitle", has_text="^IXIC - 1wk").first.wait_for(timeout=120_000)
    wait_until_idle(page, "Signals")
    assert_no_error(page)

    _choose(page, "Model", "hrm-n1t1")
    page.get_by_text(re.compile(r"Model hrm-n1t1")).first.wait_for(timeout=240_000)  # the rerun has started
    wait_until_idle(page, "Signals", timeout_ms=240_000)
    assert_no_error(page)
    traces = page.evaluate("() => document.querySelector('.js-plotly-plot').data.map(t => [t.name, t.x])")
    assert "price" in [name for name, _ in traces]
    marker_names = {style["name"] for style in MARKERS.values()}
    shown = sorted(str(x)[:10] for name, xs in traces if name in marker_names for x in xs)
    assert shown == _expected_markers("^IXIC", "1wk", "hrm-n1t1", start="2010-01-01", tmp_path=tmp_path)
    assert "interval=1wk" in page.url and "model=hrm-n1t1" in page.url  # the view is shareable
    page.screenshot(path=str(screenshots / "signals-sidebar-choices.png"), full_page=True)
    page.close()
