"""Diagnostics: do the model's reasoning loops settle, how deep does it think, and does depth track volatility."""
import pandas as pd
import streamlit as st

from hrm_core.experiments import adaptive_depth
from hrm_core.reasoning.diagnostics import NOT_APPLICABLE, SEED_CLAIMS, depth_verdict
from ui import diagnostics_charts as charts
from ui import loaders
from ui.decision import PARAM as DECISION_PARAM
from ui.decision import pick_decision
from ui.guard import guard
from ui.guide import how_to_read
from ui.state import selection

KEY = "diagnostics."  # session-state namespace of this page
CLAIM = "claimed, unverified"

sel = selection()
st.title("Diagnostics")
how_to_read("Looks inside the model's reasoning. HRM thinks in loops: a fast *L* (low-level) loop refines details, "
            "a slow *H* (high-level) loop updates the plan, and it may stop early when it is sure (*ACT*, adaptive "
            "depth). Healthy reasoning **settles**: each update changes the state less (residuals falling, shown "
            "on a log scale), most decisions *converge*, and harder (more volatile) days may use more loops. "
            "Percentages are shares of decisions in the chosen period; the ranges in brackets are 95 % "
            "bootstrap intervals. The seed's figures are shown for comparison and are unverified.")


def _interval(d: dict | None, spec: str = ".2f") -> str:
    """'[lo, hi]' of a {"value", "ci"} figure, or 'n/a'."""
    lo, hi = (d or {}).get("ci") or (None, None)
    return "n/a" if lo is None or hi is None else f"[{lo:{spec}}, {hi:{spec}}]"


def _ci(d: dict | None, spec: str = ".2f") -> str:
    """'value [lo, hi]' or 'n/a'."""
    if not d or d.get("value") is None:
        return "n/a"
    return f"{d['value']:{spec}} {_interval(d, spec)}"


def period_choices(name: str, periods: dict, index: pd.DatetimeIndex) -> dict[str, tuple[str | None, str | None]]:
    """Named periods: the checkpoint's test period, the sidebar's dates, each calendar year of the data."""
    out: dict[str, tuple[str | None, str | None]] = {}
    test = (periods or {}).get("test")
    if test:
        out[f"test period of {name} ({test[0]} to {test[1]})"] = (str(test[0]), str(test[1]))
    if sel.start or sel.end:
        out[f"sidebar dates ({sel.start or 'start'} to {sel.end or 'end'})"] = (
            str(sel.start) if sel.start else None, str(sel.end) if sel.end else None)
    for year in sorted(set(index.year), reverse=True):
        out[f"{year}"] = (f"{year}-01-01", f"{year}-12-31")
    return out


def summary_strip(d: dict) -> None:
    """Our figures, with the seed's claims beside them."""
    corr = d["depth_volatility_corr"]
    cols = st.columns(5)
    cols[0].metric("Convergence rate", f"{100 * d['convergence_rate']:.1f} %", help=d["criterion"])
    cols[0].caption(f"Seed: {100 * SEED_CLAIMS['convergence_rate']:.1f} % ({CLAIM})")
    cols[1].metric("Mean depth", f"{d['mean_segments']:.2f} of {d['max_segments']}",
                   help="ACT segments used per decision as run")
    cols[1].caption(f"Seed: {SEED_CLAIMS['mean_segments']} of {SEED_CLAIMS['max_segments']} cycles ({CLAIM})")
    cols[2].metric("Depth / volatility", "undefined" if corr["value"] is None else f"{corr['value']:+.2f}",
                   help="Spearman correlation of segments used with 20-bar realised volatility, 95 % bootstrap CI. "
                        + (corr.get("note") or ""))
    cols[2].caption(f"95 % CI {_interval(corr)}; seed: \"{SEED_CLAIMS['depth_volatility']}\" ({CLAIM})")
    for col, mod in ((cols[3], "h"), (cols[4], "l")):
        pr = d[f"participation_ratio_{mod}"]
        col.metric(f"PR_{mod.upper()}", "n/a" if pr["value"] is None else f"{pr['value']:.1f}",
                   help=f"participation ratio of the final z_{mod.upper()} summary states over {pr['n']} decisions "
                        f"(1 to {pr['dims']} dimensions)")
        col.caption(f"95 % CI {_interval(pr, '.1f')}" + (
            "; HRM paper: PR_H well above PR_L once trained" if mod == "h" else
            f"; {d['decisions']} decisions, {d['first'][:10]} to {d['last'][:10]}"))


