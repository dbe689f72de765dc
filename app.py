"""HRM Trader dashboard: page config, navigation over pages/, and the shared sidebar."""
import streamlit as st

from ui.state import draw_sidebar

st.set_page_config(page_title="HRM Trader", page_icon=":material/psychology:", layout="wide")

pages = [
    st.Page("pages/signals.py", title="Signals", icon=":material/candlestick_chart:", default=True),
    st.Page("pages/explain.py", title="Explain", icon=":material/lightbulb:"),
    st.Page("pages/diagnostics.py", title="Diagnostics", icon=":material/troubleshoot:"),
    st.Page("pages/performance.py", title="Performance", icon=":material/monitoring:"),
    st.Page("pages/live.py", title="Live", icon=":material/play_circle:"),
    st.Page("pages/health.py", title="Model health", icon=":material/health_and_safety:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
]
page = st.navigation(pages)
draw_sidebar()
page.run()
