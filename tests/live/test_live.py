"""Paper trading: replay parity with the backtest, idempotence, crash safety, concurrency, no network, the CLI."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hrm_cli import main as hrm
from hrm_core.model.cards import resolve_model
from hrm_core.model.checkpoint import load_checkpoint
from hrm_core.data.market import load_bars
from hrm_core.live.ledger import Ledger, LedgerError
from hrm_core.live.trader import decide, parse_every, replay, run_loop, run_once
from hrm_core.live.reconcile import EXEC_TOL, SIGNAL_NOISE_TOL, reconcile, vectorised
from hrm_core.settings import load_settings
from hrm_core.trading.signals import generate_signals, model_fingerprint

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
HRM = [sys.executable, "-c", "import sys; from hrm_cli import main; sys.exit(main())"]
START, END = "2018-01-01", "2018-02-28"  # inside the shipped model's test period; ~40 daily bars

torch.set_num_threads(1)


@pytest.fixture
def settings(offline_settings):
    offline_settings(models_dir=MODELS)
    return load_settings()


@pytest.fixture(scope="module")
def sample():
    """(model, full ^GSPC history, its signal table) of the shipped model and the bundled sample."""
    s = load_settings()
    loaded = load_checkpoint(resolve_model(None, s))
    bars = load_bars("^GSPC", "1d", settings=s).bars
    return loaded, bars, generate_signals(loaded, bars, symbol="^GSPC", interval="1d").table


# ----------------------------------------------------------------------------- signal and parity

def test_the_live_signal_of_a_bar_is_the_signal_tables_row(sample):
    loaded, bars, table = sample
    for t in np.flatnonzero((bars.index >= START) & (bars.index <= END))[::7]:
        row, feats = decide(loaded, bars.iloc[: t + 1], symbol="^GSPC", interval="1d",
                            model_id=model_fingerprint(loaded))
        ref = table.iloc[t]
        assert row["action"] == ref["action"] and row["status"] == ref["status"] == "ok"
        # NOTE float32: one window here, batches of 256 in the table -> last-bit differences only
        assert abs(row["position"] - ref["position"]) <= SIGNAL_NOISE_TOL
        assert row["steps"] == ref["steps"]


def test_a_live_step_at_bar_t_reads_nothing_after_t(settings, tmp_path, sample):
    """PaperTrader.step over two frames that agree up to bar t and differ after it: bar t's stored features,
    decision and book are identical (and later bars differ, so the rewrite reached the traders)."""
    from hrm_core.live.trader import PaperTrader

    loaded, bars, _ = sample
    frame = bars.loc[:END]
    t = int(np.flatnonzero(frame.index >= START)[10])
    later = frame.copy()
    later.iloc[t + 1:, :4] *= np.exp(np.linspace(0.0, 0.3, len(frame) - t - 1))[:, None]  # rewrite the future
    ledgers = []
    for name, f in (("same", frame), ("rewritten", later)):
        with Ledger(tmp_path / f"{name}.db") as ledger:
            trader = PaperTrader.open(ledger, loaded, symbol="^GSPC", interval="1d", bars=f.iloc[: t - 5],
                                      settings=settings, csv=None, mode="replay")
            trader.step(f.iloc[: t - 4], source="sample", fetched_at=None)  # a book that starts 5 bars before t
            trader.step(f, source="sample", fetched_at=None)
            ledgers.append(ledger.frame(trader.book.book_id))
    a, b = ledgers
    keep = ["features", "action", "raw_position", "p_short", "p_flat", "p_long", "target", "held", "net_return"]
    pd.testing.assert_frame_equal(a.loc[: frame.index[t], keep], b.loc[: frame.index[t], keep])
    assert not a.loc[frame.index[t + 1]:, "features"].equals(b.loc[frame.index[t + 1]:, "features"])


def test_live_downloads_when_the_calendar_expects_a_bar_a_young_cache_lacks(settings, tmp_path):
    """A cache written an hour ago (younger than max_age_hours) that ends on Friday, checked on Tuesday night:
    the calendar says Monday and Tuesday have closed, so live downloads instead of deciding Friday again."""
    from hrm_core.data.cache import BarCache

    import exchange_calendars

    history = load_bars("^GSPC", "1d", settings=settings).bars.iloc[-400:]
    sessions = exchange_calendars.get_calendar("XNYS").sessions_in_range("2023-01-01", "2024-12-10")[-400:]
    future = history.set_axis(pd.DatetimeIndex(sessions.tz_localize("UTC"), name="time"))  # ends Tuesday 12-10
    now = pd.Timestamp("2024-12-11 00:30", tz="UTC")  # Tuesday's daily bar has just become usable
    with BarCache(settings.data.path("cache_db")) as cache:
        cache.write("^GSPC", "1d", future.iloc[:-2], fetched_at=now - pd.Timedelta(hours=1))
    calls = []

    def download(symbol, interval, start=None, end=None):
        calls.append(symbol)
        return future.rename(columns=str.capitalize).tz_localize(None).rename_axis("Date")

    res = run_once(settings, symbol="^GSPC", interval="1d", db=tmp_path / "live.db", now=now, downloader=download)
    assert calls == ["^GSPC"] and res.source == "live" and res.last == future.index[-1].isoformat()
    quiet = run_once(settings, symbol="^GSPC", interval="1d", db=tmp_path / "live.db", now=now,
                     downloader=lambda *a: pytest.fail("nothing new is expected: the fresh cache must serve"))
    assert quiet.decided == 0


def test_bars_skipped_while_the_process_was_running_are_data_late_not_downtime(settings, tmp_path, monkeypatch):
    import hrm_core.data.market as data

    db = tmp_path / "live.db"
    bars = load_bars("^GSPC", "1d", settings=settings).bars
    day = bars.loc["2018-01-02":"2018-01-31"].index
    seen = {"until": day[0]}
    real = data.load_bars
    monkeypatch.setattr(data, "load_bars", lambda *a, **k: replace(real(*a, **k), bars=real(*a, **k).bars.loc[
        : seen["until"]]))
    for k in range(6):  # the process runs every day; the data vendor stalls after the first bar
        run_once(settings, symbol="^GSPC", interval="1d", db=db, now=day[k] + pd.Timedelta(hours=25))
    seen["until"] = day[6]
    run_once(settings, symbol="^GSPC", interval="1d", db=db, now=day[6] + pd.Timedelta(hours=25))
    with Ledger(db, create=False) as ledger:
        missed = ledger.missed(ledger.books()[0].book_id)
    assert list(missed.index) == list(day[1:6]) and missed.str.startswith("missed (data late)").all()


@pytest.mark.parametrize("risk", [{}, {"vol_target_annual": 0.10, "drawdown_brake": 0.01, "drawdown_brake_scale": 0.5}],
                         ids=["default-risk", "vol-target-and-brake"])
def test_a_replay_matches_the_vectorised_backtest(settings, tmp_path, risk, sample):
    s = replace(settings, risk=replace(settings.risk, **risk))
    db = tmp_path / "live.db"
    replay(s, symbol="^GSPC", interval="1d", start=START, end=END, db=db)
    rec = reconcile(db, s)
    summary = rec.summary
    # Risk, fill and cost code of the live path == the vectorised code on the same signals, to 1e-12.
    assert summary["execution_parity_max_abs_diff"] <= EXEC_TOL
    # Against the signal table: same actions everywhere; sizes equal up to float32 inference noise.
    assert summary["signal_agreement"] == 1.0 and summary["bars_differing"] == 0
    assert summary["position_max_abs_diff"] <= SIGNAL_NOISE_TOL
    assert summary["equity"]["max_abs_gap"] <= 1e-6 and summary["pnl_difference"]["fill_timing"] == 0.0
    parts = summary["pnl_difference"]
    assert parts["total"] == pytest.approx(parts["signal"] + parts["fill_timing"] + parts["cost"], abs=1e-15)
    assert summary["verdict"] == "agrees" and (rec.trade_table()["match"] == "both").all()
    if risk:  # the path-dependent rules really acted
        with Ledger(db) as ledger:
            frame = ledger.frame(ledger.books()[0].book_id)
        assert (frame["target"].abs() < frame["raw_position"].abs() - 1e-9).any()


@pytest.mark.parametrize("execution", ["next_open", "close"])
def test_the_ledger_reproduces_the_backtest_frame_exactly_on_its_own_signals(settings, tmp_path, execution):
    s = replace(settings, costs=replace(settings.costs, execution=execution))
    db = tmp_path / "live.db"
    replay(s, symbol="^GSPC", interval="1d", start=START, end=END, db=db)
    with Ledger(db) as ledger:
        book = ledger.books()[0]
        led = ledger.frame(book.book_id)
        fills = ledger.table("fills", book.book_id)
    assert book.costs.execution == execution
    bars = load_bars("^GSPC", "1d", settings=s).bars
    first = bars.index.get_loc(led.index[0])
    warm = bars["close"].iloc[first - book.risk.vol_lookback - 1:first]
    final, bt = vectorised(book, led["raw_position"], led["close"], warm, open_price=led["open"])
    np.testing.assert_allclose(led["target"], final, rtol=0, atol=1e-12)
    for col in ("position", "asset_return", "gross_return", "turnover", "cost", "net_return", "equity"):
        np.testing.assert_allclose(led["held" if col == "position" else col], bt.frame[col], rtol=0, atol=1e-12)
    # each fill sits on the bar where it happened, at that bar's open (next_open) or close (close)
    assert len(fills) == int((bt.frame["turnover"] > 0).sum()) > 0
    price = "open" if execution == "next_open" else "close"
    np.testing.assert_array_equal(fills["price"].to_numpy(), led.loc[fills.index, price].to_numpy())


def test_a_revised_bar_is_named_by_reconcile(settings, tmp_path):
    db = tmp_path / "live.db"
    replay(settings, symbol="^GSPC", interval="1d", start=START, end=END, db=db)
    with Ledger(db) as ledger:  # as if the vendor revised a close after the live process traded it
        t = ledger.conn.execute("SELECT t FROM bars ORDER BY t LIMIT 1 OFFSET 10").fetchone()[0]
        ledger.conn.execute("UPDATE bars SET close = close * 1.01 WHERE t = ?", (t,))
    rec = reconcile(db, settings)
    diff = rec.differences()
    assert list(diff.index) == [pd.Timestamp(t, tz="UTC")] and diff["reason"].iloc[0].startswith("revised bar")
    assert rec.summary["verdict"].startswith("differs")


# ----------------------------------------------------------------------------- idempotence, crash, concurrency

def test_rerunning_a_replay_changes_nothing(settings, tmp_path):
    db = tmp_path / "live.db"
    first = replay(settings, symbol="^GSPC", interval="1d", start=START, end=END, db=db)
    with Ledger(db) as ledger:
        before = ledger.dump()
    again = replay(settings, symbol="^GSPC", interval="1d", start=START, end=END, db=db)
    with Ledger(db) as ledger:
        assert ledger.dump() == before
    assert first.decided == len(before["decisions"]) > 30 and again.decided == 0


def test_a_replay_cannot_leave_a_gap_in_a_book(settings, tmp_path):
    db = tmp_path / "live.db"
    replay(settings, symbol="^GSPC", interval="1d", start=START, end="2018-01-31", db=db)
    with pytest.raises(LedgerError, match="must start inside that range"):
        replay(settings, symbol="^GSPC", interval="1d", start="2018-03-01", end="2018-03-31", db=db)


def _env(settings_file: Path) -> dict:
    return {**os.environ, "HRM_OFFLINE": "1", "HRM_SETTINGS": str(settings_file)}


def _replay_cmd(db: Path, end: str = "2018-03-31") -> list[str]:
    return [*HRM, "live", "--replay", START, end, "--symbol", "^GSPC", "--interval", "1d", "--db", str(db), "--json"]


def _rows(db: Path) -> int:
    try:
        with Ledger(db) as ledger:
            return ledger.conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
    except Exception:  # the child may be creating the file right now
        return 0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Ledger dump of a replay that ran to the end in its own process (the reference for the next tests)."""
    tmp = tmp_path_factory.mktemp("ref")
    (tmp / "hrm.toml").write_text(f'[data]\ncache_db = "{tmp / "market.db"}"\nmodels_dir = "{MODELS}"\n')
    subprocess.run(_replay_cmd(tmp / "ref.db"), cwd=ROOT, env=_env(tmp / "hrm.toml"), check=True,
                   capture_output=True, timeout=300)
    with Ledger(tmp / "ref.db") as ledger:
        return ledger.dump()


