"""Performance (backtest): the model against buy & hold and the baselines, with costs, CIs, regimes and risk rules."""
from dataclasses import replace

import pandas as pd
import streamlit as st

from hrm_core.evaluation import equal_risk
from hrm_core.experiments import edge_power
from hrm_core.evaluation.baselines import bars_for
from hrm_core.evaluation.evaluate import (
    DEFINITIONS, TABLE_KEYS, break_even_cost_bps, cost_sensitivity, monthly_returns, risk_effects, rolling_sharpe,
)
from hrm_core.evaluation.report import execution_text
from hrm_core.served.results import describe_shown
from ui import charts, loaders
from ui.guard import guard
from ui.guide import how_to_read
from ui.state import selection, settings

KEY = "performance."  # session-state namespace of this page
COSTS_GRID_BPS = (0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0)

SECTIONS = ("Regimes", "Returns and costs", "Risk rules", "Trades")


def regimes_section(ablations: bool) -> None:
    st.caption("Each bar's return is grouped by the regime known when its position was decided "
               "(causal rules: high volatility > bear > bull > sideways).")
    tables = loaders.performance_tables(sel.symbol, sel.interval, sel.model, sel.start, sel.end, ablations)
    regimes = tables["regimes"]
    st.dataframe(regimes, width="stretch", key=KEY + "regimes", column_config={
        c: st.column_config.NumberColumn(c, format="%d" if c == "Bars" else "%.2f")
        for c in regimes.select_dtypes("number").columns})
    regime_sharpes = tables["regime_sharpes"]
    st.dataframe(regime_sharpes, width="stretch", key=KEY + "regime_sharpes",
                 column_config={c: st.column_config.NumberColumn(c, help="Sharpe in this regime", format="%.2f")
                                for c in regime_sharpes.columns})


def returns_section(inst, run, name: str) -> None:
    """Monthly returns, rolling Sharpe and cost sensitivity of one strategy."""
    left, right = st.columns(2)
    with left:
        st.plotly_chart(charts.monthly_heatmap(monthly_returns(run.net_returns), f"Monthly returns [%]: {name}"),
                        width="stretch", key=KEY + "monthly")
    with right:
        window = st.number_input("Rolling window [bars]", min_value=10, max_value=max(10, inst.n_bars),
                                 value=min(bars_for(126, inst.interval), max(10, inst.n_bars)), key=KEY + "window")
        roll = {n: rolling_sharpe(inst.run(n).net_returns, window=int(window), periods_per_year=inst.periods_per_year)
                for n in dict.fromkeys([name, "buy & hold"])}
        st.plotly_chart(charts.lines(pd.DataFrame(roll), f"Rolling Sharpe over {int(window)} bars (annualised)",
                                     "Sharpe (annualised)"),
                        width="stretch", key=KEY + "rolling")

    st.subheader("Cost sensitivity")
    sens = cost_sensitivity(run.backtest, costs_bps=COSTS_GRID_BPS, periods_per_year=inst.periods_per_year)
    be = break_even_cost_bps(run.backtest)
    c1, c2 = st.columns([1, 2])
    c1.metric("Break-even cost [bps per unit of turnover]", "n/a (never trades)" if be == float("inf") else f"{be:.1f}",
              help="Total cost at which the net compounded return over the period is 0; 0 = loses even without costs.")
    c1.dataframe(sens, key=KEY + "costs_table")
    cost_fig = charts.lines(sens[["Annual return [%]"]], f"Annual return vs cost: {name}", "annual return [%]")
    c2.plotly_chart(cost_fig.update_xaxes(title_text="total cost [bps per unit of turnover]"),
                    width="stretch", key=KEY + "costs_chart")


