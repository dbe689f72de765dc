"""Today's card: the newest decided bar, when it fills, and the paper book's last health verdict."""
import pandas as pd

from hrm_core.live.ledger import Ledger
from hrm_core.live.today import health_of, today


def _table():
    idx = pd.bdate_range("2024-01-01", periods=4, tz="UTC")
    return pd.DataFrame({"status": ["warmup", "ok", "ok", "warmup"], "position": [0.0, 0.4, -0.25, 0.0],
                         "margin": [0.0, 0.02, 0.005, 0.0]}, index=idx)


def test_the_card_reads_the_newest_decided_bar_and_says_when_it_fills():
    card = today(_table(), symbol="X", interval="1d", execution="next_open", health="green")
    assert (card.side, card.position, card.margin) == ("short", -0.25, 0.005)
    assert card.time == pd.Timestamp("2024-01-03", tz="UTC")
    assert card.headline == "X 1d: SHORT 25% of capital, fills at the open after 2024-01-03"
    close = today(_table(), symbol="X", interval="1d", execution="close", health="green")
    assert close.fills == "filled at the close of 2024-01-03"
    empty = today(_table().iloc[[0]], symbol="X", interval="1d", execution="next_open", health="green")
    assert empty.time is None and "no decision yet" in empty.headline


def test_health_comes_from_the_paper_books_last_verdict(tmp_path, offline_settings):
    from hrm_cli import main as hrm

    db = tmp_path / "live.db"
    assert health_of(db, "^GSPC", "1d") == "not monitored"  # no ledger: nothing is created
    assert not db.exists()
    offline_settings()
    assert hrm(["live", "--once", "--symbol", "^GSPC", "--db", str(db)]) == 0
    assert health_of(db, "^GSPC", "1d") == "not monitored"  # a book, no verdict yet
    with Ledger(db) as ledger:
        ledger.record_health("amber", ["x"], ledger.find_book().book_id)
    assert health_of(db, "^GSPC", "1d") == "amber" and health_of(db, "^IXIC", "1d") == "not monitored"


def test_warm_fills_the_stores_the_pages_read_and_a_second_run_reads_them(tmp_path, offline_settings, capsys,
                                                                          monkeypatch, app_in_fresh_interpreter):
    """`hrm warm`: signals of every checkpoint on the default instruments; the default model's diagnostics,
    backtest (equal risk and as traded, with its verdict), full-depth column and newest explanation. Then the
    dashboard's first page paints from them without importing torch (issue 22: cold start)."""
    import json
    import shutil
    from pathlib import Path

    from hrm_cli import main as hrm

    root = Path(__file__).resolve().parents[2]
    models = tmp_path / "models"
    for name in ("hrm-default", "flat"):
        shutil.copytree(root / "models" / name, models / name)
    toml = offline_settings(models_dir=models)
    toml.write_text(toml.read_text() + 'default_symbols = ["^GSPC"]\n')
    assert hrm(["warm", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["done"] == first["total"] == 5 and not first["problems"]  # 2 checkpoints' signals + 3 for the default
    default = [f for f in first["filled"] if "hrm-default" in f and "signals" not in f]
    assert default[:2] == ["hrm-default diagnostics on ^GSPC", "hrm-default backtests on ^GSPC"]
    assert default[2].startswith("hrm-default explanation of ") and len(default) == 3  # the newest decision
    import explain
    import hrm_core.evaluation.evaluate as evaluate
    import hrm_core.reasoning.diagnostics as diagnostics
    import hrm_core.trading.signals as signals

    def never(*a, **k):
        raise AssertionError("recomputed a stored result")

    for module, name in ((signals, "run_model"), (signals, "full_depth_actions"), (diagnostics, "trace_decisions"),
                         (evaluate, "evaluate_instrument"), (explain, "explain_decision")):
        monkeypatch.setattr(module, name, never)
    assert hrm(["warm", "--json"]) == 0  # a second run reads every result from the stores
    assert json.loads(capsys.readouterr().out)["done"] == 5

    # The start-up thread imports torch once the page has run: switched off here, so only the pages' imports count.
    # Every page then opens on the stored results without torch or scipy.stats (about 2.5 s of imports); Explain
    # comes last because it puts its decision in the URL, which opens Diagnostics on that one decision.
    lines = app_in_fresh_interpreter(
        "at.run(); assert not at.exception, [e.value for e in at.exception]\n"
        "print('signals', len(at.get('plotly_chart')), 'torch' in sys.modules, 'scipy.stats' in sys.modules)\n"
        "for page in ('diagnostics', 'performance', 'health', 'live', 'train', 'explain'):\n"
        "    at.switch_page(f'views/{page}.py').run(); assert not at.exception, [e.value for e in at.exception]\n"
        "    print(page, len(at.get('plotly_chart')), 'torch' in sys.modules, 'scipy.stats' in sys.modules)")
    pages = {page: (int(charts), torch_loaded, scipy_loaded) for page, charts, torch_loaded, scipy_loaded
             in (line.split() for line in lines[-7:])}
    assert pages["signals"][0] >= 1 and pages["explain"][0] >= 1 and pages["performance"][0] >= 1, pages
    assert all(torch_loaded == scipy_loaded == "False" for _, torch_loaded, scipy_loaded in pages.values()), pages
