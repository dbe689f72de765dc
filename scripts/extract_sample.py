"""Extract the bundled offline sample (S&P 500, NASDAQ Composite daily bars 1999-2018) from the `arch` package.

Why: the app and the tests must work with no network, on real market data that we may
redistribute. `arch` (NCSA licence) ships both series as gzip CSVs; we copy them into
small committed CSVs in the bars layout of hrm_core.data.market, plus an index and a provenance note.

Run from the project root:  .venv/bin/python scripts/extract_sample.py
The output is deterministic: running it twice gives byte-identical files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Callable

import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = PROJECT_ROOT / "data_cache" / "sample"
PRICE_DECIMALS = 2  # index levels are quoted in cents; arch's float32-widened values round back exactly


@dataclass(frozen=True)
class Series:
    symbol: str  # Yahoo ticker, the key the app uses
    name: str
    module: str  # arch.data submodule holding the series
    file: str


SERIES = (
    Series("^GSPC", "S&P 500 index", "sp500", "GSPC_1d.csv"),
    Series("^IXIC", "NASDAQ Composite index", "nasdaq", "IXIC_1d.csv"),
)


def load_arch(module: str) -> pd.DataFrame:
    """Load one arch example data set (columns Open, High, Low, Close, Adj Close, Volume)."""
    import importlib

    return importlib.import_module(f"arch.data.{module}").load()


def to_sample_frame(raw: pd.DataFrame) -> tuple[pd.DataFrame, float]:
    """Raw arch frame -> bars layout (time, open, high, low, close, volume) and max |Close - Adj Close|."""
    adj_gap = float((raw["Close"] - raw["Adj Close"]).abs().max())
    out = pd.DataFrame({
        "time": pd.DatetimeIndex(raw.index).strftime("%Y-%m-%d"),
        "open": raw["Open"].round(PRICE_DECIMALS),
        "high": raw["High"].round(PRICE_DECIMALS),
        "low": raw["Low"].round(PRICE_DECIMALS),
        "close": raw["Close"].round(PRICE_DECIMALS),  # unadjusted Close; equal to Adj Close for these indices
        "volume": raw["Volume"].astype("int64"),
    })
    check_frame(out)
    return out.reset_index(drop=True), adj_gap


def check_frame(df: pd.DataFrame) -> None:
    """Fail loudly if rounding or the source broke the bar contract (sorted unique dates, sane OHLC)."""
    problems = []
    if df.isna().any().any():
        problems.append("NaN values")
    if not (df["time"].is_monotonic_increasing and df["time"].is_unique):
        problems.append("dates not strictly increasing")
    if (df[["open", "high", "low", "close"]] <= 0).any().any():
        problems.append("non-positive prices")
    if (df["high"] < df[["open", "low", "close"]].max(axis=1)).any():
        problems.append("high below open/low/close")
    if (df["low"] > df[["open", "high", "close"]].min(axis=1)).any():
        problems.append("low above open/high/close")
    if (df["volume"] < 0).any():
        problems.append("negative volume")
    if problems:
        raise SystemExit(f"sample extraction failed: {', '.join(problems)}")


def sha256(path: Path) -> str:
    """Hex digest of a file, recorded so a reader can check the committed files."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def provenance_text(entries: list[dict], gaps: dict[str, float], arch_version: str) -> str:
    """The PROVENANCE.md body: where the data came from, what it contains, how to regenerate it."""
    rows = "\n".join(
        f"| `{e['symbol']}` | {e['name']} | `{e['file']}` | {e['interval']} | {e['first']} | {e['last']} "
        f"| {e['rows']} | {gaps[e['symbol']]:.6g} | `{e['sha256'][:16]}...` |"
        for e in entries)
    return f"""# Bundled offline sample: provenance

Real daily market data shipped with the project so that the dashboard, the CLI and the
tests work with no network. `hrm_core.data.market` serves it as source `"sample"` ("offline sample")
when neither the SQLite cache nor yfinance can provide a symbol.

## Source

- Package: `arch` {arch_version} (Kevin Sheppard), data sets `arch.data.sp500` and `arch.data.nasdaq`
  (`load()` returns the example data used in arch's documentation; originally Yahoo! Finance).
- Licence: the `arch` package, data included, is distributed under the University of
  Illinois/NCSA Open Source License (a BSD-style permissive licence). Copyright (c) 2017 Kevin Sheppard.
  The full text is in the installed package: `arch-{arch_version}.dist-info/licenses/LICENSE.md`.

## Files

| symbol | name | file | interval | first | last | rows | max abs(Close - Adj Close) in source | sha256 |
|---|---|---|---|---|---|---|---|---|
{rows}

`index.json` maps each symbol to its file and interval; `hrm_core.data.market` reads it.

## Columns

- `time`: trading date, ISO `YYYY-MM-DD` (exchange date; loaded as 00:00 UTC of that date).
- `open, high, low, close`: index levels rounded to {PRICE_DECIMALS} decimals (arch stores them as
  float32-widened values such as 1229.229980; rounding restores the quoted cents).
- `close` is the unadjusted `Close`. The source's `Adj Close` is dropped: for these price indices it
  equals `Close` on every row (maximum difference above), as expected for indices without dividends
  or splits.
- `volume`: shares traded, integer as in the source. Two NASDAQ rows have volume 0 (as in the source);
  zero volume is valid for indices.

Period: 1999-01-04 .. 2018-12-31, NYSE/NASDAQ trading days only (no weekend or holiday rows).
The script checks the bar contract (sorted unique dates, positive prices, low <= open, close <= high)
after rounding and refuses to write otherwise.

## Regenerate

```
.venv/bin/python scripts/extract_sample.py          # writes data_cache/sample/
```

The output is deterministic (same arch version -> byte-identical files).
"""


def extract(out_dir: Path, loader: Callable[[str], pd.DataFrame] = load_arch) -> list[dict]:
    """Write one CSV per series, index.json and PROVENANCE.md into out_dir; return the index entries."""
    out_dir.mkdir(parents=True, exist_ok=True)
    entries, gaps = [], {}
    for s in SERIES:
        frame, gaps[s.symbol] = to_sample_frame(loader(s.module))
        path = out_dir / s.file
        frame.to_csv(path, index=False, lineterminator="\n", float_format=f"%.{PRICE_DECIMALS}f")
        entries.append({
            "symbol": s.symbol, "name": s.name, "file": s.file, "interval": "1d",
            "first": frame["time"].iloc[0], "last": frame["time"].iloc[-1], "rows": len(frame),
            "sha256": sha256(path),
        })
    arch_version = version("arch")
    index = {"source": f"arch {arch_version} (arch.data.sp500, arch.data.nasdaq); see PROVENANCE.md",
             "series": entries}
    (out_dir / "index.json").write_text(json.dumps(index, indent=2) + "\n")
    (out_dir / "PROVENANCE.md").write_text(provenance_text(entries, gaps, arch_version))
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default data_cache/sample)")
    args = parser.parse_args(argv)
    for e in extract(args.out):
        print(f"{e['symbol']:7s} {e['file']:12s} {e['rows']} rows {e['first']} .. {e['last']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
