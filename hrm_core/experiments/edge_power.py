"""How small an edge can the pipeline find? A ladder of planted strengths, learners side by side.

For each signal shape of `hrm_core.data.synthetic` and each rung (the oracle's net annual Sharpe: 0 is the
pure-noise control, then about 0.5, 1, 2 and 4) and each seed, one job:

1. 20 years of daily bars of that shape and strength (the seed draws the series and the training);
2. train / validation / test split by `split_common_span` (70 / 15 / 15 %: about 14 / 3 / 3 years), the
   production rule for a user's own file;
3. learners, trained by production code with production defaults: the HRM (`default` preset), the flat
   transformer of equal size (`flat`), the L2 logistic regression on the same features and labels, each
   with its position rule fitted on validation; the oracle and buy & hold as references;
4. every position through the same backtest on the test period: next-open fills, 1 + 2 bps per unit of
   turnover, risk rules off (the default settings), Sharpe with a 95 % stationary-bootstrap interval;
5. on the regime-dependent shape, a linear probe of the HRM's final z_H and z_L for the slow hidden regime:
   L2 logistic regression fitted on training-period states, C chosen on validation states, accuracy on the
   test period's states (beside the majority rate).

Per rung and learner (`summarise`):

- ``recovered_share``: the learner's test Sharpe / the rung's oracle Sharpe (the calibrated value, not
  the seed's realised oracle, which on 3 test years scatters by about +-0.6 and can be <= 0), mean and sd
  over seeds. The oracle's own share shows that scatter.
- ``power``: the share of seeds whose 95 % Sharpe interval lies above 0 (an edge detected). On the
  noise rung (0) it is the false-detection rate.
- ``min_detectable_sharpe``: the weakest non-zero rung with power >= 0.8; None when no rung reaches it.
"""
from __future__ import annotations

import math
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from hrm_core.data.synthetic import BARS_PER_YEAR, SHAPES, planted_series

RUNGS = (0.0, 0.5, 1.0, 2.0, 4.0)
LEARNERS = ("hrm", "flat", "logistic")  # trained: each run is a trial
REFERENCES = ("oracle", "buy_hold")  # known answers, not trials
PRESETS = {"default": {"hrm": "default", "flat": "flat"}, "tiny": {"hrm": "tiny", "flat": "flat_tiny"}}
POWER_GOAL = 0.8
PROBE_SHAPE = "regime_momentum"
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results-edge-power.json"  # written by --out
SYMBOL, INTERVAL = "SYN", "1d"


@dataclass(frozen=True)
class EdgeJob:
    shape: str
    sharpe: float  # the rung: the oracle's net annual Sharpe
    seed: int
    size: str = "default"  # "default" or "tiny" (the fast check)
    years: float = 20
    epochs: int = 12  # the production default; early stopping on validation log-loss (patience 3)
    n_boot: int = 1000

    @property
    def key(self) -> str:
        return f"{self.shape}-sharpe{self.sharpe:g}-seed{self.seed}-{self.size}-{self.years:g}y-e{self.epochs}"

    def instrument(self) -> str:
        """The synthetic series' name in the trial registry."""
        return f"SYN-{self.shape}-{self.sharpe:g}-seed{self.seed}"


def plan(shapes: Sequence[str] = SHAPES, rungs: Sequence[float] = RUNGS, seeds: int = 5, **job) -> list[EdgeJob]:
    bad = [s for s in shapes if s not in SHAPES]
    if bad:
        raise ValueError(f"unknown shape(s) {bad}; choose from {list(SHAPES)}")
    return [EdgeJob(shape, float(r), seed, **job) for shape in shapes for r in rungs for seed in range(seeds)]


def _sharpe(run) -> dict:
    m = run.metrics
    return {"sharpe": float(m["Sharpe"]), "ci": [float(m["Sharpe CI 95% low"]), float(m["Sharpe CI 95% high"])],
            "exposure_pct": float(m["Exposure [%]"])}