def risk_section(run, stored: bool, ablations: bool) -> None:
    """Each risk rule alone and all together, under the settings' rules or the ones tried here."""
    st.caption("Each rule alone, and all together, on the same target positions and costs. Start from the "
               f"settings in force (`{s.source}`) and try others here; the figures above always use the settings file.")
    r = s.risk
    c = st.columns(4)
    what_if = replace(r, max_abs_position=c[0].number_input("Position cap", 0.05, 1.0, r.max_abs_position, 0.05,
                                                            key=KEY + "cap"),
                      vol_target_annual=c[1].number_input("Vol target (annual, 0 = off)", 0.0, 1.0,
                                                          r.vol_target_annual, 0.01, key=KEY + "vol"),
                      drawdown_brake=c[2].number_input("Drawdown brake (0 = off)", 0.0, 0.9, r.drawdown_brake, 0.01,
                                                       key=KEY + "brake"),
                      drawdown_brake_scale=c[3].number_input("Exposure while braking", 0.05, 1.0,
                                                             r.drawdown_brake_scale, 0.05, key=KEY + "brake_scale"))
    if stored and what_if == r:  # the first strategy under the settings' rules: kept in results.db
        table = loaders.performance_tables(sel.symbol, sel.interval, sel.model, sel.start, sel.end,
                                           ablations)["risk_effects"]
    else:
        table = risk_effects(run, replace(s, risk=what_if))
    st.dataframe(table, width="stretch", key=KEY + "risk")


sel = selection()
s = settings()
st.title("Performance")
how_to_read("What the model's decisions would have earned on past prices, next to simple rules (buy & hold, "
            "moving averages, momentum), **after trading costs**. Only the *test period* is out-of-sample: the "
            "model never saw it while training. Returns are in % per year, drawdown in % below the last peak; "
            "**Sharpe** is return per unit of risk, per year (above 1 is good, below 0 loses money); the "
            "*CI 95 %* columns give the range the true value plausibly lies in. Hover a column header for its "
            "definition.")

if sel.model is None:
    st.info("No trained model found in models/, so only the rule baselines are shown. Train one with "
            "`hrm train --preset default` (or ship one in models/) and pick it in the sidebar.",
            icon=":material/info:")
ablations = st.toggle("Include the model ablations (flat transformer, N = T = 1, no ACT, reset L, full gradient)",
                      key=KEY + "ablations",
                      disabled=sel.model is None, help="Runs each shipped ablation checkpoint through the same "
                      "signals, risk layer, backtest and costs.")

equal = st.toggle(f"Compare at equal risk ({equal_risk.TARGET_VOL:.0%} annualised volatility)", value=True,
                  key=KEY + "equal_risk", help="On: " + equal_risk.describe() + ", so the chart compares skill, not "
                  "leverage. Off: the positions as traded. Regimes, costs, risk rules and trades below are as traded.")

