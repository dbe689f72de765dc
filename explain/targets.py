"""What is being explained: the scalar F(x) per decision that every attribution method decomposes."""
from __future__ import annotations

from typing import Callable

import torch

TARGETS: dict[str, str] = {
    "action_logit": "the logit of the action taken: what made this action score high",
    "p_long_minus_p_short": "p(long) - p(short): the model's directional lean",
    "position": "the position taken: the action's direction (-1, 0, +1) x the size head (always 0 when flat)",
}
DEFAULT_TARGET = "action_logit"


def check_target(target: str) -> str:
    if target not in TARGETS:
        raise ValueError(f"unknown attribution target {target!r}; use one of {', '.join(TARGETS)}")
    return target


def scalar_output(out, target: str, action: torch.Tensor) -> torch.Tensor:
    """(B,) target value from a model output; `action` (B,) is the class each decision took."""
    if target == "action_logit":
        return out.policy_logits.gather(1, action.view(-1, 1)).squeeze(1)
    if target == "p_long_minus_p_short":
        p = torch.softmax(out.policy_logits, dim=-1)
        return p[:, 2] - p[:, 0]
    return (action.to(out.quantity.dtype) - 1.0) * out.quantity  # "position": the argmax rule of signals.py


def forward_fn(model, segments: int, target: str) -> Callable[..., torch.Tensor]:
    """F(x, instrument_id, timeframe_id, action) -> (B,): the whole decision with `segments` segments, as infer ran it."""
    check_target(target)

    def f(x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor, action: torch.Tensor):
        return scalar_output(model.attribution_forward(x, instrument_id, timeframe_id, segments=segments),
                             target, action)
    return f
