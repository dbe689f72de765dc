"""Plotly figure builders for the pages (presentation only)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

BADGE_COLOURS = {"live": "green", "cache": "blue", "stale-cache": "orange", "sample": "gray", "file": "violet"}


def candlestick(bars: pd.DataFrame, title: str) -> go.Figure:
    """Candlesticks of OHLC bars, with a range slider-free layout sized for the dashboard."""
    fig = go.Figure(go.Candlestick(x=bars.index, open=bars["open"], high=bars["high"],
                                   low=bars["low"], close=bars["close"], name="price"))
    fig.update_layout(title=title, height=520, margin=dict(l=10, r=10, t=40, b=10),
                      xaxis_rangeslider_visible=False, yaxis_title="price")
    return fig
