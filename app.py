"""HRM Trader dashboard: page config, navigation over the pages, the shared sidebar, and a start-up warm-up."""
import threading

import streamlit as st

from hrm_core.runtime import configure_threads

configure_threads()  # one intra-op torch thread: batch-1/small-batch inference on shared cores (hrm_core/runtime.py)

from ui.state import draw_sidebar  # noqa: E402  (imports torch: after the thread cap)

st.set_page_config(page_title="HRM Trader", page_icon=":material/psychology:", layout="wide")


@st.cache_resource(show_spinner=False)
def _warm_up() -> threading.Thread:
    """Once per server process, after the first page has rendered: import what the other pages need (SciPy,
    Captum, the evaluation and diagnostics modules: about 1.5 s), so the first switch to them does not pay it."""
    def work() -> None:
        import explain  # noqa: F401
        import hrm_core.reasoning.diagnostics  # noqa: F401
        import hrm_core.evaluation.evaluate  # noqa: F401
        import hrm_core.live.monitor  # noqa: F401
        import hrm_core.training.train  # noqa: F401

    thread = threading.Thread(target=work, name="hrm-warm-up", daemon=True)
    thread.start()
    return thread


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
page.run()
_warm_up()  # after the page: never delays the first paint
