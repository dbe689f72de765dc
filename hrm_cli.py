"""The `hrm` command: a face like the dashboard pages, calling the same functions in hrm_core and explain.

Every verb that reports takes --json. Errors print one line and exit non-zero;
a traceback only with --debug.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Callable

from hrm_core.errors import HRMError
from hrm_core.settings import load_settings


def _emit(payload, as_json: bool, render: Callable[[object], str] | None = None) -> None:
    """Print a verb's result as JSON (machine) or text (human)."""
    if as_json:
        print(json.dumps(payload, indent=2, default=str))
    else:
        print(render(payload) if render else payload)


# --- data --------------------------------------------------------------------------------------

def cmd_data_list(args) -> int:
    from hrm_core.data import list_available

    table = list_available(settings=args.settings)
    _emit(table.to_dict(orient="records"), args.json, lambda _: table.to_string(index=False))
    return 0


def cmd_data_fetch(args) -> int:
    from hrm_core.data import load_bars

    rows = []
    for symbol in args.symbols:
        res = load_bars(symbol, args.interval, args.start, args.end, settings=args.settings)
        rows.append({"symbol": symbol, "interval": args.interval, "source": res.source,
                     "badge": res.badge(), "rows": len(res.bars),
                     "first": res.bars.index[0], "last": res.bars.index[-1]})
    _emit(rows, args.json, lambda r: "\n".join(
        f"{x['symbol']} {x['interval']}: {x['rows']} bars {x['first']:%Y-%m-%d} .. {x['last']:%Y-%m-%d} ({x['badge']})"
        for x in r))
    return 0


def cmd_data_show(args) -> int:
    from hrm_core.data import load_bars

    if not args.symbol and not args.csv:
        raise HRMError("give a SYMBOL or --csv PATH")
    res = load_bars(args.symbol or "", args.interval, args.start, args.end, path=args.csv, settings=args.settings)
    bars = res.bars
    payload = {
        "symbol": res.symbol, "interval": res.interval, "source": res.source, "badge": res.badge(),
        "fetched_at": res.fetched_at, "rows": len(bars), "first": bars.index[0], "last": bars.index[-1],
        "tail": bars.tail(args.rows).reset_index().to_dict(orient="records"),
    }
    _emit(payload, args.json, lambda p: (
        f"{p['symbol']} {p['interval']} - {p['rows']} bars {p['first']} .. {p['last']} ({p['badge']})\n"
        + bars.tail(args.rows).to_string()))
    return 0


# --- parser ------------------------------------------------------------------------------------

def _add_data_args(p: argparse.ArgumentParser, *, csv: bool = True) -> None:
    p.add_argument("--interval", default=None, help="1h, 1d or 1wk (default from settings)")
    p.add_argument("--start", default=None, help="first date, e.g. 2015-01-01")
    p.add_argument("--end", default=None, help="last date")
    if csv:
        p.add_argument("--csv", default=None, metavar="PATH", help="your own OHLCV file (CSV or Parquet)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hrm", description="HRM Trader command line")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("--settings", default=None, help="settings file (default ./hrm.toml)")
    sub = parser.add_subparsers(dest="verb", required=True)

    data = sub.add_parser("data", help="market data: sample, cache, yfinance").add_subparsers(dest="action", required=True)
    p = data.add_parser("list", help="instruments available offline and in the cache")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_list)
    p = data.add_parser("fetch", help="download into the cache (falls back to cache/sample offline)")
    p.add_argument("symbols", nargs="+")
    _add_data_args(p, csv=False)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_fetch)
    p = data.add_parser("show", help="summary and last rows of one instrument")
    p.add_argument("symbol", nargs="?")
    _add_data_args(p)
    p.add_argument("--rows", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_data_show)

    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.settings = load_settings(args.settings)
        if getattr(args, "interval", "unset") is None:
            args.interval = args.settings.data.default_interval
        return args.func(args)
    except (HRMError, ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"hrm: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
