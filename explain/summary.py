"""Plain-language sentences generated from an explanation's numbers (never hand-written per decision).

The decision comes first, as the position rule made it ("long because p_long - p_short = +0.120 >=
band 0.113 (margin 0.007)"), then the inputs that pushed for it, then those against, then who (H or L)
moved it, what would change it, and whether other seeds agree."""
from __future__ import annotations


def _pct(v: float) -> str:
    return f"{100 * v:.0f} %"


def _inputs(tops: list[dict], direction: str, n: int) -> str:
    picked = [t["words"] for t in tops if t["direction"] == direction][:n]
    return "; ".join(picked)


def summarise(decision: dict, gate: dict, module, cycles: dict, features: dict, *, target: str,
              counterfactual: list | None = None, stability: dict | None = None) -> str:
    action = decision["action"]
    if gate.get("applicable"):
        first = gate["text"][0].upper() + gate["text"][1:] + "."
    else:
        first = (f"{action.capitalize()}: the most probable class (short {_pct(decision['p_short'])} / flat "
                 f"{_pct(decision['p_flat'])} / long {_pct(decision['p_long'])}).")
    if action != "flat":
        first += f" Position {decision['position']:+.2f} (the quantity head sizes it at {decision['quantity']:.2f})."
    s = [first]
    tops = features.get("top_features") or []
    if action == "flat":
        up, down = _inputs(tops, "toward long", 3), _inputs(tops, "toward short", 3)
        if up:
            s.append(f"Pushing toward long: {up}.")
        if down:
            s.append(f"Pushing toward short: {down}.")
    else:
        pro, con = _inputs(tops, "for", 3), _inputs(tops, "against", 2)
        s.append(f"For the {action} book: {pro}." if pro else f"No top input pushed for the {action} book.")
        if con:
            s.append(f"Against it: {con}.")
    words = module.sentence(target) if getattr(module, "applicable", False) else ""
    if words:
        s.append(words)
    elif not getattr(module, "applicable", True):
        s.append("No H/L split: this model has no hierarchical modules.")
    flips = [c for c in counterfactual or [] if c.get("result")]
    if flips:
        s.append("What would change it: " + min(flips, key=lambda c: abs(c["change"]))["text"] + ".")
    elif counterfactual:
        s.append("No single top input, moved within its observed range, changes the decision.")
    if stability and stability.get("available"):
        s.append(f"Across seeds: {stability['text']}.")
    if cycles.get("applicable") and cycles.get("steps") and cycles.get("firmed_up") is not None:
        fu = cycles["firmed_up"]
        s.append(f"The probe settled on the decision in cycle {fu + 1} of {len(cycles['steps'])}.")
    s.append(f"After {decision['steps']} reasoning segment" + ("s." if decision["steps"] != 1 else "."))
    return " ".join(s)
