"""Model health page (being built)."""
import streamlit as st

st.title("Model health")