def _train(preset: str, job: EdgeJob, periods: Mapping[str, str], bars: pd.DataFrame, folder: Path):
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.settings import Settings
    from hrm_core.training.train import TrainConfig, save_result, train

    cfg = TrainConfig(preset=preset, symbols=(SYMBOL,), intervals=(INTERVAL,), epochs=job.epochs, seed=job.seed,
                      **periods)
    result = train(cfg, settings=Settings(), bars={(SYMBOL, INTERVAL): bars})
    return load_checkpoint(save_result(result, preset.replace("_", "-"), models_dir=folder, overwrite=True))


def probe_accuracy(states: np.ndarray, hidden: np.ndarray, split: Mapping[str, np.ndarray]) -> float:
    """Test accuracy of an L2 logistic probe of `hidden` (+-1) from `states` (fit on train, C on validation)."""
    from hrm_core.training.logistic import C_GRID, fit_l2_logistic, predict_proba

    mu, sd = states[split["train"]].mean(0), states[split["train"]].std(0) + 1e-8
    X = np.column_stack([np.ones(len(states)), (states - mu) / sd])
    y = (hidden > 0).astype(np.int64)

    def accuracy(W, rows):
        return float((predict_proba(W, X[rows]).argmax(1) == y[rows]).mean())

    fits = [fit_l2_logistic(X[split["train"]], y[split["train"]], C=C, n_classes=2) for C in C_GRID]
    best = max(fits, key=lambda W: accuracy(W, split["validation"]))
    return accuracy(best, split["test"])


def _probe(loaded, series, periods: Mapping[str, str]) -> dict:
    """Probe accuracy of the final z_H and z_L for the slow regime, and the test period's majority rate."""
    from hrm_core.reasoning.diagnostics import trace_decisions
    from hrm_core.training.windows import in_period

    tr = trace_decisions(loaded, series.bars, symbol=SYMBOL, interval=INTERVAL)
    z_H, z_L = tr.final_states()
    hidden = series.hidden.reindex(tr.times).to_numpy()
    split = {name: np.flatnonzero(in_period(tr.times, INTERVAL, periods[f"{p}_start"], periods[f"{p}_end"]))
             for name, p in (("train", "train"), ("validation", "val"), ("test", "test"))}
    test = hidden[split["test"]] > 0
    return {"z_H": probe_accuracy(z_H, hidden, split), "z_L": probe_accuracy(z_L, hidden, split),
            "majority": float(max(test.mean(), 1 - test.mean()))}


def run_edge_job(job: EdgeJob) -> dict:
    """On a worker: one series, every learner trained and backtested on its test period; a JSON-able record."""
    import time

    from hrm_core.compute.executors import one_job_at_a_time
    from hrm_core.evaluation.evaluate import Period, backtest_target
    from hrm_core.runtime import configure_threads
    from hrm_core.settings import Settings
    from hrm_core.trading.signals import generate_signals
    from hrm_core.training.datasets import split_common_span
    from hrm_core.training.logistic import fit_logistic, logistic_positions

    configure_threads(1)
    t0 = time.perf_counter()
    series = planted_series(job.shape, annual_sharpe=job.sharpe, n_bars=round(job.years * BARS_PER_YEAR),
                            seed=job.seed)
    bars = series.bars
    periods = split_common_span([bars])
    settings = Settings()
    period = Period(periods["test_start"], periods["test_end"], "synthetic test period")
    common = dict(symbol=SYMBOL, interval=INTERVAL, period=period, settings=settings, n_boot=job.n_boot)
    positions, probe = {}, None
    with one_job_at_a_time(), tempfile.TemporaryDirectory(prefix="hrm-edge-") as tmp:
        for learner in ("hrm", "flat"):
            loaded = _train(PRESETS[job.size][learner], job, periods, bars, Path(tmp))
            positions[learner] = generate_signals(loaded, bars, symbol=SYMBOL, interval=INTERVAL).position
            if learner == "hrm":
                hrm = loaded
                if job.shape == PROBE_SHAPE:
                    probe = _probe(loaded, series, periods)
        positions["logistic"] = logistic_positions(bars, fit_logistic(bars, interval=INTERVAL, loaded=hrm))
    positions["oracle"] = series.oracle
    positions["buy_hold"] = series.oracle * 0 + 1.0
    runs = {name: backtest_target(pos, bars, name=name, kind="model", **common) for name, pos in positions.items()}
    return {"job": asdict(job), "key": job.key, "drift": series.drift, "periods": periods,
            "test_bars": int(len(runs["oracle"].close)), "learners": {n: _sharpe(r) for n, r in runs.items()},
            "probe": probe, "seconds": round(time.perf_counter() - t0, 1)}


