"""Plotly figure builders for the pages (presentation only)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

BADGE_COLOURS = {"live": "green", "cache": "blue", "stale-cache": "orange", "sample": "gray", "file": "violet"}
# Shading of a checkpoint's periods: a trader must see where signals are in-sample.
PERIOD_STYLE = {"train": ("rgba(128,128,128,0.10)", "train (in-sample)"),
                "validation": ("rgba(255,165,0,0.10)", "validation"),
                "test": ("rgba(44,160,44,0.10)", "test (out-of-sample)")}


def utc_naive(obj):
    """Times as naive UTC (frames and series by their index). Plotly turns tz-aware times into object arrays of
    Timestamps, 6-12x slower to build, copy and serialise (an 11-strategy equity chart: 0.53 s, naive 0.07 s)."""
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return obj.tz_convert(None) if isinstance(obj.index, pd.DatetimeIndex) and obj.index.tz is not None else obj
    if isinstance(obj, (pd.DatetimeIndex, pd.Timestamp)):
        return obj.tz_convert(None) if obj.tz is not None else obj
    return obj


def _frame(fig: go.Figure, title: str, height: int) -> go.Figure:
    """Shared layout: title on top, legend under the plot so the two never overlap."""
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.08, x=0))
    return fig


def candlestick(bars: pd.DataFrame, title: str, *, max_candles: int | None = None) -> go.Figure:
    """Candlesticks of OHLC bars (merged into at most `max_candles`, default MAX_CANDLES), sized for the dashboard."""
    candles = resample_ohlc(utc_naive(bars), _bucket(len(bars), max_candles or MAX_CANDLES))
    fig = go.Figure(_candles(candles))
    fig.update_layout(xaxis_rangeslider_visible=False, yaxis_title="price")
    return _frame(fig, title, 520)


def trade_chart(bars: pd.DataFrame, trade: pd.Series, title: str) -> go.Figure:
    """Candles around one trade (hrm_core.evaluation.trades.around), the deciding close, entry and exit marked."""
    fig = candlestick(bars, title)
    bars = utc_naive(bars)
    trade = trade.copy()
    for when in ("entry", "exit", "decided at"):
        trade[when] = utc_naive(trade[when]) if pd.notna(trade[when]) else trade[when]
    entry_px = bars["open"].get(trade["entry"], bars["close"].get(trade["entry"]))
    fig.add_trace(go.Scatter(x=[trade["entry"]], y=[entry_px], mode="markers", name=f"entry ({trade['side']})",
                             marker=dict(symbol="triangle-up" if trade["side"] == "long" else "triangle-down",
                                         size=14, color="#2ca02c" if trade["side"] == "long" else "#d62728")))
    if pd.notna(trade["exit"]):
        exit_px = bars["open"].get(trade["exit"], bars["close"].get(trade["exit"]))
        fig.add_trace(go.Scatter(x=[trade["exit"]], y=[exit_px], mode="markers", name="exit",
                                 marker=dict(symbol="x", size=12, color="#222")))
    fig.add_vline(x=trade["decided at"], line_dash="dot", line_color="#888")
    fig.add_annotation(x=trade["decided at"], y=1, yref="paper", text="decided", showarrow=False, yanchor="bottom")
    return fig


# --- signals and performance (presentation of hrm_core.trading.signals / hrm_core.evaluation.evaluate results) ------

MARKERS = {  # action the model switched to -> marker (names: clicked_decision and the browser tests find them)
    "long": dict(symbol="triangle-up", color="#2ca02c", name="buy (to long)", size=11),
    "short": dict(symbol="triangle-down", color="#d62728", name="sell (to short)", size=11),
    "flat": dict(symbol="circle-open", color="#555555", name="to flat", size=8),
}
# Figure payload: at most this many candles per chart, older bars merged k at a time (k = ceil(bars / MAX)).
# 20 years of daily bars shown whole -> 5031 bars -> 719 candles of 7 days; the JSON stays under BUDGET.
MAX_CANDLES = 800
SIGNAL_CHART_BUDGET_BYTES = 400_000  # the whole Plotly JSON of signal_chart for 20 years of daily bars
SIZE_STEP = 0.1  # a change of the held position by at least this much (same direction) is marked too
RANGES = ("3 months", "1 year", "test period", "5 years", "all")
_OFFSETS = {"3 months": pd.DateOffset(months=3), "1 year": pd.DateOffset(years=1),
            "5 years": pd.DateOffset(years=5)}


def window_start(index: pd.DatetimeIndex, choice: str, periods: dict | None = None) -> pd.Timestamp:
    """First bar of the chart's range: the last 3 months / year / 5 years, the model's test period, or all."""
    if choice == "test period" and periods and "test" in periods:
        start = pd.Timestamp(periods["test"][0], tz="UTC")
    elif choice in _OFFSETS:
        start = index[-1] - _OFFSETS[choice]
    else:
        return index[0]
    return min(max(start, index[0]), index[-1])


def position_changes(table: pd.DataFrame, changes: pd.DataFrame, *, size_step: float = SIZE_STEP) -> pd.DataFrame:
    """Bars to mark: the action changes (entries, exits, flips) plus same-direction resizes, where the position
    has moved by >= size_step since the last marked bar (so a gradual build-up is marked too: the markers
    follow the book actually held, not only day-to-day jumps)."""
    ok = (table["status"] == "ok" if "status" in table else pd.Series(True, index=table.index)).to_numpy()
    pos = table["position"].to_numpy(dtype=float)
    side_change = table.index.isin(changes.index)
    resized = np.zeros(len(table), dtype=bool)
    marked = 0.0
    for i in range(len(table)):
        if side_change[i]:
            marked = pos[i]
        elif ok[i] and abs(pos[i] - marked) >= size_step:
            resized[i], marked = True, pos[i]
    extra = table.loc[resized, ["action", "position"]]
    return pd.concat([changes, extra]).sort_index() if len(extra) else changes


def _bucket(n: int, max_points: int) -> int:
    return max(1, -(-n // max_points))


def resample_ohlc(bars: pd.DataFrame, k: int) -> pd.DataFrame:
    """Merge every k consecutive bars into one (first open, max high, min low, last close, summed volume),
    stamped with the first bar's time. k = 1 returns the bars unchanged."""
    if k <= 1:
        return bars
    group = np.arange(len(bars)) // k
    agg = {"open": "first", "high": "max", "low": "min", "close": "last"}
    if "volume" in bars:
        agg["volume"] = "sum"
    out = bars.groupby(group).agg(agg)
    out.index = bars.index[::k]
    return out


