"""Why the model decided: H vs L attribution, cycle-by-cycle probe and attribution, feature x time
attribution (Captum), counterfactuals, similar past situations and stability across seeds, over one
decision or a whole period, with plain-language summaries and an offline HTML report. Uses hrm_core;
never imports Streamlit or a face."""
from explain.core import DEFAULT_N_STEPS, Explanation, decision_dataset, explain_decision, locate, model_lock
from explain.features import BASELINES, DEFAULT_BASELINE
from explain.targets import TARGETS, default_target, offered_targets

__all__ = ["BASELINES", "DEFAULT_BASELINE", "DEFAULT_N_STEPS", "Explanation", "TARGETS", "decision_dataset",
           "default_target", "explain_decision", "locate", "model_lock", "offered_targets"]