def _mean_sd(values: Sequence[float]) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else None, "n": int(len(v))}


def paired_difference(a: Sequence[float], b: Sequence[float]) -> dict:
    """Mean of a - b over seeds (same series) with a 95 % t interval; None bounds with under 2 seeds."""
    from scipy import stats

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2:
        return {"mean": float(d.mean()), "ci": [None, None], "n": int(len(d))}
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
    return {"mean": float(d.mean()), "ci": [float(d.mean() - half), float(d.mean() + half)], "n": int(len(d))}


def summarise(records: Iterable[Mapping]) -> dict:
    """Per shape: per rung and learner recovered_share, power, mean Sharpe; per learner min_detectable_sharpe;
    on the regime-dependent shape, probe_accuracy of z_H and z_L (mean, sd over seeds) and the majority rate."""
    by: dict[str, dict[float, list[Mapping]]] = {}
    for rec in records:
        by.setdefault(rec["job"]["shape"], {}).setdefault(float(rec["job"]["sharpe"]), []).append(rec)
    out = {}
    for shape, rungs in by.items():
        table = {}
        for rung, recs in sorted(rungs.items()):
            row = {}
            for name in (*LEARNERS, *REFERENCES):
                s = [r["learners"][name]["sharpe"] for r in recs]
                detected = [r["learners"][name]["ci"][0] > 0 for r in recs]
                row[name] = {"sharpe": _mean_sd(s), "power": float(np.mean(detected)),
                             "recovered_share": _mean_sd(np.asarray(s) / rung) if rung > 0 else None}
            for other in ("flat", "buy_hold"):  # the hierarchy's gain; on vol_timing, what sizing adds
                row[f"hrm_minus_{other}_sharpe"] = paired_difference([r["learners"]["hrm"]["sharpe"] for r in recs],
                                                                     [r["learners"][other]["sharpe"] for r in recs])
            table[f"{rung:g}"] = row
        min_detectable = {}
        for name in (*LEARNERS, *REFERENCES):
            found = [float(r) for r in table if float(r) > 0 and table[r][name]["power"] >= POWER_GOAL]
            min_detectable[name] = min(found) if found else None
        out[shape] = {"rungs": table, "min_detectable_sharpe": min_detectable,
                      "seeds": max(len(v) for v in rungs.values())}
        probes = [r for recs in rungs.values() for r in recs if r.get("probe")]
        if probes:
            out[shape]["probe_accuracy"] = {
                rung_key: {z: _mean_sd([r["probe"][z] for r in recs]) for z in ("z_H", "z_L", "majority")}
                for rung_key, recs in ((f"{k:g}", v) for k, v in sorted(rungs.items())) if recs[0].get("probe")}
    return out


def trial_entries(records: Iterable[Mapping], *, kind: str) -> list[dict]:
    """Registry entries: per shape, rung and trained learner, one configuration on each seed's series."""
    groups: dict[tuple, list[Mapping]] = {}
    for rec in records:
        j = rec["job"]
        groups.setdefault((j["shape"], j["sharpe"], j["size"]), []).append(rec)
    entries = []
    for (shape, rung, size), recs in sorted(groups.items()):
        p = recs[0]["periods"]
        for learner in LEARNERS:
            entries.append({"strategy": f"edge-power {learner} ({size}) {shape} sharpe {rung:g}", "kind": kind,
                            "configurations": 1, "instruments": sorted(EdgeJob(**r["job"]).instrument() for r in recs),
                            "interval": INTERVAL, "start": p["test_start"], "end": p["test_end"],
                            "note": "synthetic known-answer series (benchmarks.edge_power); never counted in a "
                                    "real-data deflated Sharpe ratio"})
    return entries


SHAPE_WORDS = {"regime": "a persistent hidden regime", "regime_momentum": "a regime-dependent momentum rule",
               "vol_timing": "predictable volatility (sizing only)"}
LEARNER_WORDS = {"hrm": "HRM", "flat": "flat transformer", "logistic": "logistic regression", "oracle": "oracle",
                 "buy_hold": "buy & hold"}


