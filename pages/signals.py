"""Signals: the chosen instrument's candlesticks, where the data came from, and the model's decisions on top."""
import streamlit as st

from hrm_core.signals import action_changes
from ui import charts, loaders
from ui.decision import open_in_explain
from ui.guard import guard
from ui.state import selection

sel = selection()
st.title("Signals")
bars = None  # set when the data loads

with guard(f"load {sel.symbol} {sel.interval}"):
    result = loaders.bars(sel.symbol, sel.interval, sel.start, sel.end)
    bars = result.bars
    st.badge(result.badge(), icon=":material/database:", color=charts.BADGE_COLOURS.get(result.source, "gray"))
    st.caption(f"{len(bars):,} bars, {bars.index[0]:%Y-%m-%d} to {bars.index[-1]:%Y-%m-%d}")
    if result.note:  # why a fallback happened (no network, a broken cache file, ...)
        st.caption(f"Data note: {result.note}")
    if sel.model is None:
        st.info("No trained model found in models/: showing prices only. Train one with `hrm train` "
                "(or ship one in models/) to see its signals here.", icon=":material/info:")
        st.plotly_chart(charts.candlestick(bars, f"{sel.symbol} - {sel.interval}"), width="stretch")

if sel.model is not None and bars is not None:
    with guard(f"compute {sel.symbol} {sel.interval} signals"):
        sig = loaders.signals(sel.symbol, sel.interval, sel.model)
        table = sig.table.loc[bars.index[0]:bars.index[-1]]
        changes = action_changes(sig.table).loc[bars.index[0]:bars.index[-1]]
        st.caption(f"Model `{sig.model_id}`: {(table['status'] == 'ok').sum():,} decisions, "
                   f"{(table['status'] == 'warmup').sum():,} warm-up bars, "
                   f"{(table['status'] == 'nonfinite').sum():,} non-finite outputs (shown flat); "
                   f"position = direction x size, decided at the close and held over the next bar"
                   f"{' (served from the signal cache)' if sig.cached else ''}.")
        for note in sig.notes:  # a model trained on other bars, or a signal cache that could not be used
            st.warning(note, icon=":material/warning:")
        periods = loaders.model(sel.model).periods
        st.caption(f"Shaded: where this model was trained ({' .. '.join(periods['train'])}) and validated; "
                   f"only the test period ({' .. '.join(periods['test'])}) and later is out-of-sample.")
        fig = charts.signal_chart(bars, table, changes, f"{sel.symbol} - {sel.interval}", periods)
        event = st.plotly_chart(fig, width="stretch", key="signals.chart", on_select="rerun", selection_mode="points")
        st.caption("Click a buy/sell marker to see why the model decided there (opens Explain).")
        clicked = charts.clicked_decision(fig, event)
        if clicked is not None:
            open_in_explain(clicked)
        st.subheader("Recent decisions")
        st.dataframe(table.tail(20).iloc[::-1][["action", "position", "confidence", "p_short", "p_flat", "p_long",
                                                 "value", "steps", "latency_ms", "status"]],
                     width="stretch", key="signals.recent", column_config={
                         "position": st.column_config.NumberColumn(help="Target position in [-1, 1]", format="%.2f"),
                         "confidence": st.column_config.NumberColumn(help="Largest of the three probabilities",
                                                                     format="%.2f"),
                         "value": st.column_config.NumberColumn(help="Value head: expected forward return",
                                                                format="%.4f"),
                         "steps": st.column_config.NumberColumn(help="Reasoning segments used (ACT)"),
                         "latency_ms": st.column_config.NumberColumn(help="Amortised model time per decision",
                                                                     format="%.2f")})