def _candles(candles: pd.DataFrame) -> go.Candlestick:
    return go.Candlestick(x=candles.index, open=candles["open"].to_numpy(), high=candles["high"].to_numpy(),
                          low=candles["low"].to_numpy(), close=candles["close"].to_numpy(), name="price",
                          hoverinfo="x+y")


def _hover(marks: pd.DataFrame, table: pd.DataFrame) -> tuple[np.ndarray, str]:
    """customdata and hovertemplate of decision markers: time, action, size, probabilities, segments."""
    info = table.reindex(marks.index)
    cols = {"previous": marks.get("previous", pd.Series("", index=marks.index)).fillna(""),
            "position": marks["position"] if "position" in marks else info.get("position"),
            **{c: info[c] for c in ("p_short", "p_flat", "p_long", "margin", "steps") if c in info}}
    data = pd.DataFrame({k: v for k, v in cols.items() if v is not None}, index=marks.index)
    lines = ["%{x|%Y-%m-%d %H:%M}", "<b>%{meta}</b> (was %{customdata[0]})", "position %{customdata[1]:+.2f}"]
    if {"p_short", "p_flat", "p_long"} <= set(data):
        lines.append("p short / flat / long: %{customdata[2]:.2f} / %{customdata[3]:.2f} / %{customdata[4]:.2f}")
    if "margin" in data:
        lines.append(f"margin over the band: %{{customdata[{list(data.columns).index('margin')}]:+.3f}}")
    if "steps" in data:
        lines.append(f"reasoning segments: %{{customdata[{len(data.columns) - 1}]}}")
    return data.to_numpy(dtype=object), "<br>".join(lines) + "<extra>click: explain</extra>"


