"""Market data: validation, files, resampling, the source fallback chain, and the `hrm data` CLI.

No test reaches the network: yfinance is faked at the boundary (the `downloader` argument,
or a monkeypatched `yfinance.download`), and every cache is a real SQLite file under tmp_path.
"""
from __future__ import annotations

import json
import numpy as np
import pandas as pd
import pytest

import hrm_cli
from hrm_core.data import market as data
from hrm_core.data.market import (
    BarCache,
    LoadResult,
    list_available,
    load_bars,
    read_ohlcv_file,
    resample_bars,
    validate_bars,
)
from hrm_core.errors import (
    DataError,
    EmptyDataError,
    InsufficientDataError,
    InvalidBarsError,
    UnknownSymbolError,
)
from hrm_core.settings import load_settings

NOW = pd.Timestamp("2024-06-03 12:00", tz="UTC")


@pytest.fixture
def settings(tmp_path, monkeypatch):
    """Settings whose cache lives in tmp_path (via $HRM_SETTINGS, so the CLI sees it too); sample = the bundled one."""
    toml = tmp_path / "hrm.toml"
    toml.write_text(f'[data]\ncache_db = "{(tmp_path / "market.db").as_posix()}"\nmax_age_hours = 12\n')
    monkeypatch.setenv("HRM_SETTINGS", str(toml))
    s = load_settings()
    assert s.data.path("cache_db") == tmp_path / "market.db"
    return s


def bars(n: int = 5, start: str = "2020-01-02", freq: str = "B", price: float = 100.0) -> pd.DataFrame:
    """n valid contract bars on business days."""
    index = pd.DatetimeIndex(pd.date_range(start, periods=n, freq=freq, tz="UTC").as_unit("ns"), freq=None, name="time")
    close = price + np.arange(n, dtype="float64")
    return pd.DataFrame({"open": close - 0.5, "high": close + 1.0, "low": close - 1.0, "close": close,
                         "volume": np.full(n, 1000.0)}, index=index)


def yahoo_frame(b: pd.DataFrame) -> pd.DataFrame:
    """What yfinance.download(..., multi_level_index=False) returns for daily bars: naive 'Date' index, Capitalised."""
    out = b.rename(columns=str.capitalize)
    out.index = b.index.tz_localize(None).rename("Date")
    return out


def failing(*args, **kwargs):
    raise ConnectionError("no route to query1.finance.yahoo.com")


def empty_download(*args, **kwargs):
    return pd.DataFrame(columns=["Open", "High", "Low", "Close", "Adj Close", "Volume"])


def must_not_download(*args, **kwargs):
    pytest.fail("the downloader was called although the cache is fresh")


# --- validation --------------------------------------------------------------------------------

def _set(df: pd.DataFrame, row: int, col: str, value) -> pd.DataFrame:
    df = df.copy()
    df.iloc[row, df.columns.get_loc(col)] = value
    return df


def _with_times(df: pd.DataFrame, times: list[str]) -> pd.DataFrame:
    df = df.copy()
    df.index = pd.DatetimeIndex(pd.to_datetime(times, utc=True), name="time")
    return df