def test_a_replay_killed_mid_run_and_restarted_equals_an_uninterrupted_one(offline_settings, tmp_path, uninterrupted):
    toml = offline_settings(models_dir=MODELS)
    db = tmp_path / "crash.db"
    child = subprocess.Popen(_replay_cmd(db), cwd=ROOT, env=_env(toml), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while _rows(db) < 10 and time.time() < deadline and child.poll() is None:
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)  # a real crash: no handler, no cleanup
    child.wait(timeout=30)
    killed_at = _rows(db)
    total = len(uninterrupted["decisions"])
    assert 10 <= killed_at < total, "the replay must be interrupted mid-run"
    subprocess.run(_replay_cmd(db), cwd=ROOT, env=_env(toml), check=True, capture_output=True, timeout=300)
    with Ledger(db) as ledger:
        assert ledger.dump() == uninterrupted


def test_two_processes_writing_one_ledger_lose_and_duplicate_nothing(offline_settings, tmp_path, uninterrupted):
    toml = offline_settings(models_dir=MODELS)
    decided = []
    # Each process needs seconds to start and a fraction of one to replay, so on a busy machine one may finish
    # before the other writes: such a pair tests nothing concurrent, and the pair is run again (every run must
    # still lose and duplicate nothing).
    for attempt in range(5):
        db = tmp_path / f"shared{attempt}.db"
        children = [subprocess.Popen(_replay_cmd(db), cwd=ROOT, env=_env(toml), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [json.loads(c.communicate(timeout=300)[0]) for c in children]
        assert [c.returncode for c in children] == [0, 0]
        assert sum(o["decided"] for o in outs) == len(uninterrupted["decisions"])  # each bar written by exactly one
        with Ledger(db) as ledger:
            assert ledger.dump() == uninterrupted
        decided = [o["decided"] for o in outs]
        if min(decided) > 0:
            break
    assert min(decided) > 0, f"in 5 tries the two processes never wrote at the same time: {decided}"


# ----------------------------------------------------------------------------- live modes

def test_offline_once_keeps_the_last_state_and_invents_no_bar(settings, tmp_path):
    db = tmp_path / "live.db"
    first = run_once(settings, symbol="^GSPC", interval="1d", db=db)
    second = run_once(settings, symbol="^GSPC", interval="1d", db=db)
    sample_last = load_bars("^GSPC", "1d", settings=settings).bars.index[-1]
    assert first.decided == 1 and first.last == sample_last.isoformat() and first.source == "sample"
    assert second.decided == 0 and any("no bar invented" in n for n in second.notes)
    with Ledger(db) as ledger:
        events = ledger.events()
    assert (events["kind"] == "fallback").sum() == 2


def test_the_loop_stops_cleanly_on_sigterm(offline_settings, tmp_path):
    toml = offline_settings(models_dir=MODELS)
    db = tmp_path / "loop.db"
    child = subprocess.Popen([*HRM, "live", "--loop", "--every", "1s", "--symbol", "^GSPC", "--db", str(db)],
                             cwd=ROOT, env=_env(toml), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while _rows(db) < 1 and time.time() < deadline:
        time.sleep(0.1)
    child.send_signal(signal.SIGTERM)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert "stopped cleanly" in out and "no bar invented" in err and _rows(db) == 1


def test_a_loop_iteration_that_fails_is_logged_and_retried(settings, tmp_path):
    lines = []
    run_loop(settings, symbol="NOPE123", interval="1d", every_s=0.01, db=tmp_path / "live.db", max_iterations=2,
             report=lines.append)
    assert len(lines) == 2 and all("unknown symbol" in x and "retrying" in x for x in lines)
    with Ledger(tmp_path / "live.db") as ledger:
        assert (ledger.events()["kind"] == "retry").sum() == 2


def test_a_locked_ledger_is_reported_and_retried_not_a_crash(settings, tmp_path, monkeypatch):
    import sqlite3

    import hrm_core.live.trader as live

    db = tmp_path / "live.db"
    with Ledger(db):
        pass
    monkeypatch.setattr(live, "LEDGER_TIMEOUT_S", 0.2)
    monkeypatch.setattr(live, "LOG_TIMEOUT_S", 0.1)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    lines = []

    def report(line):
        lines.append(line)
        if other.in_transaction:
            other.execute("ROLLBACK")  # ... and lets go after the first failed step

    decided = run_loop(settings, symbol="^GSPC", interval="1d", every_s=0.01, db=db, max_iterations=2,
                       report=report)
    other.close()
    assert "locked" in lines[0] and "retrying" in lines[0] and "\n" not in lines[0]
    assert decided == 1 and "1 new bar(s)" in lines[1]


def test_ledger_reads_and_writes_raise_ledger_errors_not_sqlite_errors(settings, tmp_path):
    import sqlite3

    db = tmp_path / "live.db"
    run_once(settings, symbol="^GSPC", interval="1d", db=db)
    other = sqlite3.connect(db, isolation_level=None)
    with Ledger(db, timeout_s=0.05) as ledger:
        other.execute("BEGIN IMMEDIATE")
        book = ledger.books()[0]
        with pytest.raises(LedgerError, match="locked"):
            with ledger.bar_transaction():
                pass
        assert not ledger.conn.in_transaction
        with pytest.raises(LedgerError, match="locked"):
            ledger.log("info", "x", "y")
    other.execute("ROLLBACK")
    other.close()
    with Ledger(db, create=False) as ledger:
        assert ledger.last_bar(book.book_id) is not None and ledger.has_bar(book.book_id, ledger.last_bar(book.book_id))


def test_the_read_verbs_write_nothing_and_refuse_a_file_that_is_not_a_ledger(settings, tmp_path, capsys):
    import sqlite3

    cache = tmp_path / "signals.db"
    with sqlite3.connect(cache) as c:
        c.execute("CREATE TABLE signal_rows (run_id INTEGER, t INTEGER)")
    c.close()
    for verb in ("reconcile", "health"):
        assert hrm([verb, "--db", str(cache)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("hrm: error:") and "not a paper-trading ledger" in err and err.count("\n") == 1
    with sqlite3.connect(cache) as c:
        assert [r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["signal_rows"]
        assert c.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
    c.close()


def test_a_corrupt_ledger_is_one_ledger_error_for_every_read(settings, tmp_path, capsys):
    from hrm_core.live.monitor import health

    db = tmp_path / "live.db"
    db.write_bytes(np.random.default_rng(0).bytes(8192))
    for read in (lambda: Ledger(db, create=False), lambda: reconcile(db, settings), lambda: health(db, settings)):
        with pytest.raises(LedgerError) as exc:
            read()
        assert str(db) in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(LedgerError):
        Ledger(db)  # the writer refuses it too, in one line
    for verb in ("reconcile", "health"):
        assert hrm([verb, "--db", str(db)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("hrm: error: cannot open the ledger") and err.count("\n") == 1


def test_after_downtime_live_decides_only_the_newest_bar_and_reconcile_names_the_missed_ones(
        settings, tmp_path, monkeypatch):
    import hrm_core.live.trader as live

    db = tmp_path / "live.db"
    bars = load_bars("^GSPC", "1d", settings=settings).bars
    day = bars.loc["2018-01-02":"2018-01-31"].index
    clock = {"now": day[0] + pd.Timedelta(days=1)}  # a fake clock: the first bar has just completed
    monkeypatch.setattr(live, "utc_now", lambda: clock["now"])
    import hrm_core.data.market as data

    real = data.load_bars

    def load_until_now(*args, **kwargs):  # the data a live process would see at that time
        res = real(*args, **kwargs)
        return replace(res, bars=res.bars[res.bars.index < clock["now"]])
    monkeypatch.setattr(data, "load_bars", load_until_now)
    first = run_once(settings, symbol="^GSPC", interval="1d", db=db)
    assert first.decided == 1 and first.last == day[0].isoformat()
    clock["now"] = day[10] + pd.Timedelta(days=1)  # the process was down for ten bars
    after = run_once(settings, symbol="^GSPC", interval="1d", db=db)
    assert after.decided == 1 and after.last == day[10].isoformat()
    assert any("missed (downtime)" in n for n in after.notes)
    with Ledger(db, create=False) as ledger:
        book = ledger.books()[0]
        led = ledger.frame(book.book_id)
        missed = ledger.missed(book.book_id)
        events = ledger.events()
    assert list(led.index) == [day[0], day[10]] and set(led["mode"]) == {"live"}
    assert list(missed.index) == list(day[1:10]) and missed.str.startswith("missed (downtime)").all()
    assert (events["kind"] == "missed").sum() == 1
    # the order decided at the last close before the downtime is filled at the first open seen again
    assert led["held"].iloc[1] == pytest.approx(led["target"].iloc[0])
    rec = reconcile(db, settings)
    reasons = rec.frame["reason"]
    assert reasons.loc[day[1:10]].str.startswith("missed (downtime)").all()
    assert rec.summary["execution_parity_max_abs_diff"] <= EXEC_TOL
    # a second run at the same time changes nothing and records nothing twice
    again = run_once(settings, symbol="^GSPC", interval="1d", db=db)
    assert again.decided == 0
    with Ledger(db, create=False) as ledger:
        assert len(ledger.missed(book.book_id)) == 9


def test_parse_every_reads_seconds_minutes_and_hours():
    assert [parse_every(x) for x in ("60s", "5m", "1h", "2.5")] == [60.0, 300.0, 3600.0, 2.5]
    with pytest.raises(Exception, match="cannot read --every"):
        parse_every("soon")


# ----------------------------------------------------------------------------- the CLI contract, as written

def test_cli_contract_replay_reconcile_health(offline_settings, tmp_path, capsys):
    offline_settings(models_dir=MODELS)
    db = str(tmp_path / "X.db")
    assert hrm(["live", "--replay", "2018-01-01", "2018-03-31", "--symbol", "^GSPC", "--interval", "1d",
                "--db", db]) == 0
    capsys.readouterr()
    assert hrm(["reconcile", "--db", db, "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert 0.0 <= rec["signal_agreement"] <= 1.0
    assert {"total", "signal", "fill_timing", "cost", "explanation"} <= set(rec["pnl_difference"])
    code = hrm(["health", "--db", db, "--json"])
    health = json.loads(capsys.readouterr().out)
    assert code in (0, 1, 2) and code == {"green": 0, "amber": 1, "red": 2}[health["status"]]
    assert isinstance(health["reasons"], list) and health["reasons"]


def test_cli_errors_are_one_line(offline_settings, tmp_path, capsys):
    offline_settings(models_dir=MODELS)
    assert hrm(["reconcile", "--db", str(tmp_path / "none.db")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hrm: error: no ledger at") and err.count("\n") == 1
