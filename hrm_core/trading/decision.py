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

from typing import Callable

import numpy as np

from hrm_core.model.position_rule import MAX_ONE_ACTION_SHARE, RULES, DecisionRule, rule_of

SCALE_QUANTILE = 0.9
BAND_FRACTIONS = (0.0, 0.25, 0.5, 0.75)
MIN_SCALE = 1e-3  # an edge distribution narrower than this is noise around the class frequencies


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
