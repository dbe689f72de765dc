"""What every verb shares: printing a result as JSON or text, and the market-data flags."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable


def emit(payload, as_json: bool, render: Callable[[object], str] | None = None) -> None:
    """Print a verb's result as JSON (machine) or text (human)."""
    if as_json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(render(payload) if render else payload)


N_STEPS_RANGE = (2, 512)  # integration points of integrated gradients (hrm explain; fewer than 2 is no integral)
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


def warn(message: str) -> None:
    """One warning line on stderr: the result is still printed (and the exit code stays 0)."""
    print(f"hrm: warning: {message}", file=sys.stderr)


def warn_fit(loaded, symbol: str, interval: str) -> None:
    """The warning `hrm signals` gives when a model runs on an instrument or interval it was not trained on."""
    from hrm_core.trading.signals import model_fit_notes

    for note in model_fit_notes(loaded, symbol, interval):
        warn(note)


def file_span_if_outside(args, loaded, bars) -> str | None:
    """With no --start/--end on a --csv file that the model's test period misses, use the file's own span
    (args.start / args.end are set) and return the sentence that says so; else None."""
    from hrm_core.evaluation.evaluate import evaluation_period

    if not getattr(args, "csv", None) or args.start or args.end or not len(bars):
        return None
    period = evaluation_period(loaded)
    if period.start is None or period.mask(bars.index, args.interval).any():
        return None
    args.start, args.end = f"{bars.index[0]:%Y-%m-%d}", f"{bars.index[-1]:%Y-%m-%d}"
    return (f"the model's {period.label} ({period.start} .. {period.end}) lies outside {args.csv} "
            f"({args.start} .. {args.end}): using the file's own span; pass --start/--end to choose")


def n_steps_arg() -> Callable[[str], int]:
    return bounded_int(*N_STEPS_RANGE, "integration steps")


def n_boot_arg() -> Callable[[str], int]:
    return bounded_int(*N_BOOT_RANGE, "bootstrap replications")


MODEL_PERIOD_HELP = ("(default: the model's test period; when that lies outside a --csv file, the file's "
                     "own span, and the output says so)")


def add_data_args(p: argparse.ArgumentParser, *, csv: bool = True, default_period: str = "") -> None:
    p.add_argument("--interval", default=None, help="1h, 1d or 1wk (default from settings)")
    p.add_argument("--start", default=None, help=f"first date, e.g. 2015-01-01 {default_period}".strip())
    p.add_argument("--end", default=None, help=f"last date {default_period}".strip())
    if csv:
        p.add_argument("--csv", default=None, metavar="PATH", help="your own OHLCV file (CSV or Parquet)")
