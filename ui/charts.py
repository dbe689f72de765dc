"""Plotly figure builders for the pages (presentation only)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

BADGE_COLOURS = {"live": "green", "cache": "blue", "stale-cache": "orange", "sample": "gray", "file": "violet"}
# Shading of a checkpoint's periods: a trader must see where signals are in-sample.
PERIOD_STYLE = {"train": ("rgba(128,128,128,0.10)", "train (in-sample)"),
                "validation": ("rgba(255,165,0,0.10)", "validation"),
                "test": ("rgba(44,160,44,0.10)", "test (out-of-sample)")}


def _frame(fig: go.Figure, title: str, height: int) -> go.Figure:
    """Shared layout: title on top, legend under the plot so the two never overlap."""
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", yanchor="top", y=-0.08, x=0))
    return fig


def candlestick(bars: pd.DataFrame, title: str) -> go.Figure:
    """Candlesticks of OHLC bars, with a range slider-free layout sized for the dashboard."""
    fig = go.Figure(go.Candlestick(x=bars.index, open=bars["open"], high=bars["high"],
                                   low=bars["low"], close=bars["close"], name="price"))
    fig.update_layout(xaxis_rangeslider_visible=False, yaxis_title="price")
    return _frame(fig, title, 520)


# --- signals and performance (presentation of hrm_core.signals / hrm_core.evaluate results) ------

MARKERS = {  # action the model switched to -> marker
    "long": dict(symbol="triangle-up", color="#2ca02c", name="buy (to long)"),
    "short": dict(symbol="triangle-down", color="#d62728", name="sell (to short)"),
    "flat": dict(symbol="x", color="#7f7f7f", name="to flat"),
}


def signal_chart(bars: pd.DataFrame, table: pd.DataFrame, changes: pd.DataFrame, title: str,
                 periods: dict | None = None) -> go.Figure:
    """Candlesticks with decision markers; below, the target position and the confidence (max probability).

    `periods` (a checkpoint's {"train": [start, end], ...}) shades where the model was trained and validated.
    """
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04)
    fig.add_trace(go.Candlestick(x=bars.index, open=bars["open"], high=bars["high"], low=bars["low"],
                                 close=bars["close"], name="price"), row=1, col=1)
    close = bars["close"].reindex(changes.index)
    for action, style in MARKERS.items():
        at = changes.index[changes["action"] == action]
        if len(at):
            y = close.loc[at] * (0.98 if action == "long" else 1.02 if action == "short" else 1.0)
            fig.add_trace(go.Scatter(x=at, y=y, mode="markers", name=style["name"],
                                     marker=dict(symbol=style["symbol"], color=style["color"], size=10)), row=1, col=1)
    fig.add_trace(go.Scatter(x=table.index, y=table["position"], name="position", line=dict(shape="hv", width=1),
                             fill="tozeroy"), row=2, col=1)
    fig.add_trace(go.Scatter(x=table.index, y=table["confidence"], name="confidence", line=dict(width=1, dash="dot")),
                  row=2, col=1)
    for name, (colour, label) in PERIOD_STYLE.items():
        if periods and name in periods:
            start, end = (pd.Timestamp(t, tz="UTC") for t in periods[name])
            if start <= bars.index[-1] and end >= bars.index[0]:
                fig.add_vrect(x0=max(start, bars.index[0]), x1=min(end, bars.index[-1]), fillcolor=colour,
                              line_width=0, layer="below", annotation_text=label,
                              annotation_position="top left", row="all", col=1)
    _frame(fig, title, 660).update_layout(xaxis_rangeslider_visible=False)
    fig.update_yaxes(title_text="price", row=1, col=1)
    fig.update_yaxes(title_text="position / confidence", range=[-1.05, 1.05], row=2, col=1)
    return fig


def equity_drawdown(equity: pd.DataFrame, drawdown: pd.DataFrame, title: str) -> go.Figure:
    """Equity curves (top) and drawdowns in % (bottom), one line per strategy."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.65, 0.35], vertical_spacing=0.04)
    for i, name in enumerate(equity.columns):
        width = 2.5 if i == 0 else 1.2
        fig.add_trace(go.Scatter(x=equity.index, y=equity[name], name=name, legendgroup=name,
                                 line=dict(width=width)), row=1, col=1)
        fig.add_trace(go.Scatter(x=drawdown.index, y=100 * drawdown[name], name=name, legendgroup=name,
                                 showlegend=False, line=dict(width=width)), row=2, col=1)
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
    fig = go.Figure([go.Scatter(x=frame.index, y=frame[c], name=str(c), mode="lines") for c in frame.columns])
    if zero_line:
        fig.add_hline(y=0, line=dict(color="gray", width=1, dash="dot"))
    fig.update_layout(yaxis_title=y_title)
    return _frame(fig, title, 360)
