"""First-run guidance shared by the pages: a one-line "how to read this page" for a reader who is not a quant."""
from __future__ import annotations

import streamlit as st


def how_to_read(text: str) -> None:
    """A collapsed expander under the page title; `text` is markdown, a few plain sentences."""
    with st.expander("How to read this page", icon=":material/help:"):
        st.markdown(text)