def signal_chart(bars: pd.DataFrame, table: pd.DataFrame, changes: pd.DataFrame, title: str,
                 periods: dict | None = None, *, volume: bool = False, max_candles: int = MAX_CANDLES) -> go.Figure:
    """Candlesticks with a marker where the held position changes; below, the position and the margin over the
    no-trade band (how far the decision is from changing side; below 0: inside the band, flat).

    `bars` is the range to show: more than `max_candles` bars are merged (resample_ohlc) so the payload stays
    under SIGNAL_CHART_BUDGET_BYTES; markers stay at their exact bars. `periods` (a checkpoint's
    {"train": [start, end], ...}) shades where the model was trained and validated.
    """
    from plotly.subplots import make_subplots

    bars, table, changes = utc_naive(bars), utc_naive(table), utc_naive(changes)
    k = _bucket(len(bars), max_candles)
    candles = resample_ohlc(bars, k)
    rows = 4 if volume and "volume" in bars else 3
    heights = [0.58, 0.16, 0.16, 0.10][:rows]
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, row_heights=heights, vertical_spacing=0.03)
    fig.add_trace(_candles(candles), row=1, col=1)
    changes = changes.loc[bars.index[0]:bars.index[-1]]
    for action, style in MARKERS.items():
        marks = changes[changes["action"] == action]
        if len(marks):
            at = marks.index
            y = (bars["low"].reindex(at) * 0.99 if action == "long" else
                 bars["high"].reindex(at) * 1.01 if action == "short" else bars["close"].reindex(at))
            custom, template = _hover(marks, table)
            fig.add_trace(go.Scatter(x=at, y=y.to_numpy(), mode="markers", name=style["name"], meta=action,
                                     customdata=custom, hovertemplate=template,
                                     marker=dict(symbol=style["symbol"], color=style["color"], size=style["size"],
                                                 line=dict(width=1.5, color=style["color"]))), row=1, col=1)
    tab = table.reindex(bars.index)
    group = np.arange(len(tab)) // k
    held = tab["position"].groupby(group).last().to_numpy()  # what is held at the end of each candle
    margin = tab["margin"].groupby(group).mean().to_numpy()
    fig.add_trace(go.Scatter(x=candles.index, y=held, name="position", line=dict(shape="hv", width=1,
                                                                                 color="#1f77b4"),
                             fill="tozeroy", hovertemplate="%{x|%Y-%m-%d}: position %{y:+.2f}<extra></extra>"),
                  row=2, col=1)
    fig.add_trace(go.Scatter(x=candles.index, y=margin, name="margin", line=dict(width=1, color="#9467bd"),
                             hovertemplate="%{x|%Y-%m-%d}: margin over the band %{y:+.3f}<extra></extra>"),
                  row=3, col=1)
    if rows == 4:
        fig.add_trace(go.Bar(x=candles.index, y=candles["volume"].to_numpy(), name="volume",
                             marker_color="rgba(128,128,128,0.5)"), row=4, col=1)
        fig.update_yaxes(title_text="volume", row=4, col=1)
    for name, (colour, label) in PERIOD_STYLE.items():
        if periods and name in periods:
            start, end = (pd.Timestamp(t) for t in periods[name])  # naive UTC, like the bars here
            if start <= bars.index[-1] and end >= bars.index[0]:
                fig.add_vrect(x0=max(start, bars.index[0]), x1=min(end, bars.index[-1]), fillcolor=colour,
                              line_width=0, layer="below", annotation_text=label,
                              annotation_position="top left", row=1, col=1)
    merged = f" (each candle = {k} bars)" if k > 1 else ""
    _frame(fig, title + merged, 700 + 90 * (rows == 4)).update_layout(xaxis_rangeslider_visible=False,
                                                                       hovermode="closest")
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="position", range=[-1.05, 1.05], zeroline=True, row=2, col=1)
    fig.update_yaxes(title_text="margin", zeroline=True, row=3, col=1)
    fig.update_xaxes(title_text="bar time (UTC)", row=rows, col=1)
    return fig