def decision_section(d: dict, at) -> None:
    """One decision: residuals side by side, then its PCA trajectory."""
    view = loaders.decision_trace(sel.symbol, sel.interval, sel.model, at)
    how = {"adaptive": "its halting head stopped it", "fixed": "its inference mode runs a fixed depth",
           "max": "its inference mode runs every segment"}.get(d.get("inference_mode", "adaptive"), "")
    st.caption(f"Decision at {view['time'][:10]} ({how}): it ran **{view['steps']}** of "
               f"{view['max_segments']} segments; action {view['action']['as_run']} as run, "
               f"{view['action']['full_depth']} at full depth; "
               f"{'converged' if view['converged'] else 'not converged'} as run "
               f"({'converged' if view['converged_full_depth'] else 'not converged'} at full depth).")
    key = loaders.figure_key(sel.symbol, sel.interval, sel.model, "decision", view["time"])
    st.plotly_chart(loaders.shared_figure(key + ("residuals",), lambda: charts.residuals_one_decision(view)),
                    width="stretch", key=KEY + "decision_residuals")
    st.caption("How to read this: each point is how much one update changed the state (log scale); HRM's "
               "signature is L falling within a cycle and jumping when H updates, H falling steadily; grey = "
               "segments the decision did not run.")
    st.plotly_chart(loaders.shared_figure(key + ("trajectory",), lambda: charts.trajectories(view["pca"])),
                    width="stretch", key=KEY + "trajectory")
    st.caption("How to read this: the path of the summary token from its initial state through every update, "
               "projected on its two main directions; a path that stops moving has settled.")


def residuals_section(d: dict, period: tuple[str | None, str | None]) -> None:
    """Residual bands over the period, as run or at full depth."""
    full = st.toggle("Show all segments (full depth) instead of the segments actually run", key=KEY + "full")
    view = d["residuals_full_depth"] if full else d["residuals"]
    names = {"l": [f"{i + 1}" for i in range(len(view["l"]["median"]))],
             "h": [f"{i + 1}" for i in range(len(view["h"]["median"]))]}
    per = {"l": d["h_cycles"] * d["l_cycles"], "h": d["h_cycles"]}
    key = loaders.figure_key(sel.symbol, sel.interval, sel.model, "period", *period)
    st.plotly_chart(loaders.shared_figure(key + ("bands", full), lambda: charts.residual_bands(
        view, names, per, "Residuals over the period: median and 10-90 % band")), width="stretch", key=KEY + "bands")
    st.caption("How to read this: the line is the typical decision, the band holds 80 % of them; dotted lines "
               "separate segments; steps no decision ran are blank unless full depth is shown.")


def depth_section(d: dict, period: tuple[str | None, str | None]) -> None:
    """The depth used, whether it follows volatility, and whether halting early costs anything."""
    key = loaders.figure_key(sel.symbol, sel.interval, sel.model, "period", *period)
    left, right = st.columns(2)
    left.plotly_chart(loaders.shared_figure(key + ("depth_hist",), lambda: charts.depth_histogram(
        d["segments_histogram"], SEED_CLAIMS["mean_segments"])), width="stretch", key=KEY + "depth_hist")
    left.caption("How to read this: one bar per depth; all decisions in one bar means the depth does not adapt.")
    right.plotly_chart(loaders.shared_figure(key + ("depth_vol",), lambda: charts.depth_vs_volatility(
        d["per_decision"], d["depth_volatility_corr"])), width="stretch", key=KEY + "depth_vol")
    right.caption("How to read this: each dot is a decision; \"deeper when volatile\" would show as dots rising to "
                  "the right and a correlation interval above zero.")
    ha = d["halting_agreement"]
    cols = st.columns(3)
    cols[0].metric("Same action as full depth", f"{100 * ha['rate']:.1f} %", help="as-run vs all segments")
    cols[1].metric("PnL difference (as run - full depth)", f"{ha['pnl_difference_pct']:+.2f} pp",
                   help=ha["note"])
    cols[2].metric("Decisions changed by halting", f"{ha['changed']} of {ha['n']}")
    pays = d.get("depth_pays") or {}
    if pays.get("logloss"):
        ll = pays["logloss"]
        st.caption(f"Log-loss over {pays['n']} labelled decisions: {ll['as_run']:.4f} as run, {ll['depth_1']:.4f} at "
                   f"depth 1, {ll['max_depth']:.4f} at max depth; {pays['statement']}.")
    st.caption(f"How to read this: if halting early rarely changes the action and costs no PnL, the halting head stops "
               f"well; costs {ha['costs_bps']:g} bps per unit of turnover, the Performance page's risk layer.")


def convergence_section(d: dict, period: tuple[str | None, str | None]) -> None:
    """The share of decisions that converged, per regime and per action."""
    key = loaders.figure_key(sel.symbol, sel.interval, sel.model, "period", *period)
    left, right = st.columns(2)
    left.plotly_chart(loaders.shared_figure(key + ("by_regime",), lambda: charts.rate_bars(
        d["convergence_by_regime"], "Converged by regime", SEED_CLAIMS["convergence_rate"])), width="stretch",
        key=KEY + "by_regime")
    left.caption("How to read this: share of decisions meeting the criterion in each (causal) regime; n on top.")
    right.plotly_chart(loaders.shared_figure(key + ("by_action",), lambda: charts.rate_bars(
        d["convergence_by_action"], "Converged by action", SEED_CLAIMS["convergence_rate"])), width="stretch",
        key=KEY + "by_action")
    right.caption(f"How to read this: the same share per decided action. Criterion: {d['criterion']}; "
                  f"at full depth {100 * d['convergence_rate_full_depth']:.1f} % converge.")


