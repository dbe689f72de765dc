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


def test_a_shared_link_opens_the_same_decision(browser, dashboard_url):
    page = browser.new_page()
    page.goto(dashboard_url + "/explain?at=2017-06-01&symbol=%5EGSPC&interval=1d&model=hrm-default",
              wait_until="domcontentloaded")
    page.get_by_text("Top inputs").first.wait_for(timeout=120_000)
    wait_until_idle(page, "Explain")
    assert "at=2017-06-01" in page.url
    picker = page.locator('[data-testid="stDateInput"]').filter(has_text="Decision at")
    picker.first.wait_for(timeout=60_000)
    assert picker.first.locator("input[type=date]").input_value() == "2017-06-01"  # the linked date is picked
    page.close()


def test_clicking_a_marker_on_signals_opens_its_explanation_and_the_report_downloads(browser, dashboard_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(dashboard_url, wait_until="domcontentloaded")
    page.get_by_text("Click a marker").first.wait_for(timeout=120_000)
    page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(g => g.calcdata)",
                           timeout=60_000)
    marker = page.evaluate(_MARKER_JS)
    assert marker is not None, "no decision marker drawn on the Signals chart"
    page.mouse.move(marker["x"], marker["y"])
    page.mouse.click(marker["x"], marker["y"])
    page.wait_for_url(re.compile(r".*/explain\?.*at=\d{4}-\d{2}-\d{2}.*"), timeout=60_000)
    assert f"at={marker['date']}" in page.url
    page.get_by_text("Top inputs").first.wait_for(timeout=120_000)
    wait_until_idle(page, "Explain", timeout_ms=240_000)  # the page streams: read it once the run is over
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