def clicked_decision(fig: go.Figure, event) -> pd.Timestamp | None:
    """The bar of a decision marker the user clicked in `signal_chart` (a Plotly selection event), else None."""
    names = {style["name"] for style in MARKERS.values()}
    curves = {i for i, trace in enumerate(fig.data) if trace.name in names}
    points = ((event or {}).get("selection") or {}).get("points") or []
    for p in points:
        if p.get("curve_number") in curves and p.get("x") is not None:
            t = pd.Timestamp(p["x"])
            return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    return None


def distinct_colours(n: int) -> list[str]:
    """n colours no two of which repeat (Plotly's 10, then the 24 of Dark24, then Alphabet's 26)."""
    from plotly.colors import qualitative as q

    palette = list(dict.fromkeys(q.Plotly + q.Dark24 + q.Alphabet))
    return [palette[i % len(palette)] for i in range(n)]


def equity_drawdown(equity: pd.DataFrame, drawdown: pd.DataFrame, title: str,
                    trades: pd.DataFrame | None = None) -> go.Figure:
    """Equity curves (top) and drawdowns in % (bottom), one colour per strategy; `trades` (entry_time,
    exit_time, side) of the first strategy marked on its equity line."""
    from plotly.subplots import make_subplots

    equity, drawdown = utc_naive(equity), utc_naive(drawdown)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.04)
    for i, (name, colour) in enumerate(zip(equity.columns, distinct_colours(len(equity.columns)))):
        line = dict(width=2.5 if i == 0 else 1.2, color=colour)
        fig.add_trace(go.Scatter(x=equity.index, y=equity[name], name=name, legendgroup=name, line=line),
                      row=1, col=1)
        fig.add_trace(go.Scatter(x=drawdown.index, y=100 * drawdown[name], name=name, legendgroup=name,
                                 showlegend=False, line=line), row=2, col=1)
    if trades is not None and len(trades) and len(equity.columns):
        first = equity.iloc[:, 0]
        for when, label, symbol in (("entry_time", "entries", "triangle-up"), ("exit_time", "exits", "x")):
            t = utc_naive(pd.DatetimeIndex(trades[when].dropna()))
            t = t[t.isin(first.index)]
            fig.add_trace(go.Scatter(x=t, y=first.reindex(t), mode="markers", name=f"{equity.columns[0]} {label}",
                                     marker=dict(symbol=symbol, size=7, color="#222"),
                                     hovertemplate="%{x|%Y-%m-%d}: " + label[:-1] + "<extra></extra>"),
                          row=1, col=1)
    _frame(fig, title, 580)
    fig.update_yaxes(title_text="equity (start = 1)", row=1, col=1)
    fig.update_yaxes(title_text="drawdown [%]", row=2, col=1)
    return fig


def monthly_heatmap(table: pd.DataFrame, title: str) -> go.Figure:
    """Years x months of returns in %, red to green around 0."""
    months = [c for c in table.columns if c != "Year"]
    z = table[months].to_numpy(dtype=float)
    fig = go.Figure(go.Heatmap(z=z, x=[pd.Timestamp(2000, m, 1).strftime("%b") for m in months],
                               y=[str(y) for y in table.index], colorscale="RdYlGn", zmid=0.0,
                               text=[[("" if pd.isna(v) else f"{v:.1f}") for v in row] for row in z],
                               texttemplate="%{text}", colorbar=dict(title="%")))
    fig.update_layout(title=title, height=max(220, 28 * len(table) + 100), margin=dict(l=10, r=10, t=40, b=10),
                      yaxis=dict(autorange="reversed"))
    return fig


def lines(frame: pd.DataFrame, title: str, y_title: str, *, zero_line: bool = True) -> go.Figure:
    """One line per column (rolling Sharpe, cost sensitivity, ...)."""
    frame = utc_naive(frame)
    fig = go.Figure([go.Scatter(x=frame.index, y=frame[c], name=str(c), mode="lines") for c in frame.columns])
    if zero_line:
        fig.add_hline(y=0, line=dict(color="gray", width=1, dash="dot"))
    fig.update_layout(yaxis_title=y_title)
    return _frame(fig, title, 360)


# --- explanations (presentation of explain/ results) ---------------------------------------------

MODULE_COLOURS = {"H": "#1f77b4", "L": "#ff7f0e"}


