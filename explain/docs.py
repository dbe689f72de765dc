"""Markdown for docs/results.md's "explain" section: the measured H/L split beside the seed's claims."""
from __future__ import annotations

import datetime as dt

from explain.modules import LEAD_BAND
from explain.period import CLAIMS, CLAIMS_SOURCE, PeriodExplanation
from explain.words import BASELINES, TARGETS

H_SHARE_MEANING = (
    "**What \"H share\" means.** For one decision, h_share = A_H / (F(x) - F(baseline)) and l_share = A_L / "
    "(F(x) - F(baseline)), where A_H and A_L are the signed, summed Integrated-Gradients attributions (Captum "
    "`LayerIntegratedGradients`) of the two inputs of the *final* H update: z_H carried in (the strategic context "
    "built over earlier cycles) and z_L (the tactical computation of the last cycle). Both are moved together from "
    "the states the model reaches on the baseline window to their actual values, so the two shares sum to 1 up to "
    "the completeness delta; a share above 1 with the other below 0 means the modules pulled in opposite "
    f"directions. A decision is H-led when h_share > {0.5 + LEAD_BAND:g}, L-led when h_share < {0.5 - LEAD_BAND:g}, "
    "and mixed in between (no knife edge at 0.5). **What it does not mean:** it is not a causal percentage of the "
    "decision made by H (z_L itself was computed from z_H, so earlier H work reaches the output through both "
    "inputs), and it depends on the baseline and on the target explained. The seed's \"34 % strategic\" is read here "
    "as the share of H-led decisions; its definition is not given in the seed, so the comparison is indicative.")


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f} %"


def _signed(v: float) -> str:
    return f"{v:+.4f}"


def format_ci(cell: dict | None, fmt=_pct) -> str:
    """'x [lo, hi]' from {"value", "ci"} (period stats), or n/a."""
    if cell is None:
        return "n/a"
    lo, hi = cell["ci"]
    return fmt(cell["value"]) + ("" if lo is None else f" [{fmt(lo)}, {fmt(hi)}]")


def closing_note(s: dict) -> str:
    """Our figures, with intervals, beside the seed's 34 % and 61 %, in words that stay true for a losing period."""
    share = s["h_led_share"]
    lo, hi = share["ci"]
    inside = lo is not None and lo <= CLAIMS["strategic share of decisions"] <= hi
    text = (f"On this model and period {format_ci(share, _pct)} of decisions are H-led (95 % block-bootstrap interval) "
            f"against the seed's 34 %, which the interval {'includes' if inside else 'excludes'}. ")
    if s["pnl_share_h_led"] is not None:
        text += (f"H-led decisions earned {format_ci(s['pnl_share_h_led'], _pct)} of the period's net PnL, against the "
                 "seed's 61 %.")
    else:
        text += (f"The period's net PnL was {s['pnl_total']['value']:+.4f}, not a gain, so there is no share of "
                 f"performance to compare with the seed's 61 %: H-led decisions made "
                 f"{format_ci(s['pnl_h_led'], _signed)} and L-led ones {format_ci(s['pnl_l_led'], _signed)}.")
    return text + " See docs/explain.md for the method."


def period_markdown(pe: PeriodExplanation, *, command: str) -> str:
    """The section body: settings, the claims table with intervals, breakdowns by action / regime / depth."""
    s = pe.stats()
    rows = [
        "| figure | seed (claimed, unverified) | measured [95 % CI] |", "|---|---|---|",
        f"| strategic (H-led) share of decisions | {_pct(CLAIMS['strategic share of decisions'])} "
        f"| {format_ci(s['h_led_share'], _pct)} |",
        f"| tactical (L-led) share of decisions | {_pct(CLAIMS['tactical share of decisions'])} "
        f"| {format_ci(s['l_led_share'], _pct)} |",
        f"| share of net PnL from H-led decisions | {_pct(CLAIMS['share of performance from strategic decisions'])} "
        f"| {format_ci(s['pnl_share_h_led'], _pct)} |",
    ]

    def group(title: str, table: dict) -> list[str]:
        out = [f"**By {title}:**", "", "| group | decisions | h_share median | H-led | L-led | net PnL |",
               "|---|---|---|---|---|---|"]
        for k, v in table.items():
            med = "n/a" if v["h_share_median"] is None else f"{v['h_share_median']:+.3f}"
            out.append(f"| {k} | {v['decisions']} | {med} | {_pct(v['h_led_share'])} | {_pct(v['l_led_share'])} | "
                       f"{v['pnl']:+.4f} |")
        return out + [""]

    c = s["completeness"]
    L = [
        "## Explain: H vs L over the test period", "",
        f"Written by `{command}` on {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC. Model `{pe.model_id}`, "
        f"{pe.symbol} {pe.interval}, {pe.period['label']} ({pe.period['start']} .. {pe.period['end']}), "
        f"{s['decisions']} decisions. Target: {TARGETS[pe.target]}. Baseline: {BASELINES[pe.baseline]}. "
        f"{pe.n_steps} Gauss-Legendre steps; completeness |delta| / |F(x) - F(baseline)| at most "
        f"{_pct(c['max_abs'])} ({_pct(c['share_within_1pct'])} of decisions within 1 %, {c['not_measurable']} "
        "not measurable because F(x) = F(baseline)).", "",
        f"Seed claims from {CLAIMS_SOURCE}.", "", *rows, "",
        f"Signed h_share over the period: median {s['h_share']['median']:+.3f}, 10th-90th percentile "
        f"{s['h_share']['p10']:+.3f} .. {s['h_share']['p90']:+.3f}; {_pct(s['mixed_share'])} of decisions are mixed and "
        f"on {_pct(s['opposed_share'])} H and L pulled in opposite directions. Net PnL of the period (sum of per-bar "
        f"net returns after the risk layer and costs): {format_ci(s['pnl_total'], _signed)}, of which H-led "
        f"decisions {format_ci(s['pnl_h_led'], _signed)} and L-led {format_ci(s['pnl_l_led'], _signed)}. A decision's "
        "PnL is its position's return "
        "from its fill (next open by default: that bar's intraday leg, then the next overnight gap before the "
        "following fill; market-on-close: the next bar) less the cost of that fill "
        "(hrm_core.trading.backtest.decision_pnl). Intervals: stationary block bootstrap over decisions (mean block "
        "n^(1/3)). " + (s["pnl_note"] and s["pnl_note"].capitalize() + "."), "",
        *group("action", s["by_action"]), *group("regime (causal rules, hrm_core/evaluation/regimes.py)", s["by_regime"]),
        *group("ACT depth (segments used)", s["by_steps"]),
        H_SHARE_MEANING, "",
        "**Closing note.** " + closing_note(s),
    ]
    return "\n".join(L)