def _shape(r: dict) -> str:
    """'N x T x M' of a comparison row, or why it has none."""
    if not r["applicable"]:
        return "flat, no loops"
    return f"{r['h_cycles']}x{r['l_cycles']}x{r['max_segments']}" + ("" if r["act"] else " (no ACT)")


def compare_section(period: tuple[str | None, str | None]) -> None:
    """Every checkpoint in models/ on the same bars and period."""
    rows = loaders.diagnostics_compare(sel.symbol, sel.interval, *period)
    table = pd.DataFrame([{
        "model": r["model"], "N x T x M": _shape(r),
        "convergence [%]": None if r["convergence_rate"] is None else 100 * r["convergence_rate"],
        "mean segments": r["mean_segments"], "depth/vol rho": _ci(r["depth_volatility_corr"]),
        "PR_H": _ci(r["participation_ratio_h"], ".1f"), "PR_L": _ci(r["participation_ratio_l"], ".1f"),
        "note": r.get("note") or "",
    } for r in rows]).set_index("model")
    st.dataframe(table, width="stretch", key=KEY + "compare_table")
    st.plotly_chart(charts.model_bars(rows, SEED_CLAIMS), width="stretch", key=KEY + "compare_bars")
    st.caption("How to read this: a model that uses its hierarchy converges, adapts its depth, and has PR_H above "
               "PR_L; the flat transformer has no loops (not applicable).")
    st.plotly_chart(charts.pr_bars(rows), width="stretch", key=KEY + "pr")
    st.caption("How to read this: effective number of dimensions the states use across decisions; bars whose "
               "whiskers do not overlap differ beyond bootstrap noise.")


if sel.model is None:
    st.info("No trained model found in models/. Train one with `hrm train --preset default` and pick it in the "
            "sidebar.", icon=":material/info:")
    st.stop()

period: tuple[str | None, str | None] = (None, None)
arch = None  # set when the checkpoint's card (or the checkpoint) is read
with guard(f"diagnose {sel.symbol} {sel.interval}"):
    name, arch, periods = loaders.model_facts(sel.model)  # from the card: the page paints without torch
    table = loaders.signals(sel.symbol, sel.interval, sel.model).table
    decidable = table.index[table["status"] != "warmup"]
    choices = period_choices(name, periods, decidable)
    label = st.selectbox("Period", list(choices), key=KEY + "period",
                         help="Period figures are computed over these decisions (cached in SQLite).")
    period = choices[label]
    if arch != "hrm":
        st.info(f"{name}: {NOT_APPLICABLE}. The comparison below covers the HRM checkpoints.",
                icon=":material/info:")
    else:
        d = loaders.diagnostics(sel.symbol, sel.interval, sel.model, *period)
        st.markdown(f"**Verdict.** {depth_verdict(d)}")
        summary_strip(d)
        # One view at a time (browsers drawing every chart on every visit made the page the slowest to open
        # under 4 sessions, benchmarks.ui); a link to a decision (?at=) opens on that decision.
        views = ("Residuals", "Depth", "Convergence", "One decision")
        view = st.radio("Look closer", views, horizontal=True, key=KEY + "view",
                        index=views.index("One decision") if st.query_params.get(DECISION_PARAM) else 0)
        if view == "One decision":
            decision_section(d, pick_decision(decidable, key=KEY + "at", label="Decision at"))
        elif view == "Convergence":
            convergence_section(d, period)
        elif view == "Depth":
            depth_section(d, period)
        else:
            residuals_section(d, period)

known = adaptive_depth.load_result()
if known is not None:
    with st.expander("What adaptive depth looks like on a task with a known answer"):
        st.markdown("Each halting objective trained on windows whose label needs k compositions of a hidden rule "
                    "(k set per window; an easy stratum and a pure-noise stratum), the tiny preset's trunk trained "
                    f"{known.get('training', 'detached (production)')}. Where depth works, harder windows use more "
                    f"segments and gain from them, and noise stops at once. {adaptive_depth.headline(known)}")
        st.dataframe(adaptive_depth.stratum_table(known), width="stretch", hide_index=True, key=KEY + "known_answer")
        st.caption(f"Reproduce: `{known['command']}` (hrm_core/experiments/adaptive_depth.py says how).")

st.subheader("All models")
# On demand: tracing every checkpoint costs about 10 s the first time (then SQLite serves it); a non-HRM model
# has nothing else to show here, so the comparison opens by itself.
if st.toggle("Compare every checkpoint on these bars", value=arch is not None and arch != "hrm",
             key=KEY + "compare",
             help="Period diagnostics of every model in models/ on the same bars and period (cached in SQLite)."):
    with guard(f"compare the checkpoints on {sel.symbol} {sel.interval}"):
        compare_section(period)
