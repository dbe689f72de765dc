"""Plain-language sentences generated from an explanation's numbers (never hand-written per decision)."""
from __future__ import annotations

import math


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %"


def summarise(decision: dict, module: dict, cycles: dict, features: dict) -> str:
    """'Long, size 0.41. Mostly tactical (L 68 %). The decision firmed up in cycle 2. Top inputs: ...'."""
    action = decision["action"]
    s = [f"{action.capitalize()}" + (f", size {decision['size']:.2f}." if action != "flat" else " (no position).")
         + f" Probabilities short {_pct(decision['p_short'])} / flat {_pct(decision['p_flat'])} / long "
           f"{_pct(decision['p_long'])}, after {decision['steps']} reasoning segment"
         + ("s." if decision["steps"] != 1 else ".")]
    if module.get("applicable") and module.get("h_share") is not None and math.isfinite(module["h_share"]):
        h = module["h_share"]
        lean = ("Mostly strategic" if h > 0.6 else "Mostly tactical" if h < 0.4 else "Balanced between strategic and tactical")
        s.append(f"{lean} (H {_pct(h)}, L {_pct(1 - h)} of the final update's inputs).")
    elif not module.get("applicable"):
        s.append("No H/L split: this model has no hierarchical modules.")
    if cycles.get("applicable") and cycles.get("steps"):
        fu = cycles.get("firmed_up")
        if fu is None:
            s.append("The probe never settled on this action before the end.")
        else:
            step = cycles["steps"][fu]
            s.append(f"The decision firmed up in cycle {fu + 1} (segment {step['segment']}, cycle {step['cycle']})"
                     f" of {len(cycles['steps'])}.")
    tops = features.get("top_features") or []
    if tops:
        words = "; ".join(f"{t['words']} ({t['direction']})" for t in tops[:3])
        s.append(f"Top inputs: {words}.")
    return " ".join(s)
