"""HRM Trader dashboard: page config, navigation over the pages, the shared sidebar, and a start-up warm-up."""
import streamlit as st

from ui import warmup
from ui.state import draw_sidebar  # no torch: the first page paints from stored results (hrm_core/served)

st.set_page_config(page_title="HRM Trader", page_icon=":material/psychology:", layout="wide")


@st.cache_resource(show_spinner=False)
def _warm_up():
    """Once per server process, after the first page has rendered: ui/warmup.py imports what the other pages
    need and fills the stores in the background (hrm_core/served/warm.py)."""
    return warmup.start()


# The page scripts live in views/, not pages/: with a pages/ folder beside app.py, Streamlit serves a fresh
# server's first request (and every AppTest run) in its legacy pages-folder mode, running a deep-linked page
# without this file, so without the sidebar. views/ makes app.py the only entry point.
pages = [
    st.Page("views/signals.py", title="Signals", icon=":material/candlestick_chart:", default=True),
    st.Page("views/explain.py", title="Explain", icon=":material/lightbulb:"),
    st.Page("views/diagnostics.py", title="Diagnostics", icon=":material/troubleshoot:"),
    st.Page("views/performance.py", title="Performance", icon=":material/monitoring:"),
    st.Page("views/live.py", title="Live", icon=":material/play_circle:"),
    st.Page("views/health.py", title="Model health", icon=":material/health_and_safety:"),
    st.Page("views/train.py", title="Train", icon=":material/model_training:"),
]
page = st.navigation(pages)
draw_sidebar()
started = st.session_state.get("warm_up_started")  # the first run of a fresh server paints before warming
if started:
    line = _warm_up()[1].line()
    if line:
        st.sidebar.caption(f":material/hourglass_top: {line}")
page.run()
_warm_up()  # after the page: never delays the first paint
st.session_state["warm_up_started"] = True
