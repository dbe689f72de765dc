"""End to end: a user's own CSV uploaded in the sidebar is charted and kept across pages; a broken file gets one
friendly message while the page keeps working; an oversized file is refused with the stated limit."""
import re

import pytest

from benchmarks.ui import wait_for_chart, wait_until_idle
from hrm_core.data.market import load_bars
from tests.e2e.conftest import assert_no_error

pytestmark = pytest.mark.e2e


def _upload(page, path, name: str = "", shows: str = "") -> None:
    """Upload `path` (named `name`) from the sidebar and wait for the run that shows `shows` (default: "Added NAME:")."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    box = sidebar.get_by_text("Your own data (CSV / Parquet)")
    if sidebar.locator('[data-testid="stFileUploader"]').count() == 0 or \
            not sidebar.locator('[data-testid="stFileUploader"]').first.is_visible():
        box.click()
    sidebar.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(path))
    # The chip's button reads "Cancel upload of ..." until the server holds the file, then "Remove ...": clicking
    # Add before that finds no file (a race seen once in CI on a slow machine).
    sidebar.get_by_role("button", name=f"Remove {path.name}").first.wait_for(timeout=60_000)
    wait_until_idle(page, "Signals")
    if name:
        field = sidebar.get_by_placeholder("default: the file name")
        field.fill(name)
        field.press("Enter")
        wait_until_idle(page, "Signals")
    sidebar.get_by_role("button", name="Add to instruments").click()
    # Right after the click the previous run's idle state is still on the page: wait for the new run's words.
    sidebar.get_by_text(shows or f"Added {name}:").first.wait_for(timeout=240_000)
    wait_until_idle(page, "Signals", timeout_ms=240_000)


def test_upload_a_csv_then_a_broken_one(browser, dashboard_url, tmp_path, screenshots):
    good = tmp_path / "my_export.csv"
    bars = load_bars("^IXIC", "1d", "2016-01-01", "2018-12-31").bars
    bars.reset_index().rename(columns={"time": "Date"}).to_csv(good, index=False)
    broken = tmp_path / "broken.csv"
    broken.write_text("when;price\nyesterday;cheap\n")

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(dashboard_url, wait_until="domcontentloaded")
    wait_for_chart(page)
    wait_until_idle(page, "Signals")

    _upload(page, good, name="MYIDX")
    page.get_by_text("Added MYIDX: 754 1d bars").first.wait_for(timeout=120_000)
    page.get_by_text("file: my_export.csv").first.wait_for(timeout=120_000)
    wait_until_idle(page, "Signals", timeout_ms=240_000)
    wait_for_chart(page)
    assert "754 1d bars" in page.inner_text("body")
    assert_no_error(page)
    page.screenshot(path=str(screenshots / "signals-uploaded-file.png"), full_page=True)

    page.locator('[data-testid="stSidebarNav"] a', has_text="Performance").first.click()
    wait_until_idle(page, "Performance", timeout_ms=240_000)
    page.get_by_text("MYIDX 1d").first.wait_for(timeout=120_000)  # the upload is kept across pages
    assert_no_error(page)
    page.locator('[data-testid="stSidebarNav"] a', has_text="Signals").first.click()
    wait_until_idle(page, "Signals")

    _upload(page, broken, shows="broken.csv was not added")
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_by_text("was not added").count() == 1  # one message
    assert page.locator('[data-testid="stException"]').count() == 0
    wait_for_chart(page)  # the page keeps working on the instrument it had
    assert "file: my_export.csv" in page.inner_text("body")
    page.screenshot(path=str(screenshots / "signals-broken-upload.png"), full_page=True)
    page.close()


def test_an_oversized_file_is_refused_in_the_browser_with_the_limit(browser, dashboard_url, tmp_path):
    from ui.uploads import MAX_UPLOAD_MB

    huge = tmp_path / "huge.csv"
    with huge.open("wb") as f:
        f.write(b"time,open,high,low,close\n")
        f.write(b"0" * (MAX_UPLOAD_MB * 1024 * 1024 + 1))
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(dashboard_url, wait_until="domcontentloaded")
    wait_for_chart(page)
    wait_until_idle(page, "Signals")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Your own data (CSV / Parquet)").click()
    sidebar.get_by_text(f"up to {MAX_UPLOAD_MB} MB").first.wait_for(timeout=30_000)  # the limit is stated
    sidebar.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(huge))
    sidebar.get_by_text(re.compile(r"File must be .* or smaller")).first.wait_for(timeout=60_000)
    assert_no_error(page)
    assert "5,031 1d bars" in page.inner_text("body")  # the page is untouched
    page.close()
