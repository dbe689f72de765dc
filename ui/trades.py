"""The trade browser on Signals and Live: filter, sort, click a trade to see it on candles and open its decision."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from hrm_core.evaluation.trades import around
from ui import charts
from ui.decision import open_in_explain

COLUMN_CONFIG = {
    "size": st.column_config.NumberColumn(help="|position| at entry (1 = the whole capital)", format="%.2f"),
    "net PnL [%]": st.column_config.NumberColumn(help="Compounded net return of the trade, after costs",
                                                 format="%+.2f"),
    "bars held": st.column_config.NumberColumn(help="Bars the position earned"),
    "regime at entry": st.column_config.TextColumn(help="Causal market regime known at the deciding close"),
    "decided at": st.column_config.DatetimeColumn(help="The close whose decision opened the trade (Explain opens it)",
                                                  format="YYYY-MM-DD"),
    "entry": st.column_config.DatetimeColumn(format="YYYY-MM-DD"),
    "exit": st.column_config.DatetimeColumn(help="Empty while the trade is open", format="YYYY-MM-DD"),
}


def trade_browser(trades: pd.DataFrame, bars: pd.DataFrame, *, symbol: str, interval: str, key: str) -> None:
    """Filters, the sortable list (click a header to sort), and the chosen trade on candles with a link to Explain."""
    if trades.empty:
        st.caption("No trades in these bars.")
        return
    left, right = st.columns(2)
    side = left.segmented_control("Side", ["all", "long", "short"], default="all", key=key + "side")
    regimes = sorted(trades["regime at entry"].dropna().unique())
    chosen = right.multiselect("Regime at entry", regimes, default=regimes, key=key + "regimes")
    shown = trades[trades["regime at entry"].isin(chosen)]
    if side in ("long", "short"):
        shown = shown[shown["side"] == side]
    won = (shown["net PnL [%]"] > 0).mean() if len(shown) else float("nan")
    st.caption(f"{len(shown):,} of {len(trades):,} trades, newest first; {won:.0%} won. Click a row to see the trade "
               "on the chart and open the decision that entered it.")
    event = st.dataframe(shown, width="stretch", hide_index=True, key=key + "list", on_select="rerun",
                         selection_mode="single-row", column_config=COLUMN_CONFIG)
    rows = event.selection.rows if event is not None else []
    if rows:
        trade = shown.iloc[rows[0]]
        title = (f"{symbol} {interval}: {trade['side']} {trade['size']:.2f} from {trade['entry']:%Y-%m-%d}, "
                 f"{trade['net PnL [%]']:+.2f} %")
        st.plotly_chart(charts.trade_chart(around(bars, trade), trade, title), width="stretch", key=key + "chart")
        if st.button(f"Explain the entry decision ({trade['decided at']:%Y-%m-%d})", key=key + "explain",
                     icon=":material/psychology:"):
            open_in_explain(trade["decided at"], symbol=symbol)
    st.download_button("Download the trades (CSV)", lambda: trades.to_csv(index=False).encode(), key=key + "download",
                       file_name=f"trades_{symbol}_{interval}.csv".replace("^", ""), mime="text/csv")
