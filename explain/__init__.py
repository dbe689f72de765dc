"""Why the model decided: H vs L attribution, cycle-by-cycle probe and attribution, feature x time
attribution (Captum), over one decision or a whole period, with plain-language summaries and an
offline HTML report. Uses hrm_core; never imports Streamlit or a face."""
from explain.core import DEFAULT_N_STEPS, Explanation, decision_dataset, explain_decision, locate, model_lock
from explain.features import BASELINES, DEFAULT_BASELINE
from explain.targets import DEFAULT_TARGET, TARGETS

__all__ = ["BASELINES", "DEFAULT_BASELINE", "DEFAULT_N_STEPS", "DEFAULT_TARGET", "Explanation", "TARGETS",
           "decision_dataset", "explain_decision", "locate", "model_lock"]
