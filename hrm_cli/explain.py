"""`hrm explain`: why the model decided at one bar (H vs L, cycles, feature x time), or the H/L split over a period."""
from __future__ import annotations

import sys

from hrm_core.errors import HRMError
from hrm_cli.common import (MODEL_PERIOD_HELP, N_STEPS_RANGE, add_data_args, emit, file_span_if_outside, n_steps_arg,
                             warn, warn_fit)


def _render_decision(p: dict) -> str:
    m = p["module"]
    lines = [f"{p['symbol']} {p['interval']} at {p['time'][:16]} - {p['model']} (target: {p['target']['name']})",
             p["summary"], ""]
    if m["applicable"]:
        share = (f"H {m['h_share']:+.0%}, L {m['l_share']:+.0%} of the move, {m['lead']}"
                 if m["h_share"] is not None else "not measurable")
        lines.append(f"H vs L (final update's inputs): A_H {m['h']:+.4f}, A_L {m['l']:+.4f} ({share}); completeness "
                     "delta " + (f"{100 * m['completeness_delta']:.3f} %" if m["completeness_delta"] is not None
                                 else "n/a"))
    else:
        lines.append(f"H vs L: {m['note']}")
    for c in p["cycles"]["steps"]:
        lines.append(f"  probe cycle {c['index'] + 1} (segment {c['segment']}, cycle {c['cycle']}): short "
                     f"{c['p_short']:.2f} flat {c['p_flat']:.2f} long {c['p_long']:.2f}; attribution {c['attribution']:+.4f}")
    fc = p["features"]["completeness_delta"]
    lines.append(f"Top inputs (baseline {p['baseline']['name']}, completeness delta "
                 + (f"{100 * fc:.3f} %):" if fc is not None else "n/a):"))
    lines += [f"  {t['words']}: {t['attribution']:+.4f} ({t['direction']})" for t in p["top_features"]]
    lines += ["What would change it:"] + [f"  {c['text']}" for c in p["counterfactual"]]
    if p["similar"]:
        lines.append(f"Similar situations ({p['similar_note']}):")
        lines += [f"  {s['time'][:10]}: {s['action']} {s['position']:+.2f}, then {100 * s['forward_return']:+.2f} % "
                  f"(model {100 * s['model_pnl']:+.3f} %)" for s in p["similar"]]
    st = p["stability"]
    lines.append(f"Stability across seeds: {st['text'] if st.get('available') else st.get('note', 'n/a')}")
    lines += [f"Caveat: {c}" for c in p["caveats"]]
    return "\n".join(lines)


def _render_period(p: dict) -> str:
    from explain.docs import _pct, _signed, format_ci as _ci

    c = p["claims"]
    return "\n".join([
        f"{p['symbol']} {p['interval']}, {p['period']['label']} ({p['period']['start']} .. {p['period']['end']}): "
        f"{p['decisions']} decisions, {p['model']}{' (cached)' if p['cached'] else ''}, {p['elapsed_s']} s, "
        f"target {p['target']}",
        f"H-led decisions: {_ci(p['h_led_share'])} (seed claims {100 * c['strategic share of decisions']:.0f} %); "
        f"L-led {_ci(p['l_led_share'])}; mixed {_pct(p['mixed_share'])}",
        f"Net PnL {_ci(p['pnl_total'], _signed)}: H-led decisions {_ci(p['pnl_h_led'], _signed)}"
        + (f", {_ci(p['pnl_share_h_led'])} of it" if p["pnl_share_h_led"] else f" ({p['pnl_note']})")
        + f" (seed claims {100 * c['share of performance from strategic decisions']:.0f} %)",
        *(f"note: {n}" for n in p["notes"])])