def _edge(x: float | None) -> str:
    return f">= {x:g}" if x is not None else f"> {max(RUNGS):g} (no rung reached {POWER_GOAL:.0%} power)"


def headline(result: Mapping, learner: str = "hrm") -> str:
    """One sentence: the minimum detectable edge of `learner` on each shape, with the test length."""
    years = result["protocol"]["test_years"]
    def holding_too(md: Mapping) -> str:  # an edge buy & hold finds as easily is the drift, not the learner's skill
        own, hold = md[learner], md.get("buy_hold")
        return " (buy & hold too)" if own is not None and hold is not None and hold <= own else ""

    parts = [f"{SHAPE_WORDS.get(shape, shape)} of Sharpe {_edge(s['min_detectable_sharpe'][learner])}"
             + holding_too(s["min_detectable_sharpe"]) for shape, s in result["shapes"].items()]
    return (f"On {result['protocol']['years']:g} years of synthetic daily bars ({years:g} test years, after costs), "
            f"the {LEARNER_WORDS[learner]} detects, with {POWER_GOAL:.0%} power, " + "; ".join(parts) + ".")


def load_result(path: str | Path | None = None) -> dict | None:
    """The committed ladder (`--out`, default RESULTS), or None when it has not been run or cannot be read."""
    import json

    try:
        return json.loads(Path(path or RESULTS).read_text())
    except (OSError, ValueError):
        return None


def real_data_verdict(result: Mapping, *, name: str, symbol: str, sharpe: float, ci: Sequence[float],
                      years: float) -> str:
    """The real backtest beside the ladder: detected or not, and how its test length compares."""
    found = ci[0] > 0
    return (f"Here, {name} on {symbol}: net Sharpe {sharpe:.2f} [{ci[0]:.2f}, {ci[1]:.2f}] over {years:.1f} years: "
            + ("an edge detected (the interval lies above 0)." if found else "no edge detected (the interval "
               "includes 0).")
            + f" The ladder's test periods are {result['protocol']['test_years']:g} years; a longer test detects a "
              "weaker edge (the interval narrows with the square root of its length).")


def walk_forward_result(path: str | Path, variant: str = "hrm-default") -> dict | None:
    """The real-data comparison from a walk-forward JSON (`hrm evaluate --walk-forward`): per instrument the
    variant's seed-mean net Sharpe and mean 95 % interval; None when the file is missing."""
    import json

    try:
        wf = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    out = {}
    for inst in wf.get("instruments", []):
        v = next((x for x in inst["variants"] if x["variant"] == variant), None)
        if v is not None:
            m = v["mean"]
            out[inst["symbol"]] = {"sharpe": m["Sharpe"], "ci": [m["Sharpe CI 95% low"], m["Sharpe CI 95% high"]]}
    return {"source": str(path), "variant": variant, "period": wf["period"]["label"], "instruments": out} if out \
        else None


def real_data_sentence(real: Mapping) -> str:
    found = [s for s, r in real["instruments"].items() if r["ci"][0] > 0]
    cells = "; ".join(f"{s} {r['sharpe']:+.2f} [{r['ci'][0]:+.2f}, {r['ci'][1]:+.2f}]"
                      for s, r in real["instruments"].items())
    return (f"On real data ({real['period']}), {real['variant']}'s net Sharpe (seed mean, mean 95 % interval) is "
            f"{cells}: " + (f"an edge detected on {', '.join(found)}." if found else "no edge detected."))


def min_detectable_table(result: Mapping) -> pd.DataFrame:
    """Shapes x learners: the weakest rung detected with the power goal (None: no rung)."""
    return pd.DataFrame({LEARNER_WORDS[n]: {SHAPE_WORDS.get(shape, shape): s["min_detectable_sharpe"].get(n)
                                            for shape, s in result["shapes"].items()}
                         for n in (*LEARNERS, *REFERENCES)})


def _ms(d: Mapping | None, spec: str = ".2f") -> str:
    if d is None:
        return "-"
    return f"{d['mean']:{spec}}" + (f" ± {d['sd']:{spec}}" if d.get("sd") is not None else "")


