"""Explain: why the model decided at one bar (H vs L, cycle by cycle, feature x time), the period view, the report."""
import pandas as pd
import streamlit as st

from explain.words import BASELINES, DEFAULT_BASELINE, FEATURE_WORDS, TARGETS, depth_note, offered_targets
from ui import charts, loaders
from ui.decision import pick_decision
from ui.guard import guard
from ui.guide import how_to_read
from ui.state import selection

sel = selection()
st.title("Explain")
how_to_read("Why did the model buy, sell or stay out on one day? The green box says it in one sentence. The "
            "model has two thinking speeds: **H** (strategic, slow: the overall picture) and **L** (tactical, "
            "fast: recent details); the *H share* says how much of the decision came from each. The heatmap shows "
            "which inputs (trend, volatility, volume...) on which of the past days pushed towards the decision "
            "(red) or against it (blue). Pick any day in *Decision at*, or click a marker on the Signals chart; "
            "the report button saves all of this as one HTML file to share.")
st.caption("Why did the model decide what it decided at this bar? Attributions by Captum's integrated gradients; "
           "the decision is in the address bar, so a link opens the same explanation.")

ex = None
if sel.model is None:
    st.info("No trained model found in models/: there is nothing to explain. Train one with `hrm train`.",
            icon=":material/info:")
else:
    with guard(f"explain {sel.symbol} {sel.interval}"):
        sig = loaders.signals(sel.symbol, sel.interval, sel.model)
        decidable = sig.table.index[sig.table["status"] == "ok"]
        left, mid, right = st.columns([2, 2, 2])
        with left:
            at = pick_decision(decidable, key="explain.at")
        offered = offered_targets(loaders.rule(sel.model))  # only targets that explain what decides
        target = mid.selectbox("Explain", offered, format_func=lambda t: TARGETS[t].split(":")[0],
                               key="explain.target", help="The number whose change from the baseline is split up: "
                               + "; ".join(f"{t}: {TARGETS[t]}" for t in offered))
        baseline = right.selectbox("Baseline", list(BASELINES), index=list(BASELINES).index(DEFAULT_BASELINE),
                                   key="explain.baseline", help="; ".join(f"{k}: {v}" for k, v in BASELINES.items()))
        ex = loaders.explanation(sel.symbol, sel.interval, sel.model, at, target, baseline)