BAD_BARS = {
    "empty": (lambda b: b.iloc[:0], EmptyDataError, ["no bars", "empty"]),
    "missing column": (lambda b: b.drop(columns="volume"), InvalidBarsError, ["missing column(s) volume"]),
    "NaN": (lambda b: _set(b, 1, "close", np.nan), InvalidBarsError, ["column close", "2020-01-03", "drop or fill"]),
    "inf": (lambda b: _set(b, 2, "high", np.inf), InvalidBarsError, ["column high", "2020-01-06"]),
    "non-numeric": (lambda b: _set(b.astype({"open": object}), 0, "open", "n/a"), InvalidBarsError,
                    ["column open", "2020-01-02"]),
    "non-positive price": (lambda b: _set(_set(b, 3, "low", 0.0), 3, "open", 0.0), InvalidBarsError,
                           ["non-positive open", "2020-01-07"]),
    "negative volume": (lambda b: _set(b, 4, "volume", -1.0), InvalidBarsError, ["negative volume", "2020-01-08"]),
    "high < low": (lambda b: _set(b, 1, "high", 90.0), InvalidBarsError, ["high below low", "2020-01-03"]),
    "open > high": (lambda b: _set(b, 2, "open", 150.0), InvalidBarsError, ["open outside", "2020-01-06"]),
    "close < low": (lambda b: _set(b, 0, "close", 50.0), InvalidBarsError, ["close outside", "2020-01-02"]),
    "duplicate": (lambda b: _with_times(b, ["2020-01-02", "2020-01-03", "2020-01-03", "2020-01-06", "2020-01-07"]),
                  InvalidBarsError, ["duplicate timestamps", "2020-01-03"]),
    "unsorted": (lambda b: _with_times(b, ["2020-01-02", "2020-01-06", "2020-01-03", "2020-01-07", "2020-01-08"]),
                 InvalidBarsError, ["not in increasing order", "2020-01-03", "sort"]),
    "unparseable date": (lambda b: b.reset_index(drop=True).assign(
        time=["2020-01-02", "2020-01-03", "not a date", "2020-01-07", "2020-01-08"]),
        InvalidBarsError, ["unparseable date 'not a date'", "row 3"]),
    "no timestamps": (lambda b: b.reset_index(drop=True), InvalidBarsError, ["no timestamps"]),
}


@pytest.mark.parametrize("case", list(BAD_BARS))
def test_validate_bars_names_the_problem_and_where(case):
    mutate, error, fragments = BAD_BARS[case]
    with pytest.raises(error) as info:
        validate_bars(mutate(bars()), symbol="TEST")
    message = str(info.value)
    assert message.startswith("TEST: ") and "\n" not in message
    for fragment in fragments:
        assert fragment in message


def test_validate_bars_too_short_says_how_many_are_needed():
    with pytest.raises(InsufficientDataError, match=r"only 5 bars .* need at least 64"):
        validate_bars(bars(), min_rows=64)


def test_validate_bars_returns_the_contract_form():
    raw = bars().astype({"volume": "int64"})
    raw.index = raw.index.tz_localize(None).as_unit("us")  # naive = UTC; any resolution
    raw["extra"] = 1
    out = validate_bars(raw)
    assert list(out.columns) == ["open", "high", "low", "close", "volume"]
    assert (out.dtypes == "float64").all()
    assert str(out.index.dtype) == "datetime64[ns, UTC]" and out.index.name == "time"


def test_validate_bars_allows_zero_volume_and_rounding_slack():
    b = _set(bars(), 0, "volume", 0.0)
    b = _set(b, 1, "open", b["high"].iloc[1] * (1 + 1e-9))  # a vendor's separate rounding of open and high
    assert len(validate_bars(b)) == 5


# --- files -------------------------------------------------------------------------------------

YAHOO_CSV = """Date,Open,High,Low,Close,Adj Close,Volume
2020-01-02,100.0,102.0,99.0,101.0,95.5,1000
2020-01-03,101.0,103.0,100.0,102.0,96.4,0
2020-01-06,102.0,104.0,101.0,103.0,97.3,1200
"""


