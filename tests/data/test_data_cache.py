"""The SQLite bar cache: exact round trips, upsert/replace, all-or-nothing writes, concurrent writers."""
from __future__ import annotations

import multiprocessing as mp
import sqlite3

import numpy as np
import pandas as pd
import pytest

from hrm_core.data import cache as cache_module
from hrm_core.data.cache import BarCache
from hrm_core.data.market import load_bars

T0 = pd.Timestamp("2020-01-01", tz="UTC")


def make_bars(offset: int, n: int, *, seed: int = 0, freq: str = "h") -> pd.DataFrame:
    """n bars starting `offset` steps after T0, with awkward floats (not representable in decimal)."""
    rng = np.random.default_rng(seed + offset)
    start = T0 + offset * pd.tseries.frequencies.to_offset(freq)
    index = pd.DatetimeIndex(pd.date_range(start, periods=n, freq=freq).as_unit("ns"), freq=None, name="time")
    close = 100 + rng.standard_normal(n).cumsum() / 3
    return pd.DataFrame({"open": close * (1 + 1e-3 * rng.random(n)), "high": close * 1.01, "low": close * 0.99,
                         "close": close, "volume": rng.integers(0, 10**12, n).astype("float64")}, index=index)


def test_round_trip_on_a_real_file_is_exact(tmp_path):
    b = make_bars(0, 500)
    b.iloc[0, 0] = 0.1 + 0.2  # 0.30000000000000004 must come back bit for bit
    with BarCache(tmp_path / "c.db") as cache:
        assert cache.write("X", "1h", b) == 500
    with BarCache(tmp_path / "c.db") as cache:  # a new connection: read from disk, not from memory
        back = cache.read("X", "1h")
    pd.testing.assert_frame_equal(back, b, check_exact=True)
    assert back.iloc[0, 0] == 0.30000000000000004


def test_cache_uses_wal_and_a_busy_timeout(tmp_path):
    with BarCache(tmp_path / "c.db") as cache:
        assert cache.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cache.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_upsert_overwrites_overlap_and_keeps_the_rest(tmp_path):
    with BarCache(tmp_path / "c.db") as cache:
        cache.write("X", "1d", make_bars(0, 10, freq="D"))
        newer = make_bars(5, 10, seed=99, freq="D")
        cache.write("X", "1d", newer)
        back = cache.read("X", "1d")
    assert len(back) == 15
    pd.testing.assert_frame_equal(back.iloc[5:], newer)


def test_replace_swaps_the_whole_series(tmp_path):
    with BarCache(tmp_path / "c.db") as cache:
        cache.write("X", "1d", make_bars(0, 10, freq="D"))
        cache.write("Y", "1d", make_bars(0, 3, freq="D"))
        cache.write("X", "1d", make_bars(20, 4, freq="D"), replace=True)
        assert len(cache.read("X", "1d")) == 4 and len(cache.read("Y", "1d")) == 3


def test_fetched_at_is_stored_per_series(tmp_path):
    stamp = pd.Timestamp("2024-05-06 07:08:09.123456", tz="UTC")
    with BarCache(tmp_path / "c.db") as cache:
        assert cache.fetched_at("X", "1d") is None
        cache.write("X", "1d", make_bars(0, 3, freq="D"), fetched_at=stamp)
        assert cache.fetched_at("X", "1d") == stamp and cache.fetched_at("X", "1wk") is None


def test_a_failed_write_leaves_nothing_half_written(tmp_path, monkeypatch):
    first = pd.Timestamp("2024-01-01", tz="UTC")
    with BarCache(tmp_path / "c.db") as cache:
        cache.write("X", "1h", make_bars(0, 10), fetched_at=first)
        real = cache_module._records

        def dies_midway(symbol, interval, bars):
            for i, row in enumerate(real(symbol, interval, bars)):
                if i == 50:
                    raise OSError("disk full")
                yield row

        monkeypatch.setattr(cache_module, "_records", dies_midway)
        with pytest.raises(OSError):
            cache.write("X", "1h", make_bars(5, 100, seed=7), replace=True)
        pd.testing.assert_frame_equal(cache.read("X", "1h"), make_bars(0, 10))
        assert cache.fetched_at("X", "1h") == first


def test_broken_cache_file_never_blocks_the_data_and_is_named(tmp_path):
    from hrm_core.settings import load_settings

    db = tmp_path / "broken.db"
    junk = b"this is not a sqlite database" * 100
    db.write_bytes(junk)
    toml = tmp_path / "hrm.toml"
    toml.write_text(f'[data]\ncache_db = "{db.as_posix()}"\n')
    offline = load_bars("^GSPC", settings=load_settings(toml), downloader=lambda *a, **k: None)
    assert offline.source == "sample" and "broken.db" in offline.note
    live = load_bars("^GSPC", settings=load_settings(toml), downloader=lambda *a, **k: _yahoo_like(offline.bars))
    assert live.source == "live" and "served without caching" in live.note and len(live.bars) == len(offline.bars)
    assert db.read_bytes() == junk  # the user's file is left as it was


def _yahoo_like(bars: pd.DataFrame) -> pd.DataFrame:
    """A frame shaped like yfinance.download's (capitalised columns, a Date index)."""
    out = bars.rename(columns=str.capitalize)
    out.index = out.index.tz_localize(None).rename("Date")
    return out


# --- two processes at once ---------------------------------------------------------------------

N_CHUNKS, CHUNK = 15, 40


def _writer(db_path: str, symbol: str, shared_offset: int, barrier) -> None:
    """Write our own symbol and an overlapping slice of a shared one, in many small transactions."""
    barrier.wait()  # start together so the transactions interleave
    with BarCache(db_path) as cache:
        for k in range(N_CHUNKS):
            cache.write(symbol, "1h", make_bars(k * CHUNK, CHUNK))
            cache.write("SHARED", "1h", make_bars(shared_offset + k * CHUNK, CHUNK))


def test_two_processes_writing_at_once_lose_no_rows(tmp_path):
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    db_path = str(tmp_path / "shared.db")
    barrier = ctx.Barrier(2)
    half = N_CHUNKS * CHUNK // 2
    procs = [ctx.Process(target=_writer, args=(db_path, "AAA", 0, barrier)),
             ctx.Process(target=_writer, args=(db_path, "BBB", half, barrier))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0]
    total = N_CHUNKS * CHUNK
    conn = sqlite3.connect(db_path)
    counts = dict(conn.execute("SELECT symbol, COUNT(*) FROM bars GROUP BY symbol").fetchall())
    conn.close()
    assert counts == {"AAA": total, "BBB": total, "SHARED": total + half}
    with BarCache(db_path) as cache:  # the rows are the ones written, chunk by chunk, bit for bit
        written = pd.concat([make_bars(k * CHUNK, CHUNK) for k in range(N_CHUNKS)])
        pd.testing.assert_frame_equal(cache.read("AAA", "1h"), written)
