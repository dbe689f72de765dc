"""What an explanation holds: the dataclasses the page, the CLI, the report and the results store share.

No torch here: a stored explanation loads and renders without the attribution code (explain/core.py makes one)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import pandas as pd

from explain.words import BASELINE_WHY, BASELINES, TARGETS

@dataclass(frozen=True)
class ModuleAttribution:
    applicable: bool
    h: float = math.nan  # signed sum of attributions to z_H entering the final H update
    l: float = math.nan  # signed sum of attributions to z_L entering it
    h_share: float = math.nan  # A_H / (F(x) - F(x')): signed; h_share + l_share = 1 up to the delta
    l_share: float = math.nan  # A_L / (F(x) - F(x')); one share > 1 and the other < 0: the modules pulled apart
    lead: str = ""  # "H-led", "L-led" or "mixed" (LEAD_BAND), "" when not measurable
    f_input: float = math.nan  # F(x)
    f_baseline: float = math.nan  # F(x')
    delta: float = math.nan  # Captum's convergence delta, output units: A_H + A_L - (F(x) - F(x'))
    completeness_delta: float | None = None  # delta / |F(x) - F(x')|, None when the denominator is ~0
    note: str = ""

    def to_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}

    def sentence(self, target: str) -> str:
        """The split in words, signs kept: who pushed which way, and by how much."""
        if not self.applicable or not self.lead:
            return ""
        d = self.f_input - self.f_baseline
        verb = {True: "pushed it up", False: "pulled it down"}
        words = (f"From the baseline to this decision the {target} moved {d:+.4f}: H (strategic context) "
                 f"{verb[self.h >= 0]} by {self.h:+.4f}, L (the last cycle's tactics) {verb[self.l >= 0]} by "
                 f"{self.l:+.4f}")
        if self.h * self.l < 0:
            words += ": the modules pulled in opposite directions"
        return words + f" ({self.lead}: H {self.h_share:+.0%}, L {self.l_share:+.0%} of the move)."


@dataclass(frozen=True)
class Explanation:
    """Everything the page, the CLI, the report and the tests show about one decision."""

    model_id: str
    model_name: str
    arch: str
    symbol: str
    interval: str
    time: pd.Timestamp
    decision: dict  # action, position, size, quantity, p_*, value, steps, reproduction_error
    target: str
    baseline: str
    n_steps: int
    module: ModuleAttribution
    cycles: dict  # applicable, steps (probe + attribution per cycle), firmed_up, label, note
    features: dict  # attributions (W x F frame), per_feature, per_bar, top_features, by_baseline, ranking_change
    summary: str
    caveats: tuple[str, ...]
    window: pd.DataFrame  # the bars of the window (OHLCV), for charts
    gate: dict = field(default_factory=dict)  # the no-trade band as a gate: edge, band, margin, text
    counterfactual: list = field(default_factory=list)  # per top input: feature, from, to, result, text
    similar: dict = field(default_factory=dict)  # nearest training-period decisions by final H state
    stability: dict = field(default_factory=dict)  # the same decision by every seed of the shipped variant
    offered_targets: tuple[str, ...] = ()
    elapsed_s: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-safe form (the CLI's --json and the report's data)."""
        f = self.features
        return {
            "model": self.model_id, "model_name": self.model_name, "arch": self.arch, "symbol": self.symbol,
            "interval": self.interval, "time": self.time.isoformat(), "decision": self.decision,
            "target": {"name": self.target, "description": TARGETS[self.target],
                       "offered": list(self.offered_targets)},
            "gate": self.gate, "counterfactual": self.counterfactual,
            "similar": self.similar.get("items", []), "similar_note": self.similar.get("note", ""),
            "stability": self.stability,
            "baseline": {"name": self.baseline, "description": BASELINES[self.baseline], "why": BASELINE_WHY,
                         "compared_with": f["compared_with"]},
            "n_steps": self.n_steps, "module": self.module.to_dict(), "cycles": self.cycles,
            "top_features": f["top_features"],
            "features": {"completeness_delta": f["completeness_delta"], "f_input": f["f_input"],
                         "f_baseline": f["f_baseline"], "delta": f["delta"],
                         "per_feature": {k: float(v) for k, v in f["per_feature"].items()},
                         "per_bar": {t.isoformat(): float(v) for t, v in f["per_bar"].items()},
                         "by_baseline": f["by_baseline"], "ranking_change": f["ranking_change"]},
            "summary": self.summary, "caveats": list(self.caveats), "elapsed_s": round(self.elapsed_s, 4),
        }
