"""The position rule's stored form: a checkpoint's card metrics ("decision") -> a DecisionRule that maps
(short, flat, long) probabilities and the quantity head to a position in [-1, 1].

It lives with the model because a checkpoint carries it as plain data and is refused when it is
malformed; choosing the rule on validation is trading's job (hrm_core.trading.decision, whose
docstring states both rules).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

RULES = ("edge", "argmax")
MAX_ONE_ACTION_SHARE = 0.95  # above this share of validation windows in one action, a rule makes no decisions


@dataclass(frozen=True)
class DecisionRule:
    rule: str = "argmax"
    scale: float = 1.0  # |edge| that takes a full (quantity-sized) position
    band: float = 0.0  # |edge| below this: flat
    centre: float = 0.0  # subtracted from p_long - p_short

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"position rule must be one of {RULES}, got {self.rule!r}")
        values = (self.scale, self.band, self.centre)
        if not (np.isfinite(values).all() and self.scale > 0 and self.band >= 0 and abs(self.centre) <= 1):
            raise ValueError(f"position rule needs scale > 0, band >= 0 and |centre| <= 1, got {values}")

    def direction(self, probs: np.ndarray) -> np.ndarray:
        """Signed conviction in [-1, 1] per row from (n, 3) short/flat/long probabilities (NaN rows -> 0)."""
        p = np.nan_to_num(np.asarray(probs, dtype=np.float64), nan=0.0)
        if self.rule == "argmax":
            cls = np.argmax(np.where(np.isfinite(probs), probs, -1.0), axis=1)
            return (cls - 1).astype(np.float64)
        edge = p[:, 2] - p[:, 0] - self.centre
        return np.where(np.abs(edge) >= self.band, np.clip(edge / self.scale, -1.0, 1.0), 0.0)

    def margin(self, probs: np.ndarray) -> np.ndarray:
        """How far each decision is from changing side, in probability units: |edge| - band for the edge rule
        (negative: inside the band, flat), the winning class's lead over the runner-up for argmax. This, not
        the largest probability, is a decision's confidence."""
        p = np.asarray(probs, dtype=np.float64)
        if self.rule == "argmax":
            top2 = np.sort(p, axis=1)[:, -2:]
            return top2[:, 1] - top2[:, 0]
        return np.abs(p[:, 2] - p[:, 0] - self.centre) - self.band

    def positions(self, probs: np.ndarray, quantity: np.ndarray) -> np.ndarray:
        q = np.clip(np.nan_to_num(np.asarray(quantity, dtype=np.float64)), 0.0, 1.0)
        return np.clip(self.direction(probs) * q, -1.0, 1.0) + 0.0  # + 0.0 turns -0.0 into 0.0

    def describe(self) -> str:
        if self.rule == "argmax":
            return "argmax(short, flat, long) -> -1/0/+1, times the quantity head"
        lean = f"(p_long - p_short - {self.centre:.3g})" if self.centre else "(p_long - p_short)"
        return (f"{lean} / {self.scale:.3g}, clipped to [-1, 1], times the quantity head; flat while "
                f"|{lean}| < {self.band:.3g} (centre, scale and band chosen on validation)")

    def to_dict(self) -> dict:
        return asdict(self)


def rule_of(metrics: Mapping | None) -> DecisionRule:
    """The rule a checkpoint's metrics store ("decision"), or argmax for checkpoints that predate it.

    A checkpoint is untrusted input: anything but a complete, numeric rule is a ValueError."""
    d = (metrics or {}).get("decision")
    if d is None:
        return DecisionRule()
    if not isinstance(d, Mapping):
        raise ValueError(f"decision must be a mapping, got {type(d).__name__}")
    if d.get("rule") == "argmax":
        return DecisionRule()
    values = {k: d.get(k) for k in ("scale", "band", "centre")}
    bad = [k for k, v in values.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
    if bad:
        raise ValueError(f"decision needs numbers for {', '.join(bad)}")
    return DecisionRule(str(d.get("rule")), **{k: float(v) for k, v in values.items()})


__all__ = ["MAX_ONE_ACTION_SHARE", "RULES", "DecisionRule", "rule_of"]
