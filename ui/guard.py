"""Error boundary for pages: core errors become one clear message, never a stack trace."""
from __future__ import annotations

import contextlib
import logging

import streamlit as st

from hrm_core.errors import HRMError

log = logging.getLogger("hrm.ui")


@contextlib.contextmanager
def guard(what: str):
    """Run a block; on failure show what went wrong and how to fix it, and keep the page alive."""
    try:
        yield
    except HRMError as exc:
        st.error(f"Could not {what}: {exc}", icon=":material/error:")
    except Exception as exc:  # a bug: say so plainly, log the trace for developers
        log.exception("unexpected error while trying to %s", what)
        st.error(f"Could not {what}: unexpected {type(exc).__name__}: {exc}. "
                 "This is a bug; details are in the server log.", icon=":material/bug_report:")
