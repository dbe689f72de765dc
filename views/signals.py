"""Signals: the chosen instrument's candlesticks, where the data came from, and the model's decisions on top."""
import streamlit as st

from hrm_core.live.today import health_of, today
from hrm_core.trading.signals import action_changes
from ui import charts, loaders
from ui.decision import open_in_explain
from ui.guard import guard
from ui.guide import how_to_read
from ui.state import selection, settings
from ui.trades import trade_browser

KEY = "signals."  # session-state namespace of this page
SAMPLE_NOTE = ("Offline: the bundled daily S&P 500 (^GSPC) and NASDAQ Composite (^IXIC), 1999-2018. "
               "Upload your own file in the sidebar (*Your own data*), or connect to the internet to fetch any "
               "Yahoo ticker.")

sel = selection()
st.title("Signals")
how_to_read("The price chart shows one candle per bar (a day, a week or an hour: the sidebar's *Timeframe*). A "
            "**green triangle** marks where the model starts holding a long position (it expects a rise), a **red "
            "triangle** a short one (a fall), a **grey circle** where it goes back to no position. Below: the "
            "*position* it holds (from -1 = fully short to +1 = fully long; 0.3 = 30 % of the capital: the more "
            "p(rise) exceeds p(fall), the larger, times the size the model chooses) and its *margin*: how far "
            "p(rise) - p(fall) clears the no-trade band (below 0 it is inside the band and stays out). A marker also appears when the position has grown or shrunk by "
            "0.1 since the last one. Shaded areas are the years the model learned "
            "from; only the green *test* years are a fair trial. Hover a marker for details; click it to see why.")

def _range_from_url() -> None:
    """Seed the Range control from the link (?range=...) once per session; the page writes it back below."""
    wanted = st.query_params.get("range")
    if wanted in charts.RANGES and not st.session_state.get(KEY + "range_seeded"):
        st.session_state[KEY + "range"] = wanted
    st.session_state[KEY + "range_seeded"] = True


def today_cards(symbols) -> None:
    """One card per selected instrument: what the model wants for the next bar, and whether to trust it."""
    s = settings()
    cols = st.columns(min(len(symbols), 4))
    for i, symbol in enumerate(symbols):
        with cols[i % len(cols)].container(border=True), guard(f"today's decision for {symbol} {sel.interval}"):
            sig = loaders.signals(symbol, sel.interval, sel.model)
            card = today(sig.table, symbol=symbol, interval=sel.interval, execution=s.costs.execution,
                         health=health_of(loaders.ledger_path(), symbol, sel.interval))
            st.markdown(f"**{card.headline}**")
            if card.time is None:
                continue
            a, b = st.columns(2)
            a.metric("Target position", f"{card.position:+.2f}", help="-1 fully short .. +1 fully long")
            b.metric("Margin over the no-trade band", f"{card.margin:+.3f}",
                     help="How far p(rise) - p(fall) clears the band; below 0 it stays flat; small flips easily")
            st.caption(f"Decided at the close of {card.time:%Y-%m-%d}; model health: **{card.health}**"
                       + (" (run `hrm live` and `hrm health` to monitor it)" if card.health == "not monitored"
                          else " (last `hrm health` verdict of the paper book)"))
            if st.button("Why? Open its explanation", key=f"{KEY}why.{symbol}", icon=":material/psychology:"):
                open_in_explain(card.time, symbol=symbol)


