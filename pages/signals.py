"""Signals: the chosen instrument's candlesticks with where the data came from."""
import streamlit as st

from ui import charts, loaders
from ui.guard import guard
from ui.state import selection

sel = selection()
st.title("Signals")

with guard(f"load {sel.symbol} {sel.interval}"):
    result = loaders.bars(sel.symbol, sel.interval, sel.start, sel.end)
    bars = result.bars
    st.badge(result.badge(), icon=":material/database:", color=charts.BADGE_COLOURS.get(result.source, "gray"))
    st.caption(f"{len(bars):,} bars, {bars.index[0]:%Y-%m-%d} to {bars.index[-1]:%Y-%m-%d}")
    st.plotly_chart(charts.candlestick(bars, f"{sel.symbol} - {sel.interval}"), width="stretch")
