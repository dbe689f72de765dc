"""What every verb shares: printing a result as JSON or text, and the market-data flags."""
from __future__ import annotations

import argparse
import json
from typing import Callable


def emit(payload, as_json: bool, render: Callable[[object], str] | None = None) -> None:
    """Print a verb's result as JSON (machine) or text (human)."""
    if as_json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(render(payload) if render else payload)


def add_data_args(p: argparse.ArgumentParser, *, csv: bool = True) -> None:
    p.add_argument("--interval", default=None, help="1h, 1d or 1wk (default from settings)")
    p.add_argument("--start", default=None, help="first date, e.g. 2015-01-01")
    p.add_argument("--end", default=None, help="last date")
    if csv:
        p.add_argument("--csv", default=None, metavar="PATH", help="your own OHLCV file (CSV or Parquet)")