def _ci(d: Mapping) -> str:
    lo, hi = d["ci"]
    return f"{d['mean']:+.2f}" + (f" [{lo:+.2f}, {hi:+.2f}]" if lo is not None else "")


def render_markdown(result: Mapping) -> str:
    """The docs section: protocol, headline, per shape a rung x learner table, the probe, HRM vs flat."""
    p = result["protocol"]
    names = (*LEARNERS, *REFERENCES)
    lines = ["## How small an edge can the pipeline find? (synthetic known-answer ladder)", "",
             f"Reproduce: `{result['command']}` ({result['machine']['cpus']} CPUs, matmul "
             f"{result['machine']['matmul_gflops']} GFLOP/s, median {result['seconds_per_job']['median']:.0f} s "
             "per job). Generator: `hrm_core/data/synthetic.py`; protocol: `hrm_core/experiments/edge_power.py`.", "",
             f"Each rung is the oracle's net annual Sharpe (0 = pure noise). Per seed: {p['years']:g} years of "
             f"daily bars, split {p['split']} ({p['test_years']:g} test years), the production training and "
             f"position rules ({p['models']['hrm']} and {p['models']['flat']} presets, {p['epochs']} epochs with "
             f"early stopping), next-open fills, {p['costs_bps']:g} bps per unit of turnover, {p['seeds']} seeds. "
             f"Detected = {p['detected']}; power = the share of seeds detected; minimum detectable edge = the "
             f"weakest rung with power >= {POWER_GOAL:.0%}. Recovered share = test Sharpe / the rung "
             "(the oracle's own share shows the scatter of a short test). The runs are trials of kind "
             f"`{p['registry_kind']}` in {p['registry']}, never counted in a real-data DSR.", "",
             f"**{headline(result)}**" + (f" {real_data_sentence(result['real_data'])}"
                                          if result.get("real_data") else ""), ""]
    for shape, summary in result["shapes"].items():
        md = summary["min_detectable_sharpe"]
        lines += [f"### {SHAPE_WORDS.get(shape, shape).capitalize()} (`{shape}`)", "",
                  "Minimum detectable edge: " + ", ".join(f"{LEARNER_WORDS[n]} {_edge(md[n])}" for n in names) + ".",
                  "", "| oracle Sharpe | " + " | ".join(LEARNER_WORDS[n] for n in names)
                  + " | HRM - flat Sharpe | HRM - buy & hold Sharpe |", "|---" * (len(names) + 3) + "|"]
        for rung, row in summary["rungs"].items():
            cells = [f"{_ms(row[n]['sharpe'])}; power {row[n]['power']:.0%}"
                     + (f"; share {_ms(row[n]['recovered_share'])}" if row[n]["recovered_share"] else "")
                     for n in names]
            lines.append(f"| {rung} | " + " | ".join(cells) + f" | {_ci(row['hrm_minus_flat_sharpe'])} | "
                         f"{_ci(row['hrm_minus_buy_hold_sharpe'])} |")
        lines += ["", "Cells: test Sharpe mean ± sd over seeds; power; recovered share. HRM - flat and HRM - buy & "
                      "hold: paired mean over seeds (the same series) with a 95 % t interval.", ""]
        if "probe_accuracy" in summary:
            lines += ["Linear probe of the HRM's final states for the slow hidden regime (test-period accuracy, "
                      "mean ± sd over seeds; chance is 0.5, and `majority` is the test period's share of its more "
                      "frequent regime: a constant guess that had seen the test labels would score it):", "",
                      "| oracle Sharpe | z_H | z_L | majority |", "|---|---|---|---|"]
            lines += [f"| {rung} | {_ms(pr['z_H'])} | {_ms(pr['z_L'])} | {_ms(pr['majority'])} |"
                      for rung, pr in summary["probe_accuracy"].items()]
            lines.append("")
    return "\n".join(lines)


__all__ = ["EdgeJob", "LEARNERS", "POWER_GOAL", "PRESETS", "REFERENCES", "RESULTS", "RUNGS", "headline",
           "load_result", "min_detectable_table", "paired_difference", "plan", "probe_accuracy", "real_data_verdict",
           "real_data_sentence", "render_markdown", "run_edge_job", "summarise", "trial_entries", "walk_forward_result"]
