"""`hrm live`, `hrm reconcile`, `hrm health`, `hrm warm`: paper trading, live-vs-backtest reconciliation, model
health, and filling the dashboard's stores."""
from __future__ import annotations

import argparse
import sys

from hrm_cli.common import emit, warn_fit


def _db(args):
    from hrm_core.live.ledger import ledger_db_path

    return args.db or ledger_db_path(args.settings)


def _progress(done: int, total: int) -> None:
    """A one-line progress bar on stderr when it is a terminal (the JSON on stdout stays clean)."""
    if sys.stderr.isatty() and (done == total or done % 20 == 0):
        width = 30
        fill = int(width * done / total)
        print(f"\r... replay [{'#' * fill}{'.' * (width - fill)}] {done}/{total} bars", end="\n" if done == total
              else "", file=sys.stderr, flush=True)


def cmd_live(args) -> int:
    import torch

    from hrm_core.live.trader import parse_every, replay, run_loop, run_once

    # One window per decision: intra-op threads only add synchronisation (and spin-waits on a busy machine).
    torch.set_num_threads(1)
    s, symbol = args.settings, args.symbol or ("" if args.csv else args.settings.data.default_symbols[0])
    common = dict(symbol=symbol, interval=args.interval, model=args.model, db=_db(args), csv=args.csv)
    if args.replay:
        summary = replay(s, start=args.replay[0], end=args.replay[1], progress=None if args.json else _progress,
                         **common)
    elif args.loop:
        decided = run_loop(s, every_s=parse_every(args.every), **common,
                           report=lambda line: print(line, file=sys.stderr, flush=True))
        emit({"db": str(common["db"]), "decided": decided, "stopped": "signal"}, args.json,
             lambda p: f"stopped cleanly after deciding {p['decided']} bar(s); ledger {p['db']}")
        return 0
    else:
        summary = run_once(s, **common)
    emit(summary.to_dict(), args.json, lambda p: (
        f"{p['book']} ({p['mode']}, data {p['source']}): {p['decided']} bar(s) decided"
        + (f" {p['first'][:10]} .. {p['last'][:10]}, equity {p['equity']:.4f}, last action {p['last_action']}"
           if p["decided"] else "") + f" in {p['seconds']} s; ledger {p['db']}"
        + "".join(f"\nnote: {n}" for n in p["notes"])))
    return 0


def cmd_reconcile(args) -> int:
    from hrm_core.live.reconcile import reconcile

    from hrm_core.model.checkpoint import load_checkpoint

    rec = reconcile(_db(args), args.settings, symbol=args.symbol, interval=args.interval_filter)
    warn_fit(load_checkpoint(rec.book.model_path), rec.book.symbol, rec.book.interval)
    payload = rec.to_dict()
    emit(payload, args.json, lambda p: _render_reconcile(p, rec))
    return 0


def _render_reconcile(p: dict, rec) -> str:
    pnl = p["pnl_difference"]
    lines = [
        f"{p['book']}: {p['first'][:10]} .. {p['last'][:10]}, {p['bars_ledger']} ledger bars vs {p['bars_data']} "
        f"data bars -> {p['verdict']}",
        f"signal agreement {p['signal_agreement']:.1%}; max |position gap| {p['position_max_abs_diff']:.3g} "
        f"({p['numerical_noise_bars']} bar(s) with float32 noise only); execution parity "
        f"{p['execution_parity_max_abs_diff']:.3g}",
        f"fills: live {p['fills']['live']}, backtest {p['fills']['backtest']}; final equity live "
        f"{p['equity']['live_final']:.6f}, backtest {p['equity']['backtest_final']:.6f}",
        f"PnL difference {pnl['total']:+.3g} = signal {pnl['signal']:+.3g} + fill/timing {pnl['fill_timing']:+.3g} "
        f"+ cost {pnl['cost']:+.3g} ({pnl['unit']})",
    ]
    diff = rec.differences()
    if len(diff):
        lines.append("bars that differ:")
        lines += [f"  {t:%Y-%m-%d %H:%M}  {r}" for t, r in diff["reason"].head(20).items()]
    return "\n".join(lines)