with guard(f"backtest {sel.symbol} {sel.interval}"):
    inst = loaders.performance(sel.symbol, sel.interval, sel.model, sel.start, sel.end, ablations)
    shown = loaders.performance_at_equal_risk(sel.symbol, sel.interval, sel.model, sel.start, sel.end, ablations) \
        if equal else inst
    shown_as = describe_shown(equal)
    main = inst.runs[0]
    st.caption(
        f"{inst.symbol} {inst.interval}, **{inst.period.label}**: {inst.first:%Y-%m-%d} to {inst.last:%Y-%m-%d} "
        f"({inst.n_bars:,} bars; data: {inst.source}). Costs {s.costs.commission_bps:g} bps commission + "
        f"{s.costs.slippage_bps:g} bps slippage per unit of turnover; annualisation {inst.periods_per_year:g} bars "
        f"per year. Fills: {execution_text(s.costs.execution)}. Settings: `{s.source}`.")
    for note in inst.notes:
        st.warning(f"Caution: {note}.", icon=":material/warning:")

    sentence = loaders.performance_verdict(sel.symbol, sel.interval, sel.model, sel.start, sel.end, ablations, equal)
    if sentence:
        st.markdown(sentence)
    title = f"Equity (growth of 1 unit) and drawdown [%], net of costs, {shown_as}"
    st.plotly_chart(loaders.shared_figure(
        loaders.figure_key(sel.symbol, sel.interval, sel.model, "equity", sel.start, sel.end, ablations, title),
        lambda: charts.equity_drawdown(shown.equity(), shown.drawdown(), title, trades=shown.runs[0].backtest.trades)),
        width="stretch", key=KEY + "equity")

    st.subheader("Metrics")
    table = shown.metrics_table()
    table.insert(0, "shown", shown_as)
    st.dataframe(table, width="stretch", key=KEY + "metrics", column_config={
        "shown": st.column_config.TextColumn("shown", help="as traded, or " + equal_risk.describe()),
        "kind": st.column_config.TextColumn("kind", help="model, model baseline (ablation) or rule baseline"),
        **{k: st.column_config.NumberColumn(k, help=DEFINITIONS.get(k, ""), format="%.2f") for k in TABLE_KEYS}})
    with st.expander("Definitions"):
        st.markdown("\n".join(f"- **{k}**: {DEFINITIONS[k]}" for k in TABLE_KEYS if k in DEFINITIONS))

    ladder = edge_power.load_result()
    if ladder is not None:
        st.subheader("Could the pipeline see an edge of realistic size?")
        st.markdown(edge_power.headline(ladder)
                    + (f" {edge_power.real_data_sentence(ladder['real_data'])}" if ladder.get("real_data") else ""))
        if main.kind == "model":
            m = main.metrics
            st.markdown(edge_power.real_data_verdict(
                ladder, name=main.name, symbol=inst.symbol, sharpe=m["Sharpe"],
                ci=(m["Sharpe CI 95% low"], m["Sharpe CI 95% high"]), years=inst.n_bars / inst.periods_per_year))
        with st.expander("The known-answer ladder: minimum detectable edge per learner and signal shape"):
            st.caption("Oracle net annual Sharpe of the weakest planted rung detected in at least "
                       f"{edge_power.POWER_GOAL:.0%} of seeds (empty: none up to {max(edge_power.RUNGS):g}). "
                       f"Reproduce: `{ladder['command']}`; method and tables: docs/results.md.")
            st.dataframe(edge_power.min_detectable_table(ladder), width="stretch", key=KEY + "edge_power")

    names = [r.name for r in inst.runs]
    left, right = st.columns([1, 2])
    name = left.selectbox("Strategy to inspect", names, key=KEY + "strategy",
                          help="The strategy the sections below and the backtest download show (regimes: all).")
    run = inst.run(name)
    # One section at a time: each is a few tables or charts, and a browser drawing all of them on every visit
    # is what made this page slow to open (benchmarks.ui).
    section = right.radio("Look closer", SECTIONS, horizontal=True, key=KEY + "section")
    if section == "Regimes":
        regimes_section(ablations)
    elif section == "Returns and costs":
        returns_section(inst, run, name)
    elif section == "Risk rules":
        risk_section(run, stored=name == names[0], ablations=ablations)
    else:
        trades = run.backtest.trades
        st.caption(f"{name}: {len(trades):,} trades ({int(trades['open'].sum()) if len(trades) else 0} still open "
                   "at the end).")
        st.dataframe(trades, width="stretch", key=KEY + "trades")

    export = run.backtest.frame.join(run.signals.table.drop(columns=["position"]), how="left") \
        if run.signals is not None else run.backtest.frame
    st.download_button("Download the backtest (CSV)", lambda: export.to_csv().encode(), key=KEY + "download",
                       file_name=f"backtest_{inst.symbol}_{inst.interval}_{name}.csv".replace(" ", "_").replace("&", "and"),
                       mime="text/csv")
    st.download_button("Download the metrics table (CSV)", lambda: table.to_csv().encode(), key=KEY + "download_metrics",
                       file_name=f"metrics_{inst.symbol}_{inst.interval}.csv", mime="text/csv")
