"""The Performance page's verdict in one sentence: the model against buy & hold and vol-target buy & hold.

Each comparison is the paired Sharpe difference over the same bars with a 95 % stationary-bootstrap
interval (hrm_core.evaluation.walkforward.paired_sharpe_difference): "better" when the interval lies above
0, "worse" when below, otherwise "no clear difference". The model's own Sharpe interval and its DSR
(with the period's N) come from the metrics table.
"""
from __future__ import annotations

import math

from hrm_core.evaluation.evaluate import InstrumentEvaluation

REFERENCES = ("buy & hold", "vol-target B&H")


def _word(ci) -> str:
    lo, hi = ci
    return "better" if lo > 0 else "worse" if hi < 0 else "no clear difference"


def performance_verdict(inst: InstrumentEvaluation, *, shown: str = "", n_boot: int = 1000) -> str | None:
    """One sentence on the first model run; None when there is no model run."""
    from hrm_core.evaluation.walkforward import paired_sharpe_difference

    model = next((r for r in inst.runs if r.kind == "model"), None)
    if model is None:
        return None
    m = model.metrics
    dsr = m.get("DSR", math.nan)
    parts = [f"**{model.name}** on {inst.symbol} {inst.interval}{f' ({shown})' if shown else ''}: net Sharpe "
             f"{m['Sharpe']:.2f} [{m['Sharpe CI 95% low']:.2f}, {m['Sharpe CI 95% high']:.2f}]"
             + (f", DSR {dsr:.2f} (N = {m['Trials (N)']:.0f} trials)" if math.isfinite(dsr) else "")]
    names = {r.name for r in inst.runs}
    for ref in (n for n in REFERENCES if n in names):
        other = inst.run(ref)
        d = paired_sharpe_difference([model.net_returns.to_numpy()], [other.net_returns.to_numpy()],
                                     periods_per_year=inst.periods_per_year, n_boot=n_boot)
        parts.append(f"against {ref} ({other.metrics['Sharpe']:.2f}): {d['diff']:+.2f} "
                     f"[{d['ci'][0]:+.2f}, {d['ci'][1]:+.2f}], {_word(d['ci'])}")
    return "; ".join(parts) + "."


__all__ = ["performance_verdict"]
