"""The position rule: the model's class probabilities and quantity head -> a target position in [-1, 1].

Two rules, stored per checkpoint (card metrics "decision"; a checkpoint without one uses "argmax"):

- **edge** (what `hrm train` chooses): edge = p_long - p_short - centre, the whole distribution's
  lean; position = quantity x clip(edge / scale, -1, 1), flat while |edge| < band. Fitted on the
  validation windows only (the test period is never read):
  * centre: 0 (the lean itself) or the median lean on validation (the lean beyond the model's usual
    one: with an index's upward drift almost every window leans long, and a rule that is long on
    99 % of days is buy & hold with a size, not a decision);
  * scale: the 90th percentile of |edge| (a typical strong lean is a full position: an edge of
    0.03 is not a 3 % position);
  * band: BAND_FRACTIONS x scale.
  Among the candidates, those taking one action (short, flat or long) on more than
  MAX_ONE_ACTION_SHARE of validation windows are excluded while any other exists; the one with
  the best validation net Sharpe is kept (ties: the earlier candidate, centre 0 and smaller bands).
- **argmax** (older checkpoints): action = argmax(p_short, p_flat, p_long), position =
  {-1, 0, +1}[action] x quantity. A model whose probabilities sit near the class frequencies
  with "flat" the commonest class never trades under it: the reason for "edge".

The action shown everywhere (table, chart markers, ledger) is the sign of the position, so a
"long" marker always means a long book.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Mapping

import numpy as np

RULES = ("edge", "argmax")
SCALE_QUANTILE = 0.9
BAND_FRACTIONS = (0.0, 0.25, 0.5, 0.75)
MIN_SCALE = 1e-3  # an edge distribution narrower than this is noise around the class frequencies
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


def action_shares(positions: np.ndarray) -> np.ndarray:
    """Share of short / flat / long among the positions' sides."""
    side = np.sign(np.asarray(positions, dtype=np.float64)).astype(int) + 1
    return np.bincount(side, minlength=3) / max(len(side), 1)


def choose_rule(probs: np.ndarray, quantity: np.ndarray, score: Callable[[np.ndarray], float]) -> tuple[DecisionRule, dict]:
    """The edge rule fitted on validation (module docstring): centre, scale and band, by `score(positions)`
    (validation net Sharpe) among candidates that do not take one action on nearly every window.

    Returns the rule and every candidate tried (centre, band, score, largest action share), for the model card."""
    lean = np.nan_to_num(probs[:, 2] - probs[:, 0])
    tried, feasible = [], []
    for centre in (0.0, float(np.median(lean)) if len(lean) else 0.0):
        edge = np.abs(lean - centre)
        scale = max(float(np.quantile(edge, SCALE_QUANTILE)) if len(edge) else 0.0, MIN_SCALE)
        for frac in BAND_FRACTIONS:
            rule = DecisionRule("edge", scale=scale, band=frac * scale, centre=centre)
            pos = rule.positions(probs, quantity)
            s, share = float(score(pos)), float(action_shares(pos).max())
            tried.append({"centre": centre, "scale": scale, "band": rule.band, "score": s, "max_action_share": share})
            feasible.append(share <= MAX_ONE_ACTION_SHARE)
    pool = [i for i in range(len(tried)) if feasible[i]] or list(range(len(tried)))
    best = max(pool, key=lambda i: (np.nan_to_num(tried[i]["score"], nan=-np.inf), -i))
    t = tried[best]
    rule = DecisionRule("edge", scale=t["scale"], band=t["band"], centre=t["centre"])
    return rule, {"candidates": tried, "max_one_action_share": MAX_ONE_ACTION_SHARE}


__all__ = ["BAND_FRACTIONS", "MAX_ONE_ACTION_SHARE", "DecisionRule", "RULES", "action_shares", "choose_rule",
           "rule_of"]
