"""The dashboard runs through its one entry point: app.py draws the navigation and the shared sidebar on every page."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "views").glob("*.py"))


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


def test_no_pages_folder_beside_app_py():
    """A pages/ folder would make Streamlit run a deep-linked page without app.py (legacy pages-folder mode)."""
    assert not (ROOT / "pages").exists()
    assert len(PAGES) == 7


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_through_app_py_with_the_shared_sidebar(app, page):
    app.switch_page(page)
    app.run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    assert [h.value for h in app.sidebar.header] == ["Instruments"]
    assert app.sidebar.selectbox(key="sidebar.interval").value == "1d"
    assert app.sidebar.multiselect(key="sidebar.symbols").value == ["^GSPC"]
    assert len(app.expander) >= 1 and any(e.label == "How to read this page" for e in app.expander)


def test_a_sidebar_choice_made_on_one_page_holds_on_the_next(app):
    app.switch_page("views/performance.py")
    app.run()
    app.sidebar.selectbox(key="sidebar.interval").select("1wk").run()
    assert not app.exception and not app.error, [e.value for e in app.error]
    assert any("^GSPC 1wk" in c.value for c in app.caption), [c.value for c in app.caption]
    app.switch_page("views/signals.py")
    app.run()
    assert app.sidebar.selectbox(key="sidebar.interval").value == "1wk"
    assert any("1,044 1wk bars" in c.value for c in app.caption)
    assert app.query_params["interval"] == "1wk"


def test_a_shared_link_sets_the_sidebar(offline_settings):
    offline_settings()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["symbol"] = "^IXIC"
    at.query_params["interval"] = "1wk"
    at.run()
    assert not at.exception
    assert at.sidebar.multiselect(key="sidebar.symbols").value == ["^IXIC"]
    assert at.sidebar.selectbox(key="sidebar.interval").value == "1wk"


def test_the_model_picker_states_each_models_validation_skill_beside_it(app):
    """A model that cannot beat the constant class-frequency predictor says so where it is picked; one that takes
    one action on more than 95 % of validation windows is shown with a warning."""
    from hrm_core.model.cards import list_checkpoints, skill_note

    cards = [c for c in list_checkpoints(ROOT / "models") if skill_note(c.card)]
    assert {c.name for c in cards} >= {"hrm-default", "flat"}
    for card in cards:
        app.sidebar.selectbox(key="sidebar.model").select(card.path).run()
        assert not app.exception
        note, skilled = skill_note(card.card)
        warnings = [w.value for w in app.sidebar.warning]
        assert note in warnings + [c.value for c in app.sidebar.caption], card.name
        if max(card.card["metrics"]["val_action_shares"].values()) > 0.95:
            assert not skilled and note in warnings, card.name


def test_a_model_that_takes_one_action_is_picked_with_a_warning(tmp_path, offline_settings):
    from hrm_core.model.cards import list_checkpoints, skill_note
    from tests.model.test_checkpoint import one_sided_checkpoint

    models = tmp_path / "models"
    one_sided_checkpoint(models)
    offline_settings(models_dir=models)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    (card,) = list_checkpoints(models)
    note, skilled = skill_note(card.card)
    assert not at.exception and not skilled
    assert note in [w.value for w in at.sidebar.warning] and "Long on 99% of validation windows" in note


def test_signals_opens_with_todays_card_and_shows_every_selected_instrument(offline_settings):
    from streamlit.testing.v1 import AppTest

    offline_settings()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params.update({"symbol": "^IXIC", "symbols": "^IXIC,^GSPC", "range": "5 years"})
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.sidebar.multiselect(key="sidebar.symbols").value == ["^IXIC", "^GSPC"]  # the instruments from the link
    cards = [m.value for m in at.markdown if m.value.startswith("**^")]
    assert [c.split()[0] for c in cards] == ["**^IXIC", "**^GSPC"]
    assert all(("LONG" in c or "SHORT" in c or "FLAT" in c) and "fills at the open after" in c for c in cards)
    assert any(c.value.startswith("Decided at the close of") and "model health: **not monitored**" in c.value
               for c in at.caption)
    assert {m.label for m in at.metric} >= {"Target position", "Margin over the no-trade band"}
    assert [t.label for t in at.tabs] == ["^IXIC", "^GSPC"] and len(at.get("plotly_chart")) == 2
    assert at.segmented_control(key="signals.range").value == "5 years"  # the range from the link
    assert at.query_params["symbols"] == "^IXIC,^GSPC" and at.query_params["range"] == "5 years"


def test_signals_shows_one_table_below_the_chart_recent_decisions_first_then_the_trades(app):
    below = app.radio(key="signals.below")
    assert below.value == "Recent decisions" and below.options == ["Recent decisions", "Trades"]
    assert [len(d.value) for d in app.dataframe] == [20]  # the recent decisions, and no trade list drawn
    assert "Download the signals (CSV)" in {b.label for b in app.get("download_button")}
    below.set_value("Trades").run()
    assert not app.exception
    (trades,) = app.dataframe
    assert {"side", "net PnL [%]", "regime at entry", "decided at"} <= set(trades.value.columns) and len(trades.value)
    assert "Download the trades (CSV)" in {b.label for b in app.get("download_button")}


def test_the_train_page_paints_without_torch(offline_settings, app_in_fresh_interpreter):
    """torch (about 1.3 s of imports) loads when a run starts: a first visit to Train does not wait for it."""
    offline_settings()
    out = app_in_fresh_interpreter(
        "at.switch_page('views/train.py').run(); assert not at.exception, [e.value for e in at.exception]\n"
        "print(at.title[0].value, [b.label for b in at.button], 'torch' in sys.modules)")[-1]
    assert out.startswith("Train ") and "'Train'" in out and out.endswith("False"), out
