"""The "diagnostics" section of docs/results.md: every checkpoint's reasoning figures beside the seed's claims."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hrm_core.reasoning.diagnostics import N_BOOT, SEED_CLAIMS, compare_models, depth_verdict
from hrm_core.evaluation.report import update_section

SECTION = "diagnostics"


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def _ci(d: dict | None, spec: str = ".2f") -> str:
    if not d or d.get("value") is None:
        return "undefined (depth constant)" if d and "constant" in str(d.get("note")) else "n/a"
    lo, hi = d["ci"]
    fmt = lambda v: "n/a" if v is None else format(v, spec)  # noqa: E731
    return f"{d['value']:{spec}} [{fmt(lo)}, {fmt(hi)}]"


def _row(symbol: str, r: dict) -> str:
    """One markdown table row for a model on one instrument."""
    shape = f"{r['h_cycles']}x{r['l_cycles']}x{r['max_segments']}" + ("" if r["act"] else ", no ACT") + \
        (f", {r.get('halt_objective')}" if r["act"] and r.get("halt_objective", "q_learning") != "q_learning" else "")
    if not r.get("applicable"):
        return f"| {symbol} | {r['model']} | flat | not applicable (no loops) | | | | | | | |"
    ha = r["halting_agreement"] or {}
    hist = " / ".join(str(v) for v in r["segments_histogram"].values())
    return (f"| {symbol} | {r['model']} | {shape} | {_pct(r['convergence_rate'])} / "
            f"{_pct(r['convergence_rate_full_depth'])} | {r['mean_segments']:.2f} | {hist} | "
            f"{_ci(r['depth_volatility_corr'])} | {_ci(r['participation_ratio_h'], '.1f')} | "
            f"{_ci(r['participation_ratio_l'], '.1f')} | {_pct(ha.get('rate'))}, "
            f"{ha.get('pnl_difference_pct', 0.0):+.2f} pp | {_depth_pays(r.get('depth_pays'))} |")


def _depth_pays(p: dict | None) -> str:
    """'max - depth 1 log-loss [CI]' of a depth_pays figure."""
    d = ((p or {}).get("differences") or {}).get("max_depth_minus_depth_1") or {}
    if d.get("mean") is None or None in (d.get("ci") or [None]):
        return "n/a"
    return f"{d['mean']:+.4f} [{d['ci'][0]:+.4f}, {d['ci'][1]:+.4f}]"


def _closing_note(rows: dict[str, list[dict]]) -> str:
    """Plain statement of the primary model's figures on each instrument, against the seed's claims."""
    parts = []
    for symbol, models in rows.items():
        r = next((m for m in models if m.get("applicable")), None)
        if r is None:
            continue
        corr = r["depth_volatility_corr"]
        depth_vol = (f"its depth/volatility correlation is {_ci(corr)}" if corr.get("value") is not None
                     else f"its depth/volatility correlation is {corr.get('note') or 'undefined'}")
        parts.append(
            f"On {symbol}, {r['model']} used {r['mean_segments']:.2f} of {r['max_segments']} segments on average "
            f"(seed: {SEED_CLAIMS['mean_segments']} of {SEED_CLAIMS['max_segments']}), converged on "
            f"{_pct(r['convergence_rate'])} of decisions as run and {_pct(r['convergence_rate_full_depth'])} when "
            f"forced to full depth (seed: {_pct(SEED_CLAIMS['convergence_rate'])}); {depth_vol}; PR_H "
            f"{_ci(r['participation_ratio_h'], '.1f')} vs PR_L {_ci(r['participation_ratio_l'], '.1f')}; the "
            f"depth it ran gave the same action as full depth on "
            f"{_pct(r['halting_agreement']['rate'])} of decisions ({r['halting_agreement']['pnl_difference_pct']:+.2f} "
            f"pp of PnL). Verdict: {depth_verdict(r)}")
    fixed = [m["model"] for models in rows.values() for m in models
             if m.get("applicable") and max(m["segments_histogram"].values()) == m["decisions"]]
    every = {m["model"] for models in rows.values() for m in models if m.get("applicable")}
    if fixed and set(fixed) == every:
        parts.append("No checkpoint's depth adapts here: each uses one fixed number of segments on every decision, "
                     "so the seed's \"deeper when volatile\" cannot be tested on them (undefined, not refuted).")
    return " ".join(parts)


def diagnostics_markdown(rows: dict[str, list[dict]], *, period: tuple[str | None, str | None], settings,
                         command: str, n_boot: int = N_BOOT) -> str:
    """The section's markdown from compare_models rows per symbol."""
    any_row = next((r for models in rows.values() for r in models if r.get("applicable")), None)
    if any_row is None:  # only flat models, or none: nothing has reasoning loops to diagnose
        return "\n".join(["## Reasoning diagnostics", "",
                           f"No hierarchical (HRM) checkpoint applies here, so there are no reasoning loops to "
                           f"diagnose. Regenerate with `{command}` once one is in models/.", ""])
    lines = [
        "## Reasoning diagnostics",
        "",
        f"Period {period[0] or 'start'} to {period[1] or 'end'} (daily decisions; the primary model's test period "
        f"unless a range was given). Regenerate with `{command}`.",
        f"Criterion: {any_row.get('criterion', '')} (justified in hrm_core/reasoning/diagnostics.py). Depth = ACT segments "
        f"used; depth/volatility is a Spearman correlation with 20-bar realised volatility; PR = participation ratio "
        f"of the final summary states across decisions. Intervals: 95 % stationary bootstrap over decisions "
        f"({n_boot} replications; {min(n_boot, 500)} for PR). PnL difference: as-run minus full-depth positions, "
        f"costs {settings.costs.commission_bps:g} + {settings.costs.slippage_bps:g} bps, the Performance page's risk "
        f"layer.",
        "",
        "| Instrument | Model | N x T x M | Convergence (as run / full depth) | Mean segments | Segments 1 / 2 / ... "
        "| Depth-volatility rho [95 % CI] | PR_H [CI] | PR_L [CI] | Halting agreement, PnL diff "
        "| Log-loss, max depth minus depth 1 [95 % CI] |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for symbol, models in rows.items():
        lines += [_row(symbol, r) for r in models]
    lines.append(f"| seed (claimed, unverified) | HRM | n/a | {_pct(SEED_CLAIMS['convergence_rate'])} | "
                 f"{SEED_CLAIMS['mean_segments']} of {SEED_CLAIMS['max_segments']} | | "
                 f"\"{SEED_CLAIMS['depth_volatility']}\" | | | | |")
    lines += ["", _closing_note(rows)]
    return "\n".join(lines)


def write_docs_section(md_path: str | Path, *, symbols: Sequence[str], interval: str, settings, start: Any = None,
                       end: Any = None, store=None, command: str = "hrm diagnose --docs",
                       progress: Callable[[str], None] | None = None) -> Path:
    """Diagnose every checkpoint in models/ on each symbol and write the section into md_path."""
    from hrm_core.model.cards import list_checkpoints
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars
    from hrm_core.evaluation.evaluate import evaluation_period

    models = [load_checkpoint(c.path) for c in list_checkpoints(settings.data.path("models_dir"))]
    period = evaluation_period(models[0] if models else None, start, end)
    rows = {}
    for symbol in symbols:
        if progress:
            progress(f"diagnosing {len(models)} models on {symbol} {interval}")
        res = load_bars(symbol, interval, settings=settings)
        rows[res.symbol] = compare_models(models, res.bars, symbol=res.symbol, interval=interval, settings=settings,
                                          start=period.start, end=period.end, store=store)
    md = diagnostics_markdown(rows, period=(period.start, period.end), settings=settings, command=command)
    return update_section(md_path, SECTION, md)
