"""Live: the paper-trading ledger against the backtest on the same bars, trade by trade, differences explained."""
import pandas as pd
import streamlit as st

from hrm_core.evaluation.report import execution_text
from hrm_core.evaluation.trades import trade_list
from ui import live_charts, loaders
from ui.guard import guard
from ui.guide import how_to_read
from ui.state import settings
from ui.trades import trade_browser

KEY = "live."  # session-state namespace of this page
REFRESH = "30s"  # the panels re-read the ledger this often (a running `hrm live --loop` adds bars)

st.title("Live")
how_to_read("Paper trading: the model trades on paper, bar by bar, and every decision is written down. This page "
            "checks that paper trading earns what the backtest says it would on the same bars. **Equity** is the "
            "growth of 1 unit; differences are in basis points (**bp**, 1 bp = 0.01 %). A small gap explained "
            "by costs or fill timing is expected; a *signal* difference means the live model decided otherwise.")
db, book = live_charts.open_book(KEY)
st.caption("Paper trading: each completed bar goes through the signal table's code, the risk layer and the "
           f"backtest's fill and cost model, into a SQLite ledger (`hrm live`). Fills: "
           f"{execution_text(book.costs.execution)}; turnover is measured from the drifted weight.")


@st.fragment(run_every=REFRESH)
def panels() -> None:
    """Everything read from the ledger: refreshed in place, without rerunning the page."""
    with guard(f"reconcile {book.label}"):
        rec = loaders.reconciliation(db, book.symbol, book.interval)
        led = loaders.ledger_frame(db, book.book_id)
        s = rec.summary
        c = st.columns(5)
        c[0].metric("Signal agreement", f"{s['signal_agreement']:.1%}", help="Share of bars where the live action "
                    "equals the signal table's; float32 noise below the tolerance is not a disagreement.")
        c[1].metric("Bars (ledger / data)", f"{s['bars_ledger']} / {s['bars_data']}")
        c[2].metric("Equity live", f"{s['equity']['live_final']:.4f}",
                    delta=f"{1e4 * s['equity']['gap_final']:+.2f} bp vs backtest")
        c[3].metric("PnL difference", f"{1e4 * s['pnl_difference']['total']:+.2f} bp",
                    help="Sum of per-bar net returns, live minus backtest = signal + fill/timing + cost parts.")
        last = led.index[-1]
        c[4].metric("Newest bar", f"{last:%Y-%m-%d}", help=_age_text(led))
        st.caption(f"{book.label}: {s['first'][:10]} .. {s['last'][:10]}. Verdict: **{s['verdict']}**. "
                   f"Execution parity (risk + fill + cost on the ledger's own signals): "
                   f"{s['execution_parity_max_abs_diff']:.2g}. Data: {led['source'].iloc[-1]}; {_age_text(led)}.")
        window = max(5, min(20, len(rec.frame)))
        st.plotly_chart(live_charts.live_vs_backtest(rec.frame, "Live equity over backtest equity, same bars",
                                                     window), width="stretch", key=KEY + "equity")
        _reconciliation_tables(rec)
        st.subheader("Last decisions")
        cols = ["mode", "action", "confidence", "raw_position", "target", "held", "net_return", "equity", "steps",
                "latency_ms", "source"]
        st.dataframe(led[cols].tail(20).iloc[::-1], width="stretch", key=KEY + "decisions")
        st.subheader("Trades")
        bars = loaders.bars(book.symbol, book.interval).bars.loc[:led.index[-1]]
        trade_browser(trade_list(led["raw_position"], bars, symbol=book.symbol, interval=book.interval,
                                 settings=settings(), start=f"{led.index[0]:%Y-%m-%d}"),
                      bars, symbol=book.symbol, interval=book.interval, key=KEY + "trades.")
        st.download_button("Download the ledger (CSV)", lambda: led.to_csv().encode(), key=KEY + "download_ledger",
                           file_name=f"ledger_{book.symbol}_{book.interval}.csv".replace("^", ""), mime="text/csv")


def _reconciliation_tables(rec) -> None:
    st.subheader("Reconciliation")
    pnl = rec.summary["pnl_difference"]
    parts = pd.DataFrame({"part": ["signal", "fill / timing", "cost", "total"],
                          "PnL difference [bp]": [1e4 * pnl[k] for k in ("signal", "fill_timing", "cost", "total")],
                          "why": [pnl["explanation"]["signal"], pnl["explanation"]["fill_timing"],
                                  pnl["explanation"]["cost"], pnl["unit"]]}).set_index("part")
    st.dataframe(parts, width="stretch", key=KEY + "parts")
    diff = rec.differences()
    if diff.empty:
        st.success(f"Every bar agrees (numerical float32 noise on {rec.summary['numerical_noise_bars']} bar(s), "
                   f"max position gap {rec.summary['position_max_abs_diff']:.2g}).", icon=":material/check_circle:")
    else:
        st.warning(f"{len(diff)} bar(s) differ; each with its reason below.", icon=":material/warning:")
        st.dataframe(diff[["reason", "action_live", "action_backtest", "target_live", "target_backtest",
                           "close_live", "close_backtest"]], width="stretch", key=KEY + "differences")
    st.caption("Trades matched on entry time (the backtest's trade definition on both sides).")
    st.dataframe(rec.trade_table(), width="stretch", key=KEY + "trades")


def _age_text(led: pd.DataFrame) -> str:
    """How old the newest bar was when it was decided, and how old the download was."""
    if led["mode"].iloc[-1] == "replay":
        return "replayed from stored history (no live download)"
    decided = pd.Timestamp(led["decided_at"].iloc[-1])
    lag = decided - led.index[-1]
    age = led["data_age_s"].iloc[-1]
    download = f"download {age / 3600:.1f} h old" if pd.notna(age) else "no download (sample or file)"
    return f"decided {lag.days} d {lag.seconds // 3600} h after the bar opened; {download}"


panels()
