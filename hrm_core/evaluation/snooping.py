"""A verdict that counts every trial: Hansen's Superior Predictive Ability test and Hansen, Lunde and
Nason's Model Confidence Set over all runs of a sweep, with the `arch` package's bootstrap implementations.

Loss = minus the daily net return (after costs), so both ask about mean net return, not Sharpe:

- SPA, against each reference strategy: H0 "no run has a higher expected net return than the reference".
  A small p-value says at least one of the k runs beats it even after searching over all k; the
  consistent p-value is the headline (lower and upper bound it).
- MCS (range statistic, size 10 %): the strategies, runs and references together, that cannot be told
  apart from the best at that level. A reference inside the set and runs outside it read the same way.

Both use arch's stationary bootstrap with mean block n^(1/3) days (as the Sharpe intervals here) and a
fixed seed, so the same returns give the same p-values.
"""
from __future__ import annotations

from typing import Mapping

import pandas as pd

MCS_SIZE = 0.10


def _losses(returns: Mapping[str, pd.Series]) -> pd.DataFrame:
    frame = pd.concat({name: r for name, r in returns.items()}, axis=1, join="inner").dropna()
    return -frame


def data_snooping_tests(runs: Mapping[str, pd.Series], references: Mapping[str, pd.Series], *,
                        n_boot: int = 2000, seed: int = 0) -> dict:
    """SPA of every run against each reference, and the MCS of runs + references (module docstring).

    runs, references: name -> daily net returns on the same days (inner-joined)."""
    from arch.bootstrap import MCS, SPA

    losses = _losses({**runs, **references})
    n, reps = len(losses), max(int(n_boot), 200)
    if n < 30 or not runs:
        return {"unavailable": f"{n} common days and {len(runs)} runs: too few for the tests"}
    block = max(1, int(round(n ** (1 / 3))))
    models = losses[list(runs)].to_numpy()
    spa = {}
    for name in references:
        test = SPA(losses[name].to_numpy(), models, block_size=block, reps=reps, bootstrap="stationary", seed=seed)
        test.compute()
        p = test.pvalues
        spa[name] = {"pvalue": float(p["consistent"]), "pvalue_lower": float(p["lower"]),
                     "pvalue_upper": float(p["upper"])}
    mcs = MCS(losses.to_numpy(), size=MCS_SIZE, reps=reps, block_size=block, method="R", bootstrap="stationary",
              seed=seed)
    mcs.compute()
    names = list(losses.columns)
    pvalues = mcs.pvalues["Pvalue"]
    return {
        "days": n, "runs": len(runs), "block": block, "reps": reps, "loss": "minus daily net return",
        "spa": spa,
        "mcs": {"size": MCS_SIZE, "included": [names[i] for i in sorted(mcs.included)],
                "pvalues": {names[int(i)]: float(v) for i, v in pvalues.items()}},
    }


def snooping_sentence(tests: Mapping, n_trials: int) -> str:
    """The verdict in words, for the docs."""
    if "unavailable" in tests:
        return f"SPA and MCS unavailable: {tests['unavailable']}."
    spa = "; ".join(f"against {ref} p = {r['pvalue']:.3f}" for ref, r in tests["spa"].items())
    refs = [r for r in tests["spa"] if r in tests["mcs"]["included"]]
    runs_in = [n for n in tests["mcs"]["included"] if n not in tests["spa"]]
    return (f"Hansen's SPA over all {tests['runs']} runs here (consistent p-value, H0: none beats the reference in "
            f"mean daily net return): {spa}. Model confidence set at {tests['mcs']['size']:.0%}: "
            f"{len(runs_in)} of {tests['runs']} runs" + (f" and {', '.join(refs)}" if refs else "") + " remain "
            f"({tests['days']:,} days, stationary bootstrap, mean block {tests['block']} days, {tests['reps']} reps; "
            f"the DSR deflates by N = {n_trials} trials).")


__all__ = ["MCS_SIZE", "data_snooping_tests", "snooping_sentence"]