def test_user_csv_with_yahoo_columns_loads_with_unadjusted_close(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(YAHOO_CSV)
    out = read_ohlcv_file(path)
    assert list(out.columns) == ["open", "high", "low", "close", "volume"]
    assert out["close"].tolist() == [101.0, 102.0, 103.0]  # Close, not Adj Close
    assert out.index[0] == pd.Timestamp("2020-01-02", tz="UTC")


def test_user_csv_variants_normalise(tmp_path):
    """An unnamed index column, newest-first order and epoch timestamps all load."""
    b = bars()
    unnamed = tmp_path / "unnamed.csv"
    b.iloc[::-1].rename_axis(None).to_csv(unnamed)  # first column header is empty, rows newest first
    pd.testing.assert_frame_equal(read_ohlcv_file(unnamed), b)
    epoch = tmp_path / "epoch.csv"
    b.reset_index().assign(time=b.index.asi8 // 10**6).rename(columns={"time": "timestamp"}).to_csv(epoch, index=False)
    pd.testing.assert_frame_equal(read_ohlcv_file(epoch), b)


def test_parquet_loads(tmp_path):
    b = bars()
    path = tmp_path / "bars.parquet"
    b.to_parquet(path)
    pd.testing.assert_frame_equal(read_ohlcv_file(path), b)


BROKEN_FILES = {
    "broken.csv": "Date,Open,High\n2020-01-02,1,2\n",  # missing columns
    "baddate.csv": YAHOO_CSV.replace("2020-01-03", "yesterday"),
    "garbage.csv": "\x00\x01\x02,\n\"unterminated\n",
    "garbage.parquet": "this is not parquet",
}


@pytest.mark.parametrize("name", list(BROKEN_FILES))
def test_broken_file_raises_data_error_naming_the_file(tmp_path, name):
    path = tmp_path / name
    path.write_text(BROKEN_FILES[name])
    with pytest.raises(DataError, match=name.replace(".", r"\.")) as info:
        read_ohlcv_file(path)
    assert "\n" not in str(info.value)


def test_missing_file_raises_data_error(tmp_path):
    with pytest.raises(DataError, match=r"nope\.csv: file not found"):
        read_ohlcv_file(tmp_path / "nope.csv")


# --- resampling --------------------------------------------------------------------------------

def test_daily_to_weekly_matches_hand_computation():
    # Mon 2024-01-01 .. Wed 2024-01-03, then Tue 2024-01-09 .. Thu 2024-01-11 (Monday holiday)
    days = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-09", "2024-01-10", "2024-01-11"]
    daily = pd.DataFrame({
        "open": [10.0, 11.0, 12.0, 20.0, 21.0, 22.0],
        "high": [12.0, 15.0, 13.0, 21.0, 25.0, 23.0],
        "low": [9.0, 10.0, 8.0, 19.0, 20.0, 18.0],
        "close": [11.0, 12.0, 12.5, 21.0, 22.0, 22.5],
        "volume": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    }, index=pd.DatetimeIndex(pd.to_datetime(days, utc=True), name="time").as_unit("ns"))
    weekly = resample_bars(daily, "1wk")
    expected = pd.DataFrame({
        "open": [10.0, 20.0], "high": [15.0, 25.0], "low": [8.0, 18.0], "close": [12.5, 22.5],
        "volume": [6.0, 15.0],
    }, index=pd.DatetimeIndex(pd.to_datetime(["2024-01-01", "2024-01-08"], utc=True), name="time").as_unit("ns"))
    pd.testing.assert_frame_equal(weekly, expected)  # labelled by the week's Monday, holiday or not


def test_hourly_to_daily_matches_hand_computation_and_drops_empty_days():
    times = ["2024-01-02 14:00", "2024-01-02 15:00", "2024-01-02 16:00", "2024-01-04 14:00", "2024-01-04 15:00"]
    hourly = pd.DataFrame({
        "open": [1.0, 2.0, 3.0, 5.0, 6.0], "high": [2.5, 3.5, 4.5, 6.5, 7.5], "low": [0.5, 1.5, 2.5, 4.5, 5.5],
        "close": [2.0, 3.0, 4.0, 6.0, 7.0], "volume": [10.0, 20.0, 30.0, 40.0, 50.0],
    }, index=pd.DatetimeIndex(pd.to_datetime(times, utc=True), name="time").as_unit("ns"))
    daily = resample_bars(hourly, "1d")
    expected = pd.DataFrame({
        "open": [1.0, 5.0], "high": [4.5, 7.5], "low": [0.5, 4.5], "close": [4.0, 7.0], "volume": [60.0, 90.0],
    }, index=pd.DatetimeIndex(pd.to_datetime(["2024-01-02", "2024-01-04"], utc=True), name="time").as_unit("ns"))
    pd.testing.assert_frame_equal(daily, expected)


# --- load_bars: sources and fallbacks ----------------------------------------------------------

def _cache(settings, symbol: str, b: pd.DataFrame, age: pd.Timedelta, interval: str = "1d") -> None:
    with BarCache(settings.data.path("cache_db")) as cache:
        cache.write(symbol, interval, b, fetched_at=pd.Timestamp.now(tz="UTC") - age)


def test_fresh_cache_is_served_without_calling_the_downloader(settings):
    _cache(settings, "AAPL", bars(), pd.Timedelta(hours=3))
    res = load_bars("aapl", settings=settings, downloader=must_not_download)
    assert res.source == "cache" and res.symbol == "AAPL"
    assert res.badge() == "cached, 3 h old"
    pd.testing.assert_frame_equal(res.bars, bars())


@pytest.mark.parametrize("downloader, why", [(failing, "download failed: ConnectionError"),
                                             (empty_download, "returned no data")])
def test_download_failure_falls_back_to_stale_cache(settings, downloader, why):
    _cache(settings, "AAPL", bars(), pd.Timedelta(days=2))
    res = load_bars("AAPL", settings=settings, downloader=downloader)
    assert res.source == "stale-cache" and why in res.note
    assert res.badge() == "stale cache, 2 d old (offline)"
    pd.testing.assert_frame_equal(res.bars, bars())


@pytest.mark.parametrize("downloader", [failing, empty_download])
def test_download_failure_without_cache_falls_back_to_sample(settings, downloader):
    res = load_bars("^GSPC", settings=settings, downloader=downloader)
    assert res.source == "sample" and res.badge() == "offline sample" and res.fetched_at is None
    assert len(res.bars) == 5031 and res.bars.index[0] == pd.Timestamp("1999-01-04", tz="UTC")


def test_successful_download_is_validated_cached_and_reported_live(settings):
    calls = []

    def fake(symbol, **kwargs):
        calls.append((symbol, kwargs))
        return yahoo_frame(bars(10))

    res = load_bars("MSFT", settings=settings, downloader=fake)
    assert res.source == "live" and res.badge() == "live" and calls[0][0] == "MSFT"
    pd.testing.assert_frame_equal(res.bars, bars(10))
    with BarCache(settings.data.path("cache_db")) as cache:
        pd.testing.assert_frame_equal(cache.read("MSFT", "1d"), bars(10))
    again = load_bars("MSFT", settings=settings, downloader=must_not_download)
    assert again.source == "cache" and again.fetched_at == res.fetched_at


def test_a_bar_still_in_progress_is_not_served_or_cached(settings):
    today = pd.Timestamp.now(tz="UTC").normalize()
    live = bars(10, start=str((today - pd.Timedelta(days=9)).date()), freq="D")  # the last bar is today's
    res = load_bars("MSFT", settings=settings, downloader=lambda *a, **k: yahoo_frame(live))
    assert res.source == "live" and res.bars.index[-1] == today - pd.Timedelta(days=1)
    with BarCache(settings.data.path("cache_db")) as cache:
        assert cache.read("MSFT", "1d").index[-1] < today


def test_invalid_download_is_rejected_and_not_cached(settings):
    bad = yahoo_frame(bars()).assign(Low=-5.0)  # a vendor glitch: negative prices
    res = load_bars("^GSPC", settings=settings, downloader=lambda *a, **k: bad)
    assert res.source == "sample" and "download rejected" in res.note
    with BarCache(settings.data.path("cache_db")) as cache:
        assert cache.read("^GSPC", "1d").empty


def test_intraday_download_in_exchange_time_lands_in_utc(settings):
    ny = pd.date_range("2024-01-02 09:30", periods=4, freq="h", tz="America/New_York", name="Datetime")
    raw = yahoo_frame(bars(4)).set_axis(ny)
    res = load_bars("SPY", "1h", settings=settings, downloader=lambda *a, **k: raw)
    assert res.bars.index[0] == pd.Timestamp("2024-01-02 14:30", tz="UTC")


@pytest.mark.parametrize("behaviour", ["raise", "empty"])
def test_yfinance_failure_at_the_network_boundary_falls_back(settings, monkeypatch, behaviour):
    """The default downloader goes through yfinance.download; faking it there exercises the real wrapper."""
    import yfinance

    seen = {}

    def fake_download(tickers, **kwargs):
        seen.update(kwargs, tickers=tickers)
        if behaviour == "raise":
            raise RuntimeError("Yahoo is down")
        return empty_download()

    monkeypatch.delenv("HRM_OFFLINE", raising=False)
    monkeypatch.delenv("HRM_OFFLINE_TESTS", raising=False)
    monkeypatch.setattr(yfinance, "download", fake_download)
    _cache(settings, "^IXIC", bars(), pd.Timedelta(days=3))
    stale = load_bars("^IXIC", settings=settings)
    assert stale.source == "stale-cache"
    sample = load_bars("^GSPC", settings=settings)
    assert sample.source == "sample"
    assert seen["tickers"] == "^GSPC" and seen["auto_adjust"] is True and seen["progress"] is False
    assert seen["multi_level_index"] is False and seen["threads"] is False and seen["period"] == "max"


def test_offline_mode_never_calls_yfinance(settings, monkeypatch):
    import yfinance

    monkeypatch.setenv("HRM_OFFLINE", "1")
    monkeypatch.setattr(yfinance, "download", must_not_download)
    assert load_bars("^GSPC", settings=settings).source == "sample"


def test_unknown_symbol_names_it_and_lists_what_is_offline(settings):
    _cache(settings, "AAPL", bars(), pd.Timedelta(days=5))
    with pytest.raises(UnknownSymbolError) as info:
        load_bars("NOPE", settings=settings, downloader=empty_download)
    message = str(info.value)
    assert "'NOPE'" in message and "^GSPC 1d (sample)" in message and "AAPL 1d (cache)" in message


def test_hourly_is_not_available_offline(settings):
    with pytest.raises(DataError, match="1h bars are not available offline"):
        load_bars("^GSPC", "1h", settings=settings, downloader=failing)


def test_weekly_offline_is_resampled_from_the_daily_sample(settings):
    res = load_bars("^GSPC", "1wk", "2018-12-01", "2018-12-31", settings=settings, downloader=failing)
    daily = load_bars("^GSPC", "1d", "2018-12-03", "2018-12-07", settings=settings, downloader=failing).bars
    assert res.source == "sample" and res.interval == "1wk"
    assert list(res.bars.index.day_name()) == ["Monday"] * 5
    first = res.bars.iloc[0]
    assert first["open"] == daily["open"].iloc[0] and first["close"] == daily["close"].iloc[-1]
    assert first["high"] == daily["high"].max() and first["volume"] == daily["volume"].sum()


def test_start_and_end_are_inclusive_and_accept_strings_and_dates(settings):
    res = load_bars("^GSPC", start="2018-12-24", end=pd.Timestamp("2018-12-28").date(), settings=settings,
                    downloader=failing)
    assert [t.strftime("%m-%d") for t in res.bars.index] == ["12-24", "12-26", "12-27", "12-28"]


def test_a_range_with_no_bars_says_what_is_available(settings):
    with pytest.raises(EmptyDataError, match=r"available: 1999-01-04 \.\. 2018-12-31"):
        load_bars("^GSPC", start="2030-01-01", settings=settings, downloader=failing)


@pytest.mark.parametrize("kwargs, match", [({"interval": "5m"}, "unknown interval '5m'"),
                                           ({"start": "someday"}, "cannot read start date"),
                                           ({"start": "2020-02-01", "end": "2020-01-01"}, "is after end")])
def test_bad_arguments_raise_data_error(settings, kwargs, match):
    with pytest.raises(DataError, match=match):
        load_bars("^GSPC", settings=settings, downloader=failing, **kwargs)


def test_path_reads_a_user_file_and_reports_it(tmp_path, settings):
    path = tmp_path / "mine.csv"
    path.write_text(YAHOO_CSV)
    res = load_bars("", path=path, settings=settings, downloader=must_not_download)
    assert res.source == "file" and res.badge() == "file: mine.csv" and len(res.bars) == 3
    with pytest.raises(DataError, match="coarser than 1h"):
        load_bars("", "1h", path=path, settings=settings)


def test_badge_ages():
    def at(source, age):
        return LoadResult(bars(), "X", "1d", source, NOW - age).badge(now=NOW)

    assert at("cache", pd.Timedelta(minutes=20)) == "cached, 20 min old"
    assert at("cache", pd.Timedelta(hours=30)) == "cached, 30 h old"
    assert at("stale-cache", pd.Timedelta(days=9)) == "stale cache, 9 d old (offline)"
    assert LoadResult(bars(), "X", "1d", "sample", None).badge() == "offline sample"


def test_list_available_shows_sample_and_cache(settings):
    _cache(settings, "AAPL", bars(7), pd.Timedelta(hours=1), interval="1wk")
    table = list_available(settings)
    assert list(table.columns) == ["symbol", "interval", "source", "first", "last", "rows"]
    rows = {(r.symbol, r.interval, r.source): r.rows for r in table.itertuples()}
    assert rows == {("^GSPC", "1d", "sample"): 5031, ("^IXIC", "1d", "sample"): 5031, ("AAPL", "1wk", "cache"): 7}


def test_listing_does_not_create_the_cache_file(settings):
    list_available(settings)
    assert not settings.data.path("cache_db").exists()


def test_sample_index_matches_the_files(settings):
    for entry in data.sample_index(settings):
        b = read_ohlcv_file(settings.data.path("sample_dir") / entry["file"])
        assert len(b) == entry["rows"] and b.index[0].strftime("%Y-%m-%d") == entry["first"]


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_data_show_works_offline(settings, capsys):
    assert hrm_cli.main(["data", "show", "^GSPC", "--json"]) == 0
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert payload["source"] == "sample" and payload["badge"] == "offline sample" and payload["rows"] == 5031
    assert len(payload["tail"]) == 5 and err == ""


def test_cli_data_show_broken_csv_prints_one_line(tmp_path, settings, capsys):
    broken = tmp_path / "broken.csv"
    broken.write_text(BROKEN_FILES["broken.csv"])
    assert hrm_cli.main(["data", "show", "--csv", str(broken)]) != 0
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "broken.csv" in err


def test_cli_data_list_and_fetch_offline(settings, capsys):
    assert hrm_cli.main(["data", "list", "--json"]) == 0
    assert {r["symbol"] for r in json.loads(capsys.readouterr().out)} == {"^GSPC", "^IXIC"}
    assert hrm_cli.main(["data", "fetch", "^IXIC", "--interval", "1wk"]) == 0
    assert "offline sample" in capsys.readouterr().out


def test_extract_script_reproduces_the_committed_sample(tmp_path):
    """scripts/extract_sample.py regenerates data_cache/sample/ byte for byte (provenance is checkable)."""
    import runpy

    from hrm_core.settings import PROJECT_ROOT

    script = runpy.run_path(str(PROJECT_ROOT / "scripts" / "extract_sample.py"))  # not as __main__: no run
    script["extract"](tmp_path)
    committed = PROJECT_ROOT / "data_cache" / "sample"
    for name in ("GSPC_1d.csv", "IXIC_1d.csv", "index.json", "PROVENANCE.md"):
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name
