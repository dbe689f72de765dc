"""Markdown for docs/results.md's "explain" section: the measured H/L split beside the seed's claims."""
from __future__ import annotations

import datetime as dt

from explain.features import BASELINES
from explain.period import CLAIMS, CLAIMS_SOURCE, PeriodExplanation
from explain.targets import TARGETS

H_SHARE_MEANING = (
    "**What \"H share\" means.** For one decision, h_share = |A_H| / (|A_H| + |A_L|), where A_H and A_L are the "
    "summed Integrated-Gradients attributions (Captum `LayerIntegratedGradients`) of the two inputs of the *final* "
    "H update: z_H carried in (the strategic context built over earlier cycles) and z_L (the tactical computation "
    "of the last cycle). Both are moved together from the states the model reaches on the baseline window to their "
    "actual values, so A_H + A_L = F(x) - F(baseline) up to the completeness delta. **What it does not mean:** it is "
    "not the share of decisions that are \"strategic\", not a causal percentage of the decision made by H (z_L "
    "itself was computed from z_H, so earlier H work reaches the output through both inputs), and it depends on "
    "the baseline and on the target explained. The seed's \"34 % strategic\" is read here as the share of decisions "
    "with h_share > 0.5; its definition is not given in the seed, so the comparison is indicative.")


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def closing_note(s: dict) -> str:
    """One paragraph: our two figures beside the seed's 34 % and 61 %, and whether they agree (within 5 points)."""
    n_h = round(s["h_dominant_share"] * s["decisions"]) if s["h_dominant_share"] is not None else 0
    share, pnl = s["h_dominant_share"], s["pnl_share_h_dominant"]
    agree = (share is not None and abs(share - CLAIMS["strategic share of decisions"]) <= 0.05
             and pnl is not None and abs(pnl - CLAIMS["share of performance from strategic decisions"]) <= 0.05)
    return (f"On this model and period, {_pct(share)} of decisions ({n_h} of {s['decisions']}) are H-dominant against "
            f"the seed's 34 %, and they earn {_pct(pnl)} of the net PnL against the seed's 61 %. "
            + ("Both are within 5 points of the seed's figures." if agree else
               "The seed's figures are not reproduced by these measurements.")
            + f" {n_h} decisions is a small sample for a PnL share; see docs/explain.md for the method.")


def period_markdown(pe: PeriodExplanation, *, command: str) -> str:
    """The section body: settings, the claims table, distributions by action / regime / depth."""
    s = pe.stats()
    rows = [
        "| figure | seed (claimed, unverified) | measured |", "|---|---|---|",
        f"| strategic (H-dominant, h_share > 0.5) share of decisions | {_pct(CLAIMS['strategic share of decisions'])} "
        f"| {_pct(s['h_dominant_share'])} |",
        f"| tactical (L-dominant) share of decisions | {_pct(CLAIMS['tactical share of decisions'])} "
        f"| {_pct(s['l_dominant_share'])} |",
        f"| share of net PnL from H-dominant decisions | {_pct(CLAIMS['share of performance from strategic decisions'])} "
        f"| {_pct(s['pnl_share_h_dominant'])} |",
    ]

    def group(title: str, table: dict) -> list[str]:
        out = [f"**By {title}:**", "", "| group | decisions | h_share mean | median | H-dominant | net PnL (sum of returns) |",
               "|---|---|---|---|---|---|"]
        for k, v in table.items():
            out.append(f"| {k} | {v['decisions']} | {v['h_share_mean']:.3f} | {v['h_share_median']:.3f} | "
                       f"{_pct(v['h_dominant_share'])} | {v['pnl']:+.4f} |")
        return out + [""]

    c = s["completeness"]
    L = [
        "## Explain: H vs L over the test period", "",
        f"Written by `{command}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Model `{pe.model_id}`, "
        f"{pe.symbol} {pe.interval}, {pe.period['label']} ({pe.period['start']} .. {pe.period['end']}), "
        f"{s['decisions']} decisions. Target: {TARGETS[pe.target]}. Baseline: {BASELINES[pe.baseline]}. "
        f"{pe.n_steps} Gauss-Legendre steps; completeness |delta| / |F(x) - F(baseline)| at most "
        f"{_pct(c['max_abs'])} ({_pct(c['share_within_1pct'])} of decisions within 1 %).", "",
        f"Seed claims from {CLAIMS_SOURCE}.", "", *rows, "",
        f"h_share over the period: mean {s['h_share']['mean']:.3f}, median {s['h_share']['median']:.3f}, "
        f"10th-90th percentile {s['h_share']['p10']:.3f} .. {s['h_share']['p90']:.3f}. Net PnL of the period "
        f"(sum of per-bar net returns after the risk layer and costs): {s['pnl_total']:+.4f}, of which H-dominant "
        f"decisions {s['pnl_h_dominant']:+.4f} and L-dominant {s['pnl_l_dominant']:+.4f}. A decision's PnL is its "
        "position's return from its fill (next open by default: that bar's intraday leg, then the next overnight "
        "gap before the following fill; market-on-close: the next bar) less the cost of that fill "
        "(hrm_core.trading.backtest.decision_pnl). " + (s["pnl_note"] or ""), "",
        *group("action", s["by_action"]), *group("regime (causal rules, hrm_core/evaluation/regimes.py)", s["by_regime"]),
        *group("ACT depth (segments used)", s["by_steps"]),
        H_SHARE_MEANING, "",
        "**Closing note.** " + closing_note(s),
    ]
    return "\n".join(L)
