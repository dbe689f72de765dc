"""What is being explained: the scalar F(x) per decision that every attribution method decomposes."""
from __future__ import annotations

from typing import Callable

import torch

from hrm_core.model.position_rule import DecisionRule

TARGETS: dict[str, str] = {
    "action_logit": "the logit of the action taken: what made this action score high",
    "p_long_minus_p_short": "p(long) - p(short): the model's directional lean",
    "position": "the position taken, by the checkpoint's position rule (edge rule: quantity x clipped "
                "(p_long - p_short - centre) / scale; inside the no-trade band it is 0 and has nothing to attribute)",
}
DEFAULT_TARGET = "action_logit"


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"unknown attribution target {target!r}; use one of {', '.join(TARGETS)}")
    return target


def scalar_output(out, target: str, action: torch.Tensor, rule: DecisionRule | None = None) -> torch.Tensor:
    """(B,) target value from a model output; `action` (B,) is the class each decision took."""
    if target == "action_logit":
        return out.policy_logits.gather(1, action.view(-1, 1)).squeeze(1)
    if target == "p_long_minus_p_short":
        p = torch.softmax(out.policy_logits, dim=-1)
        return p[:, 2] - p[:, 0]
    if rule is None or rule.rule == "argmax":
        return (action.to(out.quantity.dtype) - 1.0) * out.quantity
    p = torch.softmax(out.policy_logits, dim=-1)
    edge = p[:, 2] - p[:, 0] - rule.centre
    outside = (edge.abs() >= rule.band).to(edge.dtype).detach()  # the band is a step: 0 inside, no gradient
    return outside * torch.clamp(edge / rule.scale, -1.0, 1.0) * out.quantity.clamp(0.0, 1.0)


def forward_fn(model, segments: int, target: str, rule: DecisionRule | None = None) -> Callable[..., torch.Tensor]:
    """F(x, instrument_id, timeframe_id, action) -> (B,): the whole decision with `segments` segments, as infer ran it;
    `rule` is the loaded checkpoint's position rule (None: argmax)."""
    check_target(target)

    def f(x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor, action: torch.Tensor):
        return scalar_output(model.attribution_forward(x, instrument_id, timeframe_id, segments=segments),
                             target, action, rule)
    return f
