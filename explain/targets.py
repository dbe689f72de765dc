"""What is being explained: the scalar F(x) per decision that every attribution method decomposes.

The explained quantity must be what decides, and continuous along the integral's path, or the
attribution cannot account for the output (completeness, tests/explain):

- edge-rule checkpoints (the shipped ones) trade by position = quantity x clip((p_long - p_short -
  centre) / scale) outside a no-trade band. Their targets are the edge (p_long - p_short - centre) and
  the pre-band position (the same without the band). The band is a step: it is reported as a gate
  (`band_gate`), never attributed, because gradients cannot see a step.
- argmax-rule checkpoints trade the argmax class: the logit of that action is what decides, and it is
  offered (with the edge and the pre-band position (action - 1) x quantity).
"""
from __future__ import annotations

from typing import Callable

import torch

from explain.words import TARGETS, default_target, offered_targets
from hrm_core.model.position_rule import DecisionRule

def check_target(target: str | None, rule: DecisionRule | None = None) -> str:
    """`target` if it explains this rule's decisions (None: the default), else a one-line ValueError."""
    if target is None:
        return default_target(rule)
    if target not in TARGETS:
        raise ValueError(f"unknown attribution target {target!r}; use one of {', '.join(offered_targets(rule))}")
    if target not in offered_targets(rule):
        raise ValueError(f"target {target!r} does not explain this checkpoint's decisions (it trades by the "
                         f"{rule.rule if rule else 'argmax'} rule); use one of {', '.join(offered_targets(rule))}")
    return target


def scalar_output(out, target: str, action: torch.Tensor, rule: DecisionRule | None = None) -> torch.Tensor:
    """(B,) target value from a model output; `action` (B,) is the class each decision took."""
    if target == "action_logit":
        return out.policy_logits.gather(1, action.view(-1, 1)).squeeze(1)
    p = torch.softmax(out.policy_logits, dim=-1)
    edge = p[:, 2] - p[:, 0] - (rule.centre if rule is not None and rule.rule == "edge" else 0.0)
    if target == "edge":
        return edge
    quantity = out.quantity.clamp(0.0, 1.0)
    if rule is None or rule.rule == "argmax":
        return (action.to(quantity.dtype) - 1.0) * quantity
    return torch.clamp(edge / rule.scale, -1.0, 1.0) * quantity


def band_gate(decision: dict, rule: DecisionRule | None) -> dict:
    """The no-trade band as a gate, in the edge's units: inside it the book is flat whatever the inputs.

    margin > 0: the edge clears the band by that much (outside); < 0: it is that far inside."""
    if rule is None or rule.rule == "argmax":
        return {"applicable": False, "text": "argmax rule: no band (the side is the most probable class)"}
    edge = decision["p_long"] - decision["p_short"] - rule.centre
    margin = abs(edge) - rule.band
    lean = "p_long - p_short" + (f" {'-' if rule.centre > 0 else '+'} {abs(rule.centre):.3g}" if rule.centre else "")
    if margin >= 0:
        text = (f"{decision['action']} because {lean} = {edge:+.3f} {'>=' if edge > 0 else '<='} "
                f"{'+' if edge > 0 else '-'}band {rule.band:.3f} (margin {margin:.3f})")
    else:
        text = (f"flat because |{lean}| = {abs(edge):.3f} < band {rule.band:.3f}: inside the no-trade band the "
                f"book is flat whatever the inputs ({-margin:.3f} from its edge)")
    return {"applicable": True, "edge": edge, "band": rule.band, "centre": rule.centre, "scale": rule.scale,
            "margin": margin, "inside": margin < 0, "text": text}


def forward_fn(model, segments: int, target: str, rule: DecisionRule | None = None) -> Callable[..., torch.Tensor]:
    """F(x, instrument_id, timeframe_id, action) -> (B,): the whole decision with `segments` segments, as infer ran it;
    `rule` is the loaded checkpoint's position rule (None: argmax)."""
    if target not in TARGETS:
        raise ValueError(f"unknown attribution target {target!r}")

    def f(x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor, action: torch.Tensor):
        return scalar_output(model.attribution_forward(x, instrument_id, timeframe_id, segments=segments),
                             target, action, rule)
    return f
