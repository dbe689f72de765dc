"""End to end: click a decision marker on the Signals chart, land on Explain, read the summary, download the report."""
import re

import pytest

from benchmarks.ui import wait_until_idle

pytestmark = pytest.mark.e2e

# The decision marker farthest from any other (so a click cannot hit a neighbour), in page pixels, and its date.
_MARKER_JS = """() => {
  const names = ['buy (to long)', 'sell (to short)', 'to flat'];
  const gd = [...document.querySelectorAll('.js-plotly-plot')].find(g => (g.data || []).some(t => names.includes(t.name)));
  if (!gd || !gd.calcdata) return null;
  gd.scrollIntoView({block: 'center'});  // today's cards sit above the chart: bring it into the viewport
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.querySelector('.main-svg').getBoundingClientRect();
  const pts = [];
  gd.data.forEach((t, i) => { if (names.includes(t.name)) gd.calcdata[i].forEach(p => pts.push({
    x: box.left + xa._offset + xa.c2p(p.x), y: box.top + ya._offset + ya.c2p(p.y),
    date: new Date(p.x).toISOString().slice(0, 10)})); });
  let best = null, bestGap = -1;
  for (const p of pts) {
    const gap = Math.min(...pts.filter(q => q !== p).map(q => Math.hypot(p.x - q.x, p.y - q.y)));
    if (gap > bestGap) { best = p; bestGap = gap; }
  }
  return best;
}"""


def _click_a_marker_and_read_the_explanation(page) -> tuple[dict, str]:
    """On Signals: click the most isolated decision marker; on Explain: the header caption (symbol, time, model)."""
    page.get_by_text("Click a marker").first.wait_for(timeout=240_000)
    wait_until_idle(page, "Signals", timeout_ms=240_000)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(g => g.calcdata)",
                           timeout=60_000)
    marker = page.evaluate(_MARKER_JS)
    assert marker is not None, "no decision marker drawn on the Signals chart"
    page.mouse.move(marker["x"], marker["y"])
    page.mouse.click(marker["x"], marker["y"])
    page.wait_for_url(re.compile(r".*/explain\?.*"), timeout=60_000)
    page.get_by_text("decision at the close of").first.wait_for(timeout=240_000)
    wait_until_idle(page, "Explain", timeout_ms=240_000)
    header = page.get_by_text("decision at the close of").first.inner_text()
    return marker, header


def test_a_shared_link_opens_the_same_decision(browser, dashboard_url):
    page = browser.new_page()
    page.goto(dashboard_url + "/explain?at=2017-06-01&symbol=%5EGSPC&interval=1d&model=hrm-default",
              wait_until="domcontentloaded")
    page.get_by_text("decision at the close of").first.wait_for(timeout=120_000)
    wait_until_idle(page, "Explain")
    assert "at=2017-06-01" in page.url
    picker = page.locator('[data-testid="stDateInput"]').filter(has_text="Decision at")
    picker.first.wait_for(timeout=60_000)
    assert picker.first.locator("input[type=date]").input_value() == "2017-06-01"  # the linked date is picked
    page.close()


def test_clicking_a_marker_on_signals_opens_its_explanation_and_the_report_downloads(browser, dashboard_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(dashboard_url, wait_until="domcontentloaded")
    marker, _ = _click_a_marker_and_read_the_explanation(page)
    assert f"at={marker['date']}" in page.url
    body = page.inner_text("body")
    assert "Strategic (H) vs tactical (L)" in body and "Which inputs, at which bars" in body
    assert "Traceback" not in body and "This is a bug" not in body
    with page.expect_download(timeout=120_000) as info:
        page.get_by_text("Download the report").first.click()
    path = tmp_path / "report.html"
    info.value.save_as(path)
    text = path.read_text()
    assert "<section id='summary'>" in text and "http://" not in text and "https://" not in text
    page.close()


@pytest.mark.parametrize("query, symbol, model", [("symbol=%5EIXIC&interval=1d&model=hrm-default", "^IXIC", "hrm-default"),
                                                  ("symbol=%5EGSPC&interval=1d&model=hrm-noact", "^GSPC", "hrm-noact")])
def test_a_marker_of_another_instrument_or_model_explains_that_decision(browser, dashboard_url, query, symbol, model):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{dashboard_url}/?{query}", wait_until="domcontentloaded")
    marker, header = _click_a_marker_and_read_the_explanation(page)
    assert header.startswith(f"{symbol} 1d, decision at the close of {marker['date']}"), header
    assert f"model {model}@" in header, header
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert symbol in sidebar.inner_text()  # the sidebar kept the selection
    page.close()


def test_a_marker_of_an_uploaded_file_explains_the_files_decision(browser, dashboard_url, tmp_path):
    from hrm_core.data.market import load_bars
    from tests.e2e.test_upload import _upload

    path = tmp_path / "my_export.csv"
    load_bars("^IXIC", "1d", "2016-01-01", "2018-12-31").bars.reset_index().rename(
        columns={"time": "Date"}).to_csv(path, index=False)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(dashboard_url, wait_until="domcontentloaded")
    wait_until_idle(page, "Signals", timeout_ms=240_000)
    _upload(page, path, name="MYIDX")
    page.get_by_text("file: my_export.csv").first.wait_for(timeout=120_000)  # the chart is the file's
    marker, header = _click_a_marker_and_read_the_explanation(page)
    assert header.startswith(f"MYIDX 1d, decision at the close of {marker['date']}"), header
    assert "file=" in page.url  # the file travels in the link
    page.close()


_OVERLAPS_JS = """() => {
  const out = [];
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const boxes = [...gd.querySelectorAll('.g-gtitle text, .annotation-text')].map(e => e.getBoundingClientRect())
      .filter(r => r.width > 0);
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const a = boxes[i], b = boxes[j];
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) out.push([i, j]);
    }
  }
  return out;
}"""


def test_explain_chart_titles_do_not_overlap_on_a_phone(browser, dashboard_url):
    page = browser.new_page(viewport={"width": 390, "height": 900})
    page.goto(dashboard_url + "/explain?at=2017-06-01&symbol=%5EGSPC&interval=1d&model=hrm-default",
              wait_until="domcontentloaded")
    page.get_by_text("decision at the close of").first.wait_for(timeout=240_000)
    wait_until_idle(page, "Explain", timeout_ms=240_000)
    page.locator(".js-plotly-plot .main-svg").nth(2).wait_for(timeout=120_000)
    assert page.evaluate(_OVERLAPS_JS) == []
    page.close()
