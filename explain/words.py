"""The explanation's vocabulary: attribution targets and baselines, feature names in words, the depth note.

No torch here: the Explain page labels its controls and a stored explanation with these before (or without)
loading the attribution code."""
from __future__ import annotations

from hrm_core.model.position_rule import DecisionRule

BASELINES: dict[str, str] = {
    "zeros": "zeros = every feature at its training-period mean (after the scaler) at every bar of the window",
    "history": "the average of the last 250 bars' standardised features up to the decision, at every bar",
}
BASELINE_WHY = ("zeros is the training mean of each standardised feature: a fixed, average market that lies inside "
                "the training data, so F(baseline) is a meaningful reference and every decision is measured "
                "against the same point")
DEFAULT_BASELINE = "zeros"

FEATURE_WORDS: dict[str, str] = {
    "ret_1": "1-bar return", "ret_5": "5-bar return", "ret_20": "20-bar return", "ret_60": "60-bar return",
    "range_hl": "intrabar range", "gap": "overnight gap", "close_loc": "close location in the bar",
    "vol_20": "realised volatility (20 bars)", "vol_ratio_5_60": "volatility ratio 5/60",
    "volume_z_20": "volume z-score", "rsi_14": "RSI (14)", "sma_dist_20": "distance to the 20-bar average",
    "sma_dist_50": "distance to the 50-bar average", "macd_12_26": "MACD trend 12/26",
    "drawdown_60": "drawdown from the 60-bar high",
}

TARGETS: dict[str, str] = {
    "edge": "the edge p(long) - p(short) (minus the rule's centre): the number the position rule reads",
    "position": "the position before the no-trade band: quantity x clip(edge / scale, -1, 1) (argmax rule: "
                "(action - 1) x quantity); the band is a separate gate",
    "action_logit": "the logit of the action taken: what made the argmax pick it (argmax-rule checkpoints only)",
}


def offered_targets(rule: DecisionRule | None) -> tuple[str, ...]:
    """The targets that explain what decides for this checkpoint's rule, the default first."""
    if rule is None or rule.rule == "argmax":
        return "action_logit", "edge", "position"
    return "edge", "position"


def default_target(rule: DecisionRule | None) -> str:
    return offered_targets(rule)[0]


def depth_note(decision: dict) -> str:
    """'long as run (1 of 3 segments), flat at full depth' where the two differ, else ''."""
    full = decision.get("full_depth")
    if not full or full["action"] == decision["action"]:
        return ""
    return (f"{decision['action']} as run ({full['as_run_segments']} of {full['segments']} segments), "
            f"{full['action']} at full depth")
