"""`hrm diagnose`: do the loops converge, how deep does the model think, and does depth track volatility."""
from __future__ import annotations

import sys
import time

from hrm_core.errors import HRMError
from hrm_cli.common import MODEL_PERIOD_HELP, add_data_args, emit, file_span_if_outside, n_boot_arg, warn, warn_fit


def _fmt(v, spec: str = ".3f") -> str:
    return "n/a" if v is None else format(v, spec)


def _ci(d: dict | None, spec: str = ".2f") -> str:
    if not d or d.get("value") is None:
        return "n/a" + (f" ({d['note']})" if d and d.get("note") else "")
    lo, hi = d["ci"]
    return f"{d['value']:{spec}} [{_fmt(lo, spec)}, {_fmt(hi, spec)}]"


def render(p: dict) -> str:
    """Human summary of a diagnose payload (the JSON holds everything)."""
    head = f"{p['model']} on {p['symbol']} {p['interval']}, {p['period']['label']}"
    if not p.get("applicable"):
        return f"{head}: {p['note']}"
    claims = p["seed_claims"]
    ha = p["halting_agreement"]
    lines = [
        f"{head}: {p['decisions']} decisions {p['first'][:10]} .. {p['last'][:10]} (data: {p.get('data', '?')})",
        f"convergence rate {p['convergence_rate']:.1%} as run, {p['convergence_rate_full_depth']:.1%} at full depth "
        f"(seed claims {claims['convergence_rate']:.1%}, unverified)",
        f"  criterion: {p['criterion']}",
        f"mean segments {p['mean_segments']:.2f} of {p['max_segments']} (seed claims {claims['mean_segments']} of "
        f"{claims['max_segments']}); histogram {p['segments_histogram']}",
        f"depth vs realised volatility (Spearman, 95% CI): {_ci(p['depth_volatility_corr'])}",
        f"participation ratio H {_ci(p['participation_ratio_h'])}, L {_ci(p['participation_ratio_l'])}",
        f"halting vs full depth: {ha['rate']:.1%} same action, PnL difference {ha['pnl_difference_pct']:+.2f} pp",
    ]
    for row in p.get("models", []):
        lines.append(f"  {row['model']}: " + (row.get("note") or "") if not row.get("applicable") else
                     f"  {row['model']}: convergence {row['convergence_rate']:.1%}, segments "
                     f"{row['mean_segments']:.2f}, PR_H {_ci(row['participation_ratio_h'], '.1f')}, "
                     f"PR_L {_ci(row['participation_ratio_l'], '.1f')}")
    if "docs" in p:
        lines.append(f"wrote the diagnostics section of {p['docs']}")
    return "\n".join(lines)


def _command(args) -> str:
    """The command line that regenerates the docs section (recorded in it)."""
    parts = ["hrm diagnose", "--docs", args.docs, "--interval", args.interval]
    for flag in ("symbol", "start", "end", "model"):
        if getattr(args, flag):
            parts += [f"--{flag}", str(getattr(args, flag))]
    return " ".join(parts)


def cmd_diagnose(args) -> int:
    from hrm_core.model.cards import list_checkpoints, resolve_model
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars
    from hrm_core.reasoning.diagnostics import compare_models, decision_view, diagnose_period
    from hrm_core.storage.results import ResultStore, results_db_path

    t0, s = time.perf_counter(), args.settings
    symbol = args.symbol or (s.data.default_symbols[0] if args.docs and not args.csv else None)
    if not symbol and not args.csv:
        raise HRMError("give --symbol SYMBOL or --csv PATH")
    loaded = load_checkpoint(resolve_model(args.model, s))
    res = load_bars(symbol or "", args.interval, path=args.csv, settings=s)
    warn_fit(loaded, res.symbol, args.interval)
    span_note = file_span_if_outside(args, loaded, res.bars)
    if span_note:
        warn(span_note)
    store = ResultStore(results_db_path(s))
    kw = dict(symbol=res.symbol, interval=args.interval, settings=s, store=store, n_boot=args.n_boot)
    payload = diagnose_period(loaded, res.bars, start=args.start, end=args.end, **kw)
    payload["data"] = res.badge()
    if span_note:
        payload["period_note"] = span_note
    if not args.per_decision:
        payload.pop("per_decision", None)
    if args.at:
        payload["decision"] = decision_view(loaded, res.bars, symbol=res.symbol, interval=args.interval, at=args.at)
    if args.compare or args.docs:
        models = [load_checkpoint(c.path) for c in list_checkpoints(s.data.path("models_dir"))]
        payload["models"] = compare_models(models, res.bars, start=args.start, end=args.end, **kw)
    if args.docs:
        from hrm_core.reasoning.report import write_docs_section

        symbols = [args.symbol] if args.symbol else list(s.data.default_symbols)
        payload["docs"] = str(write_docs_section(args.docs, symbols=symbols, interval=args.interval, settings=s,
                                                 start=args.start, end=args.end, store=store, command=_command(args),
                                                 progress=lambda m: print(f"... {m}", file=sys.stderr)))
    if store.warning:
        payload["cache_warning"] = store.warning
    payload["elapsed_s"] = round(time.perf_counter() - t0, 3)
    emit(payload, args.json, render)
    return 0


def add_verbs(sub) -> None:
    """Register `hrm diagnose` on the `hrm` subparsers."""
    p = sub.add_parser("diagnose", help="reasoning diagnostics: convergence, ACT depth, participation ratio")
    p.add_argument("--symbol", default=None)
    p.add_argument("--model", default=None, help="checkpoint path or name in models/ (default: the shipped model)")
    add_data_args(p, default_period=MODEL_PERIOD_HELP)
    p.add_argument("--at", default=None, metavar="TIME", help="also trace this one decision (the bar at or before)")
    p.add_argument("--compare", action="store_true", help="the same figures for every checkpoint in models/")
    p.add_argument("--docs", nargs="?", const="docs/results.md", default=None, metavar="MD",
                   help="write the diagnostics section of MD (default docs/results.md): every model on --symbol, "
                        "else on the settings' default symbols")
    p.add_argument("--per-decision", action="store_true", help="include one row per decision in the JSON")
    p.add_argument("--n-boot", type=n_boot_arg(), default=1000, help="bootstrap replications for the intervals")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_diagnose)