def instrument(symbol: str) -> None:
    """Data badge, chart with the model's decisions, and the recent decisions of one instrument."""
    bars = None
    with guard(f"load {symbol} {sel.interval}"):
        result = loaders.bars(symbol, sel.interval, sel.start, sel.end)
        bars = result.bars
        if result.source == "sample" and symbol == sel.symbol:
            st.info(f"**Welcome.** {SAMPLE_NOTE}", icon=":material/waving_hand:")
        st.badge(result.badge(), icon=":material/database:", color=charts.BADGE_COLOURS.get(result.source, "gray"))
        source = {"sample": f"the bundled sample, used because: {result.note}" if result.note else "the bundled sample",
                  "file": f"your file ({result.symbol})"}.get(result.source, result.badge())
        st.caption(f"{len(bars):,} {sel.interval} bars, {bars.index[0]:%Y-%m-%d} to {bars.index[-1]:%Y-%m-%d}; "
                   f"source: {source}.")
        if result.note and result.source not in ("sample", "file"):  # why a fallback happened (a broken cache file...)
            st.caption(f"Data note: {result.note}")
        if result.quality_note:
            st.badge("opens missing", icon=":material/warning:", color="orange")
            st.caption(f"Data quality: {result.quality_note}.")
    if bars is None:
        return
    key = KEY if symbol == sel.symbol else f"{KEY}{symbol}."  # the primary keeps the keys links and tests know
    if sel.model is None:
        st.info("No trained model found in models/: showing prices only. Train one with `hrm train` "
                "(or ship one in models/) to see its signals here.", icon=":material/info:")
        view = bars.loc[charts.window_start(bars.index, window or "all"):]
        st.plotly_chart(charts.candlestick(view, f"{symbol} - {sel.interval}"), width="stretch", key=key + "prices")
        return
    with guard(f"compute {symbol} {sel.interval} signals"):
        sig = loaders.signals(symbol, sel.interval, sel.model)
        table = sig.table.loc[bars.index[0]:bars.index[-1]]
        changes = charts.position_changes(table, action_changes(sig.table).loc[bars.index[0]:bars.index[-1]])
        st.caption(f"Model `{sig.model_id}`: {(table['status'] == 'ok').sum():,} decisions, "
                   f"{(table['status'] == 'warmup').sum():,} warm-up bars (too early to decide), "
                   f"{(table['status'] == 'nonfinite').sum():,} non-finite outputs (shown flat), {len(changes):,} "
                   f"position changes; each decision is made at a bar's close"
                   f"{' and filled at the next open' if settings().costs.execution == 'next_open' else ' and filled at that close'}"
                   f"{' (served from the signal cache)' if sig.cached else ''}.")
        for note in sig.notes:  # a model trained on other bars, or a signal cache that could not be used
            st.caption(f"Note: {note}.")
        periods = loaders.periods(sel.model)
        shown = bars.loc[charts.window_start(bars.index, window or "all", periods):]
        fig = charts.signal_chart(shown, table, changes, f"{symbol} - {sel.interval}", periods, volume=volume)
        event = st.plotly_chart(fig, width="stretch", key=key + "chart", on_select="rerun", selection_mode="points")
        st.caption(f"Shaded: where this model was trained ({' .. '.join(periods['train'])}) and validated; only "
                   f"the test period ({' .. '.join(periods['test'])}) and later is out-of-sample. Click a marker "
                   "to see why the model decided there (opens Explain).")
        clicked = charts.clicked_decision(fig, event)
        if clicked is not None:
            open_in_explain(clicked, symbol=symbol)
        # One table at a time: a browser drawing both beside the first chart delayed that chart by about 0.8 s.
        below = st.radio("Look closer", BELOW, horizontal=True, key=key + "below")
        if below == "Trades":
            trade_browser(loaders.trades(symbol, sel.interval, sel.model, sel.start, sel.end), bars, symbol=symbol,
                          interval=sel.interval, key=key + "trades.")
        else:
            recent_decisions(symbol, table, sig, key)


def recent_decisions(symbol: str, table, sig, key: str) -> None:
    """The last 20 decisions, newest first, with where full depth would decide otherwise; the signals download."""
    recent = table.tail(20).iloc[::-1][["action", "position", "margin", "p_short", "p_flat", "p_long",
                                        "value", "steps", "latency_ms", "status"]]
    full = loaders.full_depth(symbol, sel.interval, sel.model, tuple(recent.index))
    if full is not None:  # where running every segment would decide otherwise, say so beside the action
        recent.insert(1, "at full depth", [f"{a} as run, {b} at full depth" if isinstance(b, str) and b != a else "same"
                                           for a, b in zip(recent["action"], full.reindex(recent.index))])
    st.dataframe(recent, width="stretch", key=key + "recent", column_config=RECENT_COLUMNS)
    st.download_button("Download the signals (CSV)", lambda: sig.table.to_csv().encode(), key=key + "download",
                       file_name=f"signals_{symbol}_{sel.interval}.csv".replace("^", ""), mime="text/csv")


BELOW = ["Recent decisions", "Trades"]


RECENT_COLUMNS = {
    "position": st.column_config.NumberColumn(
        help="Target position: -1 fully short .. +1 fully long: the size head x "
             "(p_long - p_short - centre) / scale, clipped, flat inside the no-trade band "
             "(the model card's position rule, chosen on validation)",
        format="%.2f"),
    "margin": st.column_config.NumberColumn(
        help="How far p_long - p_short clears the no-trade band (negative: inside it, flat): "
             "a small margin flips with a small change", format="%+.3f"),
    "p_short": st.column_config.NumberColumn(help="Probability of a fall", format="%.2f"),
    "p_flat": st.column_config.NumberColumn(help="Probability of no clear move", format="%.2f"),
    "p_long": st.column_config.NumberColumn(help="Probability of a rise", format="%.2f"),
    "value": st.column_config.NumberColumn(help="Value head: expected forward return "
                                                "(fraction, 0.01 = 1 %)", format="%.4f"),
    "steps": st.column_config.NumberColumn(help="Reasoning segments used (ACT)"),
    "latency_ms": st.column_config.NumberColumn(help="Amortised model time per decision [ms]", format="%.2f"),
}

_range_from_url()
left, right = st.columns([3, 1])
window = left.segmented_control("Range", charts.RANGES, default="1 year", key=KEY + "range",
                                help="The chart shows this span (zoom in with the mouse; double-click to reset). "
                                     "Longer spans merge bars into coarser candles so the page stays fast.")
volume = right.toggle("Volume", key=KEY + "volume", help="Traded volume per candle, under the chart.")
if window and st.query_params.get("range") != window:
    st.query_params["range"] = window
if sel.model is not None:
    today_cards(sel.symbols)
if len(sel.symbols) == 1:
    instrument(sel.symbol)
else:
    for symbol, tab in zip(sel.symbols, st.tabs(list(sel.symbols))):
        with tab:
            instrument(symbol)
