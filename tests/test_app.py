"""The dashboard runs: app.py and every page execute in a real Streamlit AppTest without an exception."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))


@pytest.fixture
def app(offline_settings):
    offline_settings()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    return at


def test_app_starts_on_signals_with_offline_badge(app):
    assert not app.exception
    assert app.title[0].value == "Signals"
    assert any("offline sample" in m.value for m in app.markdown), "the data-source badge is missing"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_exception(app, page):
    app.switch_page(page)
    app.run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
