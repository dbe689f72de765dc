"""Why the model decided: H vs L attribution, cycle-by-cycle probe and attribution, feature x time
attribution (Captum), counterfactuals, similar past situations and stability across seeds, over one
decision or a whole period, with plain-language summaries and an offline HTML report. Uses hrm_core;
never imports Streamlit or a face.

The vocabulary (explain.words) and a stored explanation (explain.explanation) load without torch; the
attribution code (torch and Captum, about 2 s of imports) loads on first use of the names below."""
from explain.explanation import Explanation
from explain.words import BASELINES, DEFAULT_BASELINE, TARGETS, default_target, offered_targets

_ATTRIBUTION = {"DEFAULT_N_STEPS": "explain.core", "decision_dataset": "explain.core",
                "explain_decision": "explain.core", "locate": "explain.core", "model_lock": "explain.locks"}


def __getattr__(name: str):
    if name in _ATTRIBUTION:
        import importlib

        return getattr(importlib.import_module(_ATTRIBUTION[name]), name)
    raise AttributeError(f"module 'explain' has no attribute {name!r}")


__all__ = ["BASELINES", "DEFAULT_BASELINE", "DEFAULT_N_STEPS", "Explanation", "TARGETS", "decision_dataset",
           "default_target", "explain_decision", "locate", "model_lock", "offered_targets"]