if ex is not None:
    d, m = ex.decision, ex.module
    st.caption(f"{ex.symbol} {ex.interval}, decision at the close of {ex.time:%Y-%m-%d %H:%M}, model "
               f"`{ex.model_id}`, target: {TARGETS[ex.target]}, {ex.n_steps} integration steps.")
    st.success(ex.summary, icon=":material/lightbulb:")
    cols = st.columns(4)
    cols[0].metric("Action", d["action"], f"position {d['position']:+.2f}", delta_color="off")
    cols[1].metric("Margin over the band", "n/a" if d["margin"] is None else f"{d['margin']:+.3f}",
                   help="How far the edge p_long - p_short clears the no-trade band (negative: inside it, flat). "
                        "The decision's real confidence: a small margin flips with a small change.")
    cols[2].metric("H share of the move", f"{m.h_share:+.0%}" if m.applicable and m.lead else "n/a",
                   m.lead or None, delta_color="off",
                   help="A_H / (F(x) - F(baseline)), signed: above 1 with L below 0 means the modules pulled apart. "
                        "H-led above 0.6, L-led below 0.4, mixed in between.")
    cols[3].metric("Completeness error", f"{100 * abs(m.completeness_delta):.3f} %"
                   if m.completeness_delta is not None else "n/a",
                   help="|sum of attributions - (F(x) - F(baseline))| / |F(x) - F(baseline)|: under 1 % is good.")

    if note := depth_note(d):
        st.warning(f"Depth changes this decision: {note}. The model ships in "
                   f"{d['full_depth']['mode']} inference mode, so the as-run action is the one traded.",
                   icon=":material/layers:")

    st.subheader("Strategic (H) vs tactical (L)")
    if m.applicable:
        st.plotly_chart(charts.module_bars(m.h, m.l, m.h_share, ex.target), width="stretch", key="explain.module")
    else:
        st.info(f"Module attribution {m.note}.", icon=":material/info:")

    st.subheader("What would change the decision")
    st.dataframe(pd.DataFrame(ex.counterfactual)[["words", "bars", "from", "to", "result", "text"]], width="stretch",
                 hide_index=True, key="explain.counterfactual")

    st.subheader("Similar situations in the training years")
    if ex.similar.get("available"):
        st.caption(ex.similar["note"][0].upper() + ex.similar["note"][1:] + ".")
        similar = pd.DataFrame(ex.similar["items"]).assign(time=lambda f: f["time"].str[:10])
        st.dataframe(similar, width="stretch", hide_index=True, key="explain.similar",
                     column_config={c: st.column_config.NumberColumn(format="percent")
                                    for c in ("forward_return", "model_pnl")})
    else:
        st.caption(ex.similar.get("note", "not available for this model") + ".")

    st.subheader("Stability across seeds")
    st_ = ex.stability
    if st_.get("available"):
        st.markdown(f"**{st_['text'][0].upper() + st_['text'][1:]}.**")
        st.plotly_chart(charts.seed_stability_chart(st_["per_seed"], int(1 if d["position"] > 0 else
                                                                         -1 if d["position"] < 0 else 0)),
                        width="stretch", key="explain.stability")
    else:
        st.caption(st_.get("note", "") + ".")

    st.subheader("How the decision formed, cycle by cycle")
    if ex.cycles["applicable"]:
        st.caption(ex.cycles["label"][0].upper() + ex.cycles["label"][1:] + ".")
        st.plotly_chart(charts.cycle_chart(ex.cycles["steps"]), width="stretch", key="explain.cycles")
    else:
        st.info(ex.cycles["note"][0].upper() + ex.cycles["note"][1:] + ".", icon=":material/info:")

    st.subheader("Which inputs, at which bars")
    f = ex.features
    st.plotly_chart(charts.feature_heatmap(f["attributions"], FEATURE_WORDS), width="stretch", key="explain.heatmap")
    st.dataframe(pd.DataFrame(f["top_features"])[["words", "attribution", "direction"]], width="stretch",
                 hide_index=True, key="explain.top")
    rc = f["ranking_change"]
    if rc:
        st.caption(f"Against the {f['compared_with']} baseline: rank correlation {rc['spearman']:.2f}, "
                   f"{rc['top_k_overlap']} of the top {rc['top_k']} inputs shared, largest rank move "
                   f"{rc['max_rank_move']}. Feature completeness error "
                   + (f"{100 * abs(f['completeness_delta']):.3f} %." if f["completeness_delta"] is not None else "n/a."))

    with st.expander("Caveats"):
        for c in ex.caveats:
            st.markdown(f"- {c}")

    st.download_button("Download the report (HTML, works offline)", key="explain.report",
                       data=lambda: loaders.explanation_report(sel.symbol, sel.interval, sel.model, ex.time,
                                                               ex.target, ex.baseline),
                       file_name=f"explain-{sel.symbol}-{sel.interval}-{ex.time:%Y-%m-%d}.html", mime="text/html",
                       icon=":material/download:")

    st.subheader("Over the test period")
    if not m.applicable:
        st.caption("The period's H/L split needs a hierarchical model.")
    elif st.toggle("Show the H/L split of every test-period decision (the first time takes a few seconds)",
                   key="explain.period"):
        with guard("explain the test period"):
            pe = loaders.explanation_period(sel.symbol, sel.interval, sel.model)
            s = pe.stats()
            claims = s["claims"]

            def ci(cell) -> str:
                if cell is None:
                    return "n/a"
                lo, hi = cell["ci"]
                return f"{cell['value']:.1%}" + ("" if lo is None else f" [{lo:.1%}, {hi:.1%}]")

            st.plotly_chart(charts.h_share_histogram(pe.frame, s["lead_band"]), width="stretch", key="explain.hist")
            st.dataframe(pd.DataFrame({
                "seed (claimed, unverified)": [f"{claims['strategic share of decisions']:.0%}",
                                               f"{claims['share of performance from strategic decisions']:.0%}"],
                "measured [95 % CI]": [ci(s["h_led_share"]), ci(s["pnl_share_h_led"])]},
                index=["H-led share of decisions", "share of net PnL from H-led decisions"]),
                width="stretch", key="explain.claims")
            st.caption(f"{s['decisions']} decisions, {pe.period['label']} ({pe.period['start']} .. "
                       f"{pe.period['end']}); H-led = h_share > {0.5 + s['lead_band']:g}, L-led < "
                       f"{0.5 - s['lead_band']:g}; intervals: block bootstrap over decisions. H-led decisions' net PnL "
                       f"{s['pnl_h_led']['value']:+.4f} of the period's {s['pnl_total']['value']:+.4f}. "
                       f"{s['pnl_note']}")
            by = st.radio("Group by", ["action", "regime", "steps"], horizontal=True, key="explain.by")
            st.dataframe(pd.DataFrame(s[f"by_{by}"]).T, width="stretch", key="explain.by_table")
