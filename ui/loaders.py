"""Cached loaders: data with st.cache_data (copies per caller), models with st.cache_resource (shared)."""
from __future__ import annotations

import streamlit as st

from hrm_core.data import LoadResult, load_bars


@st.cache_data(ttl=600, show_spinner="Loading market data...")
def bars(symbol: str, interval: str, start, end) -> LoadResult:
    return load_bars(symbol, interval, start, end)