def cmd_explain(args) -> int:
    from explain import explain_decision
    from explain.report import write_html
    from hrm_core.model.cards import resolve_model
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars

    if not args.symbol and not args.csv:
        raise HRMError("give --symbol SYMBOL or --csv PATH")
    if (args.at is None) == (not args.period):
        raise HRMError("give --at TIME (one decision) or --period (every decision of a period), one of the two")
    loaded = load_checkpoint(resolve_model(args.model, args.settings))
    res = load_bars(args.symbol or "", args.interval, path=args.csv, settings=args.settings)
    warn_fit(loaded, res.symbol, args.interval)
    if args.period:
        return _period(args, loaded, res)
    ex = explain_decision(loaded, res.bars, args.at, symbol=res.symbol, interval=args.interval, target=args.target,
                          n_steps=args.n_steps, baseline=args.baseline)
    payload = ex.to_dict()
    payload["data"] = res.badge()
    if args.html:
        payload["html"] = str(write_html(ex, loaded, args.html, data_badge=res.badge()))
    emit(payload, args.json, lambda p: _render_decision(p) + (f"\nwrote {p['html']}" if p.get("html") else ""))
    return 0


def _period(args, loaded, res) -> int:
    from explain.docs import period_markdown
    from explain.period import explain_period
    from hrm_core.evaluation.report import update_section

    bar = None
    span_note = file_span_if_outside(args, loaded, res.bars)
    if span_note:
        warn(span_note)

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if args.json:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="explain period", unit="decision", file=sys.stderr)
        bar.update(done - bar.n)

    pe = explain_period(loaded, res.bars, symbol=res.symbol, interval=args.interval, start=args.start, end=args.end,
                        target=args.target, n_steps=args.n_steps, baseline=args.baseline, settings=args.settings,
                        progress=progress)
    if bar is not None:
        bar.close()
    payload = pe.to_dict()
    if span_note:
        payload["period_note"] = span_note
    if args.docs:
        command = " ".join(["hrm explain", "--symbol", res.symbol, "--interval", args.interval, "--period",
                            *(["--start", args.start] if args.start else []), *(["--end", args.end] if args.end else []),
                            *(["--model", args.model] if args.model else []), "--docs", args.docs])
        payload["docs"] = str(update_section(args.docs, "explain", period_markdown(pe, command=command)))
    emit(payload, args.json, lambda p: _render_period(p) + (f"\nwrote section 'explain' of {p['docs']}"
                                                            if p.get("docs") else ""))
    return 0


def add_verbs(sub) -> None:
    """Register `hrm explain` on the `hrm` subparsers."""
    from explain import BASELINES, DEFAULT_BASELINE, DEFAULT_N_STEPS, TARGETS

    p = sub.add_parser("explain", help="why the model decided: H vs L, cycles, feature x time (Captum); "
                                       "--period for the H/L split over a period")
    p.add_argument("--symbol", default=None)
    p.add_argument("--model", default=None, help="checkpoint path or name in models/ (default: the shipped model)")
    p.add_argument("--at", default=None, metavar="TIME",
                   help="the decision at the last bar at or before TIME (a date covers its whole day)")
    p.add_argument("--period", action="store_true",
                   help="explain every decision in --start..--end (default: the model's test period); SQLite-cached")
    p.add_argument("--target", choices=sorted(TARGETS), default=None,
                   help="what is attributed (default: what decides: the edge for edge-rule checkpoints, the action's "
                        "logit for argmax-rule ones; position = the position before the no-trade band)")
    p.add_argument("--baseline", choices=sorted(BASELINES), default=DEFAULT_BASELINE,
                   help="reference input: zeros = training mean of every feature")
    p.add_argument("--n-steps", type=n_steps_arg(), default=DEFAULT_N_STEPS,
                   help=f"integration points (completeness vs time), {N_STEPS_RANGE[0]}..{N_STEPS_RANGE[1]}")
    p.add_argument("--html", default=None, metavar="FILE", help="write the self-contained stakeholder report")
    p.add_argument("--docs", default=None, metavar="FILE",
                   help="with --period: write the measured split into FILE's 'explain' section (docs/results.md)")
    add_data_args(p, default_period="(with --period) " + MODEL_PERIOD_HELP)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)
