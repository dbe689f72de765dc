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


N_STEPS_RANGE = (1, 512)  # integration points of integrated gradients (hrm explain)
N_BOOT_RANGE = (0, 100_000)  # bootstrap replications (hrm backtest / evaluate / diagnose / skill)


def bounded_int(low: int, high: int, what: str) -> Callable[[str], int]:
    """An argparse `type`: a whole number in [low, high], or a one-line error naming the range."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ({what}: {low}..{high})") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: {what} must be between {low} and {high}")
        return value
    parse.__name__ = what  # argparse names the type in its messages
    return parse


def n_steps_arg() -> Callable[[str], int]:
    return bounded_int(*N_STEPS_RANGE, "integration steps")


def n_boot_arg() -> Callable[[str], int]:
    return bounded_int(*N_BOOT_RANGE, "bootstrap replications")


def add_data_args(p: argparse.ArgumentParser, *, csv: bool = True) -> None:
    p.add_argument("--interval", default=None, help="1h, 1d or 1wk (default from settings)")
    p.add_argument("--start", default=None, help="first date, e.g. 2015-01-01")
    p.add_argument("--end", default=None, help="last date")
    if csv:
        p.add_argument("--csv", default=None, metavar="PATH", help="your own OHLCV file (CSV or Parquet)")