def cmd_health(args) -> int:
    """Exit code 0 green, 1 amber, 2 red (errors also exit 2: a health check that cannot run is not green)."""
    from hrm_core.live import alerts
    from hrm_core.live.monitor import health

    ref = tuple(args.reference) if args.reference else None
    rep = health(_db(args), args.settings, symbol=args.symbol, interval=args.interval_filter, reference=ref,
                 record=not args.no_record)
    if not args.no_record and alerts.verdict_change(rep.previous, rep.status):  # alerts follow the recorded history
        for line in alerts.send(args.settings.alerts, alerts.verdict_text(rep.book.label, rep.previous, rep.status,
                                                                          rep.reasons),
                                {"kind": "health", "book": rep.book.label, "status": rep.status,
                                 "previous": rep.previous, "reasons": rep.reasons}):
            print(f"warning: {line}", file=sys.stderr)
    emit(rep.to_dict(), args.json, lambda p: "\n".join(
        [f"{p['book']} ({p['decisions']} decisions): {p['verdict']}",
         *(f"  - {c['name']}: {c['status']}: {c['detail']}" for c in p["checks"].values())]))
    return rep.exit_code


def cmd_warm(args) -> int:
    """Fill the stores the dashboard reads (signals of every checkpoint, the default model's diagnostics)."""
    from hrm_core.served.warm import warm_stores

    done = warm_stores(args.settings, symbols=tuple(args.symbols) if args.symbols else None)
    emit(done.to_dict(), args.json, lambda p: f"stores filled in {p['seconds']} s: {p['done']} of {p['total']} "
         "results (signals of every checkpoint, the default model's diagnostics)"
         + "".join(f"\nnote: {n}" for n in p["problems"]))
    return 0


def add_verbs(sub) -> None:
    """Register `hrm live`, `hrm reconcile`, `hrm health` and `hrm warm` on the `hrm` subparsers."""
    p = sub.add_parser("live", help="paper-trade the model on each new completed bar, into a SQLite ledger")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="decide the bars the ledger lacks, then exit (default)")
    mode.add_argument("--loop", action="store_true", help="repeat every --every until SIGINT/SIGTERM")
    mode.add_argument("--replay", nargs=2, metavar=("START", "END"),
                      help="drive the live step bar by bar over stored history, e.g. 2018-01-01 2018-12-31")
    p.add_argument("--every", default="60s", help="loop period: 60s, 5m, 1h (default 60s)")
    p.add_argument("--symbol", default=None, help="ticker (default: the first of settings' default_symbols)")
    p.add_argument("--interval", default=None, help="1h, 1d or 1wk (default from settings)")
    p.add_argument("--model", default=None, help="checkpoint path or name in models/ (default: the shipped model)")
    p.add_argument("--csv", default=None, metavar="PATH", help="your own OHLCV file (CSV or Parquet) as the data")
    _ledger_args(p)
    p.set_defaults(func=cmd_live)

    p = sub.add_parser("reconcile", help="ledger vs the vectorised backtest, bar by bar and trade by trade")
    _ledger_args(p, book=True)
    p.set_defaults(func=cmd_reconcile)

    p = sub.add_parser("health", help="calibrated drift, realised performance, calendar staleness, latency, "
                                      "faults; exit 0 green / 1 amber / 2 red")
    _ledger_args(p, book=True)
    p.add_argument("--reference", nargs=2, metavar=("START", "END"), default=None,
                   help="compare features and predictions with this period (default: the model's train / test)")
    p.add_argument("--no-record", action="store_true", help="do not append the verdict to the alert history")
    p.set_defaults(func=cmd_health)

    p = sub.add_parser("warm", help="fill the stores the dashboard reads: every checkpoint's signals, the default "
                                    "model's diagnostics, backtests and newest explanation (make run does it)")
    p.add_argument("--symbols", nargs="+", default=None, help="instruments (default: the settings' defaults)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_warm)


def _ledger_args(p: argparse.ArgumentParser, *, book: bool = False) -> None:
    p.add_argument("--db", default=None, metavar="PATH", help="ledger file (default: data_cache/live.db)")
    if book:
        p.add_argument("--symbol", default=None, help="the book to read when the ledger holds several")
        p.add_argument("--interval", dest="interval_filter", default=None, help="(with --symbol) its interval")
    p.add_argument("--json", action="store_true")


__all__ = ["add_verbs"]