def module_bars(h: float, l: float, h_share: float, target: str) -> go.Figure:
    """Signed attribution of the final H update's two inputs: z_H carried in (H) and z_L (L)."""
    fig = go.Figure(go.Bar(x=[h, l], y=["H: strategic context (z_H)", "L: tactical computation (z_L)"],
                           orientation="h", marker_color=[MODULE_COLOURS["H"], MODULE_COLOURS["L"]],
                           text=[f"{h:+.4f}", f"{l:+.4f}"], textposition="auto"))
    fig.add_vline(x=0, line=dict(color="gray", width=1))
    fig.update_layout(xaxis_title=f"attribution to the {target.replace('_', ' ')} (signed)")
    title = ("H and L pulled in opposite directions" if h * l < 0 else "H and L pushed the same way") + (
        f": H {h_share:+.0%}, L {1 - h_share:+.0%} of the move" if np.isfinite(h_share) else "")
    return _frame(fig, title, 240)


def seed_stability_chart(per_seed: list[dict], reference_side: int) -> go.Figure:
    """Each seed's side and its top-feature rank correlation with the explained model."""
    names = [r["seed"] for r in per_seed]
    colours = ["#2ca02c" if r["side"] == reference_side else "#d62728" for r in per_seed]
    fig = go.Figure(go.Bar(x=names, y=[r["rank_corr"] for r in per_seed], marker_color=colours,
                           text=[r["action"] for r in per_seed], textposition="auto"))
    fig.update_layout(yaxis_title="top-feature rank correlation", yaxis_range=[-1, 1])
    return _frame(fig, "Each seed: its decision (green: same side) and how its top inputs rank", 260)


def cycle_chart(steps: list[dict]) -> go.Figure:
    """Probe probabilities after every H cycle (top) and the attribution through each cycle's z_H (below): stacked,
    so the two titles never meet on a narrow (phone) screen."""
    from plotly.subplots import make_subplots

    x = [f"{s['index'] + 1} (seg {s['segment']})" for s in steps]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.16,
                        subplot_titles=("Probe: heads read after each cycle", "Attribution through z_H"))
    for action in ("short", "flat", "long"):
        fig.add_trace(go.Scatter(x=x, y=[s[f"p_{action}"] for s in steps], mode="lines+markers", name=action,
                                 line=dict(color=MARKERS[action]["color"])), row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=[s["attribution"] for s in steps], name="attribution",
                         marker_color=MODULE_COLOURS["H"]), row=2, col=1)
    fig.update_yaxes(title_text="probability", range=[0, 1], row=1, col=1)
    fig.update_xaxes(title_text="H cycle", row=2, col=1)
    return _frame(fig, "", 480).update_layout(legend=dict(y=-0.15))


def feature_heatmap(grid: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    """Features (named in words) x bars (dated) of attribution; red pushes toward the target, blue against."""
    z = grid.to_numpy().T
    lim = float(abs(z).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=z, x=[f"{t:%Y-%m-%d}" for t in grid.index],
                               y=[labels.get(c, c) for c in grid.columns], colorscale="RdBu", reversescale=True,
                               zmin=-lim, zmax=lim, colorbar=dict(title="attr.")))
    fig.update_yaxes(autorange="reversed")  # features top to bottom in the order of the feature table
    return _frame(fig, "Feature x time attribution", 460)


def h_share_histogram(frame: pd.DataFrame, band: float = 0.1) -> go.Figure:
    """Distribution of the signed h_share over a period's decisions, by action; the mixed band in grey."""
    h = frame["h_share"].clip(-1.0, 2.0)  # beyond: the modules pulled hard apart; shown at the edge
    fig = go.Figure([go.Histogram(x=h[frame["action"] == a], name=a, nbinsx=60, marker_color=MARKERS[a]["color"],
                                  opacity=0.75)
                     for a in ("short", "flat", "long") if (frame["action"] == a).any()])
    fig.add_vrect(x0=0.5 - band, x1=0.5 + band, fillcolor="gray", opacity=0.15, line_width=0,
                  annotation_text="mixed")
    fig.update_layout(barmode="overlay", xaxis_title="h_share = A_H / move (signed; clipped to [-1, 2])",
                      yaxis_title="decisions", xaxis_range=[-1, 2])
    return _frame(fig, "h_share over the period: L-led left of the band, H-led right", 340)
