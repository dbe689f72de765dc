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


# --- explanations (presentation of explain/ results) ---------------------------------------------

MODULE_COLOURS = {"H": "#1f77b4", "L": "#ff7f0e"}


def module_bars(h: float, l: float, h_share: float, target: str) -> go.Figure:
    """Signed attribution of the final H update's two inputs: z_H carried in (H) and z_L (L)."""
    fig = go.Figure(go.Bar(x=[h, l], y=["H: strategic context (z_H)", "L: tactical computation (z_L)"],
                           orientation="h", marker_color=[MODULE_COLOURS["H"], MODULE_COLOURS["L"]],
                           text=[f"{h:+.4f}", f"{l:+.4f}"], textposition="auto"))
    fig.add_vline(x=0, line=dict(color="gray", width=1))
    fig.update_layout(xaxis_title=f"attribution to the {target.replace('_', ' ')}")
    return _frame(fig, f"H share {100 * h_share:.0f} % / L share {100 * (1 - h_share):.0f} %", 240)


def cycle_chart(steps: list[dict]) -> go.Figure:
    """Probe probabilities after every H cycle (left) and the attribution through each cycle's z_H (right)."""
    from plotly.subplots import make_subplots

    x = [f"{s['index'] + 1} (seg {s['segment']})" for s in steps]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Probe: heads read after each cycle",
                                                        "Attribution through z_H after each cycle"))
    for action in ("short", "flat", "long"):
        fig.add_trace(go.Scatter(x=x, y=[s[f"p_{action}"] for s in steps], mode="lines+markers", name=action,
                                 line=dict(color=MARKERS[action]["color"])), row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=[s["attribution"] for s in steps], name="attribution",
                         marker_color=MODULE_COLOURS["H"]), row=1, col=2)
    fig.update_yaxes(title_text="probability (probe)", range=[0, 1], row=1, col=1)
    fig.update_xaxes(title_text="H cycle", row=1, col=1)
    fig.update_xaxes(title_text="H cycle", row=1, col=2)
    return _frame(fig, "", 360).update_layout(legend=dict(y=-0.3))


def feature_heatmap(grid: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    """Features (named in words) x bars (dated) of attribution; red pushes toward the target, blue against."""
    z = grid.to_numpy().T
    lim = float(abs(z).max()) or 1.0
    fig = go.Figure(go.Heatmap(z=z, x=[f"{t:%Y-%m-%d}" for t in grid.index],
                               y=[labels.get(c, c) for c in grid.columns], colorscale="RdBu", reversescale=True,
                               zmin=-lim, zmax=lim, colorbar=dict(title="attr.")))
    fig.update_yaxes(autorange="reversed")  # features top to bottom in the order of the feature table
    return _frame(fig, "Feature x time attribution", 460)


def h_share_histogram(frame: pd.DataFrame) -> go.Figure:
    """Distribution of h_share over a period's decisions, by action; the 0.5 line splits H- from L-dominant."""
    fig = go.Figure([go.Histogram(x=frame.loc[frame["action"] == a, "h_share"], name=a, nbinsx=40,
                                  marker_color=MARKERS[a]["color"], opacity=0.75)
                     for a in ("short", "flat", "long") if (frame["action"] == a).any()])
    fig.add_vline(x=0.5, line=dict(color="black", dash="dot"), annotation_text="H-dominant ->")
    fig.update_layout(barmode="overlay", xaxis_title="h_share", yaxis_title="decisions", xaxis_range=[0, 1])
    return _frame(fig, "h_share over the period", 340)
