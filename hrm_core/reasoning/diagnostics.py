"""Reasoning diagnostics: do the HRM's loops settle, how deep does it think, and does depth track difficulty.

Everything here reads one traced run per decision (`trace_decisions`): the model is driven
segment by segment through its public `forward(..., carry, trace=True)` with the carry's
"halted" flag cleared, so every decision runs all M = max_segments segments (the *full-depth*
view) while the Q-head's halt/continue verdict after each segment is recorded. The decision
the model actually makes (*as run*, what `infer` returns and the signal table shows) is the
first segment whose Q-head says halt (or M without ACT); its residuals are the full-depth ones
cut there, since a segment never depends on later ones. Tests check both against `infer`.

- **Forward residual** of an update: ||z_new - z_old|| / ||z_old|| over all tokens of one
  sample (`hrm_core.model.networks._TraceRecorder`), for z_L after each L step and z_H after each H
  update. The HRM paper's signature: L residuals fall within a cycle and jump when H updates;
  H residuals fall steadily.
- **Convergence criterion** (`is_converged`), on the H residuals of the decision as run:
  the last H update moved z_H by less than CONVERGENCE_TOL = 5 % of its norm, and by no more
  than the update before it. Why: the heads read z_H, so a settled z_H means a settled
  decision; a contraction toward a fixed point has residuals falling geometrically
  (r_k = c^k r_0 with c < 1), so it passes once close enough; an oscillation between states
  keeps a constant, large residual and a divergence a growing one, so both fail. 5 % is a
  "last step changed the state by a few per cent" tolerance; the contraction factor
  (geometric mean of successive H residual ratios) is reported beside it so the conclusion
  does not hang on the threshold alone.
- **Adaptive depth**: segments used as run; its Spearman rank correlation with realised
  volatility (sqrt(P) x s(last 20 returns) through the decision bar, as in hrm_core.evaluation.regimes)
  and with the high-volatility regime, each with a stationary-bootstrap interval
  (hrm_core.trading.metrics.bootstrap_ci on the decision rows). Decisions share the 20-bar volatility
  and overlapping model input windows, so the mean block is max(VOL_WINDOW, model window,
  n^(1/3)) decisions (`decision_block`), not n^(1/3) alone.
  Spearman, because depth is a small integer with many ties and volatility is skewed.
- **Q-head calibration**: the as-run decision against the full-depth one: the share of
  decisions whose action agrees, and the PnL difference of the two position series over the
  period through the same risk layer, backtest and costs as the Performance page.
- **Representations**: participation ratio of the final z_H and z_L summary states across the
  period's decisions (hrm_core.reasoning.representations).

`diagnose_period` bundles all of it into one JSON-ready dict, cached in a `ResultStore` keyed
like the signal table (model fingerprint, symbol, interval, bars hash, period).
"""
from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from hrm_core.trading.decision import DecisionRule, rule_of
from hrm_core.errors import EmptyDataError, ModelError
from hrm_core.jsonsafe import json_safe
from hrm_core.runtime import single_flight
from hrm_core.evaluation.depth import VOL_WINDOW, depth_logloss, realised_volatility
from hrm_core.trading.metrics import periods_per_year_of, rank_correlation
from hrm_core.reasoning.representations import participation_ratio_ci, pca_2d

CONVERGENCE_TOL = 0.05
CRITERION = ("converged = the decision's last H update changed z_H by less than {tol:.0%} of its norm "
             "(||dz_H|| / ||z_H|| < {tol:g}) and by no more than the H update before it")
SEED_CLAIMS = {  # /work/shared/seed: claimed, unverified
    "convergence_rate": 0.943, "mean_segments": 2.7, "max_segments": 3,
    "depth_volatility": "deeper reasoning during volatile periods",
}
DIAGNOSTICS_VERSION = 3  # bump when a figure's definition changes: old cache entries are then ignored
N_BOOT = 1000
NOT_APPLICABLE = "not applicable: the flat transformer has no reasoning loops (no residuals, depth or H/L states)"


# ----------------------------------------------------------------------------- tracing

@dataclass(frozen=True)
class DecisionTraces:
    """Full-depth traces of n decisions; index s*N*T + c*T + t for L steps, s*N + c for H updates."""

    times: pd.DatetimeIndex  # (n,) decision bars
    steps: np.ndarray  # (n,) int: segments used as run (first Q-head halt, or M)
    halt: np.ndarray  # (n, M) bool: the Q-head said halt after segment s
    l_res: np.ndarray  # (n, M*N*T) L residuals, full depth
    h_res: np.ndarray  # (n, M*N) H residuals, full depth
    z_L: np.ndarray  # (n, M*N*T, D) summary token after each L step
    z_H: np.ndarray  # (n, M*N, D) summary token after each H update
    probs: np.ndarray  # (n, M, 3) policy probabilities after each segment
    quantity: np.ndarray  # (n, M)
    value: np.ndarray  # (n, M)
    finite: np.ndarray  # (n, M) bool
    h_cycles: int
    l_cycles: int
    max_segments: int
    h_init: np.ndarray | None = None  # (D,) initial z_H summary state (step 0 of a trajectory)
    l_init: np.ndarray | None = None
    rule: DecisionRule = field(default_factory=DecisionRule)  # the checkpoint's position rule
    direction: np.ndarray | None = None  # (n,) float: each decision's label class (NaN where unlabelled)

    def __len__(self) -> int:
        return len(self.times)

    def as_run(self, res: np.ndarray, per_segment: int) -> np.ndarray:
        """Residuals (n, M*K) with NaN after each decision's halting segment."""
        seg = np.arange(res.shape[1]) // per_segment
        return np.where(seg[None, :] < self.steps[:, None], res, np.nan)

    def final_states(self) -> tuple[np.ndarray, np.ndarray]:
        """(z_H, z_L) summary states (n, D) at the end of each decision as run."""
        rows = np.arange(len(self))
        N, T = self.h_cycles, self.l_cycles
        return self.z_H[rows, self.steps * N - 1], self.z_L[rows, self.steps * N * T - 1]

    def raw(self, depth: np.ndarray) -> pd.DataFrame:
        """Outputs at `depth` segments per decision in the signal cache's raw format (for build_table)."""
        rows, s = np.arange(len(self)), depth - 1
        p = self.probs[rows, s]
        return pd.DataFrame({"p_short": p[:, 0], "p_flat": p[:, 1], "p_long": p[:, 2],
                             "quantity": self.quantity[rows, s], "value": self.value[rows, s],
                             "steps": depth.astype(float), "finite": self.finite[rows, s].astype(float),
                             "latency_ms": np.nan}, index=pd.DatetimeIndex(self.times, name="time"))

    def table(self, depth: np.ndarray, model_id: str = "") -> pd.DataFrame:
        """The signal table the decisions would give at `depth` segments, under the checkpoint's position rule."""
        from hrm_core.trading.signals import build_table

        return build_table(self.raw(depth), model_id=model_id, rule=self.rule)


def _is_recurrent(loaded) -> bool:
    """Only the HRM has loops to diagnose (the flat baseline does one pass)."""
    return getattr(loaded.config, "arch", "flat") == "hrm"


def _forced_segments(model, x, iid, tid) -> tuple[list, list]:
    """Run all M segments for every sample (carry's halted flag cleared); per-segment outputs and traces."""
    import torch

    from hrm_core.model.networks import HRMCarry

    outs, carry = [], None
    for _ in range(model.config.max_segments):
        out, carry = model(x, iid, tid, carry, trace=True)
        outs.append(out)
        carry = HRMCarry(carry.inner, carry.steps, torch.zeros_like(carry.halted), carry.survival)  # keep reasoning
    return outs, [o.trace.segments[0] for o in outs]


def _as_run_depth(halt: np.ndarray, config) -> np.ndarray:
    """Segments used as run (what `infer` does): in inference mode "adaptive" the first segment whose halting
    head says halt (1-based), else M; M without ACT or in mode "max"; fixed_depth in mode "fixed"."""
    n, M = halt.shape
    mode = getattr(config, "inference_mode", "adaptive")
    if mode == "fixed":
        return np.full(n, config.fixed_depth, dtype=np.int64)
    if not config.act or M == 1 or mode == "max":
        return np.full(n, M, dtype=np.int64)
    h = halt.copy()
    h[:, -1] = True
    return np.argmax(h, axis=1).astype(np.int64) + 1


def _trace_batch(model, x, iid, tid) -> dict[str, np.ndarray]:
    """One batch through `_forced_segments` -> numpy arrays of residuals, states and outputs."""
    import torch

    from hrm_core.model.halting import halts

    outs, segs = _forced_segments(model, x, iid, tid)
    objective = getattr(model.config, "halt_objective", "q_learning")

    def cat(xs: list) -> np.ndarray:  # list of (B, ...) tensors -> (B, k, ...) array
        return torch.stack(xs, 1).float().cpu().numpy()

    return {
        "l_res": np.concatenate([cat(s.l_residuals) for s in segs], 1),
        "h_res": np.concatenate([cat(s.h_residuals) for s in segs], 1),
        "z_L": np.concatenate([cat(s.z_L) for s in segs], 1),
        "z_H": np.concatenate([cat(s.z_H) for s in segs], 1),
        "probs": cat([torch.softmax(o.policy_logits.float(), -1) for o in outs]),
        "quantity": cat([o.quantity for o in outs]),
        "value": cat([o.value for o in outs]),
        "finite": cat([o.finite.float() for o in outs]) > 0,
        "halt": cat([halts(objective, o.q_halt, o.q_continue, o.survival)[0].float() for o in outs]) > 0,
    }


def trace_windows(model, X: np.ndarray, *, instrument_id: int, timeframe_id: int,
                  times: Sequence | None = None, batch_size: int = 256) -> DecisionTraces:
    """Full-depth traces of model-ready windows X [n, W, F] (float32), in batches, under inference mode.

    `times` labels the decisions (default: placeholder dates 1970-01-01 + i ns, for tests)."""
    import torch

    if getattr(model.config, "arch", "flat") != "hrm":
        raise ModelError(NOT_APPLICABLE)
    if model.training:
        model.eval()
    parts: list[dict[str, np.ndarray]] = []
    with torch.inference_mode():
        for lo in range(0, len(X), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(X[lo:lo + batch_size], dtype=np.float32))
            k = len(x)
            parts.append(_trace_batch(model, x, torch.full((k,), instrument_id, dtype=torch.long),
                                      torch.full((k,), timeframe_id, dtype=torch.long)))
    arr = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    cfg, halt = model.config, arr.pop("halt")

    def init(name: str) -> np.ndarray | None:
        buf = getattr(model, name, None)
        return None if buf is None else buf.detach().float().cpu().numpy()

    idx = pd.DatetimeIndex(times) if times is not None else pd.DatetimeIndex(pd.RangeIndex(len(X)).to_numpy())
    return DecisionTraces(times=idx, steps=_as_run_depth(halt, cfg), halt=halt, h_cycles=cfg.h_cycles,
                          l_cycles=cfg.l_cycles, max_segments=cfg.max_segments, h_init=init("H_init"),
                          l_init=init("L_init"), **arr)


def trace_decisions(loaded, bars: pd.DataFrame, *, symbol: str, interval: str, mask: np.ndarray | None = None,
                    batch_size: int = 256) -> DecisionTraces:
    """Trace every decision of `bars` (or those whose decision bar is in `mask`, a bool array over bars)."""
    from hrm_core.trading.signals import model_inputs

    if not _is_recurrent(loaded):
        raise ModelError(f"{loaded.name}: {NOT_APPLICABLE}")
    ds, inst, tf = model_inputs(loaded, bars, symbol=symbol, interval=interval)
    keep = np.ones(len(ds), bool) if mask is None else np.asarray(mask, bool)[ds.end_idx]
    if not keep.any():
        raise EmptyDataError(f"{symbol} {interval}: no decidable bar in the chosen period (the model needs "
                             f"{loaded.config.window} bars after the feature warm-up): pick later dates")
    tr = trace_windows(loaded.model, ds.X[keep], instrument_id=inst, timeframe_id=tf,
                       times=ds.times[keep], batch_size=batch_size)
    return replace(tr, rule=rule_of(loaded.metrics), direction=ds.direction[keep])


# ----------------------------------------------------------------------------- residuals and convergence

def residual_band(res: np.ndarray) -> dict[str, list[float]]:
    """Per step over decisions: median, 10 % and 90 % quantiles (halted NaN steps ignored), share still running."""
    res = np.asarray(res, dtype=np.float64)
    running = np.isfinite(res).mean(axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN steps (nobody ran that far) stay NaN
        p10, med, p90 = np.nanpercentile(res, [10, 50, 90], axis=0)
    return {"median": med.tolist(), "p10": p10.tolist(), "p90": p90.tolist(), "running": running.tolist()}


def _last_two(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Last finite residual of each row and the one before it (+inf when there is none)."""
    h = np.atleast_2d(np.asarray(h, dtype=np.float64))
    k = np.isfinite(h).sum(axis=1)  # NaN only after halting, so the finite values are a prefix
    rows = np.arange(len(h))
    last = np.where(k >= 1, h[rows, np.maximum(k - 1, 0)], np.nan)
    prev = np.where(k >= 2, h[rows, np.maximum(k - 2, 0)], np.inf)
    return last, prev


def is_converged(h_residuals: np.ndarray, *, tol: float = CONVERGENCE_TOL) -> np.ndarray:
    """The convergence criterion (module docstring) per decision: rows of H residuals, NaN after halting."""
    last, prev = _last_two(h_residuals)
    with np.errstate(invalid="ignore"):
        return (last < tol) & (last <= prev)


def contraction_factor(h_residuals: np.ndarray) -> np.ndarray:
    """Geometric mean of successive H residual ratios r_(k+1) / r_k per decision (< 1: contracting); NaN if < 2."""
    h = np.atleast_2d(np.asarray(h_residuals, dtype=np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        logs = np.log(h[:, 1:]) - np.log(h[:, :-1])
        n = np.isfinite(logs).sum(axis=1)
        return np.where(n > 0, np.exp(np.nansum(np.where(np.isfinite(logs), logs, 0.0), axis=1) / np.maximum(n, 1)),
                        np.nan)


def rate_by(flags: np.ndarray, labels: Sequence) -> dict[str, dict[str, float]]:
    """Share of True per label: {label: {"n", "rate"}}, labels in order of first appearance."""
    flags, labels = np.asarray(flags, bool), np.asarray(labels, dtype=object)
    return {str(g): {"n": int((labels == g).sum()), "rate": float(flags[labels == g].mean())}
            for g in dict.fromkeys(labels.tolist())}


# ----------------------------------------------------------------------------- depth

def depth_summary(steps: np.ndarray, max_segments: int) -> dict[str, Any]:
    """Mean segments used and the histogram {"1": count, ..., "M": count} (every depth listed, zeros too)."""
    steps = np.asarray(steps, dtype=np.int64)
    hist = {str(k): int((steps == k).sum()) for k in range(1, max_segments + 1)}
    return {"mean_segments": float(steps.mean()) if len(steps) else math.nan, "segments_histogram": hist,
            "max_segments": int(max_segments)}


def decision_block(n: int, window: int) -> float:
    """Mean block (in decisions) of the stationary bootstrap over a period's decisions: decisions share
    the VOL_WINDOW-bar volatility and overlapping `window`-bar model inputs, so blocks of at least the
    longer of the two, and n^(1/3) if that is longer still (as hrm_core.training.skill does with the label horizon)."""
    return float(max(VOL_WINDOW, int(window), n ** (1 / 3)))


# ----------------------------------------------------------------------------- does depth pay?

def depth_pays(tr: DecisionTraces, *, n_boot: int = N_BOOT, seed: int = 0, mean_block: float | None = None,
               alpha: float = 0.05) -> dict[str, Any]:
    """Log-loss of the labelled decisions as run, at a fixed depth of 1 and at max depth, paired
    (hrm_core.evaluation.depth.depth_logloss, shared with the walk-forward)."""
    rows, M = np.arange(len(tr)), tr.max_segments
    probs = {"as_run": tr.probs[rows, tr.steps - 1], "depth_1": tr.probs[:, 0], "max_depth": tr.probs[:, M - 1]}
    y = tr.direction if tr.direction is not None else np.full(len(tr), np.nan)
    return depth_logloss(probs, y, max_segments=M, n_boot=n_boot, seed=seed, mean_block=mean_block, alpha=alpha)


def depth_verdict(d: dict[str, Any]) -> str:
    """One sentence on a period's depth: does it adapt, does max depth pay, how often it changes the action."""
    hist, M = d.get("segments_histogram") or {}, d.get("max_segments")
    n = sum(hist.values()) or 1
    pays = d.get("depth_pays") or {}
    diff = (pays.get("differences") or {}).get("max_depth_minus_depth_1") or {}
    lo, hi = diff.get("ci") or (None, None)
    paid = (f"{pays.get('statement', 'depth not measured')} ({diff['mean']:+.4f} per decision, 95 % CI "
            f"[{lo:+.4f}, {hi:+.4f}])" if diff.get("mean") is not None and lo is not None and hi is not None
            else pays.get("statement", "whether depth pays was not measured"))
    agree = (d.get("halting_agreement") or {}).get("rate")
    changed = "" if agree is None else f"; as run and at max depth the action agrees on {100 * agree:.0f} % of decisions"
    how = f"{d.get('halt_objective', 'q_learning')} halting, {d.get('inference_mode', 'adaptive')} inference"
    used = [int(k) for k, v in hist.items() if v]
    if len(used) <= 1:
        depth = used[0] if used else "?"
        return f"Depth does not adapt ({how}): every decision uses {depth} of {M} segments; {paid}{changed}."
    shares = ", ".join(f"{100 * v / n:.0f} % use {k}" for k, v in hist.items() if v)
    return f"Depth adapts ({how}): {shares} of {M} segments; {paid}{changed}."


# ----------------------------------------------------------------------------- Q-head calibration

def halting_calibration(tr: DecisionTraces, bars: pd.DataFrame, *, symbol: str, interval: str, period,
                        settings) -> dict[str, Any]:
    """As-run decisions vs full-depth ones: action agreement and PnL of both position series (same risk, costs)."""
    from hrm_core.evaluation.evaluate import backtest_target

    depth_full = np.full(len(tr), tr.max_segments, dtype=np.int64)
    tables = {"as_run": tr.table(tr.steps, "as run"), "full_depth": tr.table(depth_full, "full depth")}
    agree = tables["as_run"]["action"].to_numpy() == tables["full_depth"]["action"].to_numpy()
    out: dict[str, Any] = {"rate": float(agree.mean()), "n": int(len(agree)), "changed": int((~agree).sum()),
                           "costs_bps": float(settings.costs.total_bps)}
    for name, table in tables.items():
        target = table["position"].reindex(bars.index).fillna(0.0)
        run = backtest_target(target, bars, name=name, kind="model", symbol=symbol, interval=interval,
                              period=period, settings=settings, n_boot=0)
        equity = run.backtest.frame["equity"]
        out[name] = {"total_return_pct": 100 * float(equity.iloc[-1] - 1.0), "sharpe": float(run.metrics["Sharpe"]),
                     "mean_abs_position": float(table["position"].abs().mean())}
    out["pnl_difference_pct"] = out["as_run"]["total_return_pct"] - out["full_depth"]["total_return_pct"]
    out["note"] = ("pnl_difference_pct = total net return of the as-run positions minus the full-depth ones, "
                   "percentage points, same risk layer and costs")
    return out


# ----------------------------------------------------------------------------- one period

def _per_decision(tr: DecisionTraces, bars: pd.DataFrame, interval: str, tol: float) -> pd.DataFrame:
    """One row per decision: depth, realised volatility, regime, as-run action, convergence, final residuals."""
    from hrm_core.evaluation.regimes import classify_regimes

    P = periods_per_year_of(bars.index, interval)
    h_run = tr.as_run(tr.h_res, tr.h_cycles)
    last_h, _ = _last_two(h_run)
    last_l, _ = _last_two(tr.as_run(tr.l_res, tr.h_cycles * tr.l_cycles))
    return pd.DataFrame({
        "steps": tr.steps,
        "volatility": realised_volatility(bars["close"], periods_per_year=P).reindex(tr.times).to_numpy(),
        "regime": classify_regimes(bars["close"], periods_per_year=P).reindex(tr.times).to_numpy(),
        "action": tr.table(tr.steps, "as run")["action"].to_numpy(),
        "converged": is_converged(h_run, tol=tol),
        "converged_full_depth": is_converged(tr.h_res, tol=tol),
        "final_h_residual": last_h, "final_l_residual": last_l,
        "contraction": contraction_factor(h_run),
    }, index=pd.DatetimeIndex(tr.times, name="time"))


def summarise(tr: DecisionTraces, bars: pd.DataFrame, *, symbol: str, interval: str, period, settings,
              tol: float = CONVERGENCE_TOL, n_boot: int = N_BOOT, seed: int = 0, window: int = 1) -> dict[str, Any]:
    """Every period figure from one set of traces (see the module docstring); JSON-ready after `json_safe`.

    `window`: the model's input window in bars; with VOL_WINDOW it sets the bootstrap block (decision_block)."""
    d = _per_decision(tr, bars, interval, tol)
    block = decision_block(len(d), window)
    NT = tr.h_cycles * tr.l_cycles
    z_H, z_L = tr.final_states()
    high_vol = (d["regime"] == "high_vol").astype(float).where(d["regime"] != "unknown")
    return {
        "decisions": int(len(d)), "first": d.index[0].isoformat(), "last": d.index[-1].isoformat(),
        "criterion": CRITERION.format(tol=tol), "tol": tol,
        "convergence_rate": float(d["converged"].mean()),
        "convergence_rate_full_depth": float(d["converged_full_depth"].mean()),
        "contraction_factor_median": _nanmedian(d["contraction"]),
        "final_h_residual_median": _nanmedian(d["final_h_residual"]),
        "final_l_residual_median": _nanmedian(d["final_l_residual"]),
        "convergence_by_instrument": {symbol: {"n": int(len(d)), "rate": float(d["converged"].mean())}},
        "convergence_by_regime": rate_by(d["converged"], d["regime"]),
        "convergence_by_action": rate_by(d["converged"], d["action"]),
        **depth_summary(tr.steps, tr.max_segments),
        "depth_volatility_corr": rank_correlation(d["steps"], d["volatility"], n_boot=n_boot, seed=seed,
                                                  names=("depth", "volatility"), mean_block=block),
        "depth_high_vol_corr": rank_correlation(d["steps"], high_vol, n_boot=n_boot, seed=seed,
                                                names=("depth", "the high-volatility flag"), mean_block=block),
        "depth_by_regime": {g: {"n": int(len(s)), "mean_segments": float(s.mean())}
                            for g, s in d.groupby("regime", sort=False)["steps"]},
        "participation_ratio_h": participation_ratio_ci(z_H, n_boot=min(n_boot, 500), seed=seed, mean_block=block),
        "participation_ratio_l": participation_ratio_ci(z_L, n_boot=min(n_boot, 500), seed=seed, mean_block=block),
        "depth_pays": depth_pays(tr, n_boot=n_boot, seed=seed, mean_block=block),
        "halting_agreement": halting_calibration(tr, bars, symbol=symbol, interval=interval, period=period,
                                                 settings=settings),
        "residuals": {"l": residual_band(tr.as_run(tr.l_res, NT)),
                      "h": residual_band(tr.as_run(tr.h_res, tr.h_cycles))},
        "residuals_full_depth": {"l": residual_band(tr.l_res), "h": residual_band(tr.h_res)},
        "per_decision": {"time": [t.isoformat() for t in d.index], **{c: d[c].tolist() for c in d.columns}},
    }


def _nanmedian(s: pd.Series) -> float:
    v = s.to_numpy(dtype=np.float64)
    return float(np.nanmedian(v)) if np.isfinite(v).any() else math.nan


def _model_facts(loaded) -> dict[str, Any]:
    c = loaded.config
    return {"model": loaded.name, "arch": c.arch, "h_cycles": c.h_cycles, "l_cycles": c.l_cycles,
            "max_segments": c.max_segments, "act": c.act, "reset_l_each_cycle": c.reset_l_each_cycle,
            "halt_objective": c.halt_objective, "inference_mode": c.inference_mode}


def _cache_key(loaded, bars: pd.DataFrame, *, symbol: str, interval: str, period, settings, tol: float,
               n_boot: int) -> str:
    """Keyed like the signal table (model fingerprint, symbol, interval, bars hash) plus period and options."""
    from dataclasses import asdict

    from hrm_core.trading.signals import bars_hash, model_fingerprint

    return json.dumps([DIAGNOSTICS_VERSION, model_fingerprint(loaded), symbol, interval, bars_hash(bars),
                       period.start, period.end, tol, n_boot, asdict(settings.costs), asdict(settings.risk)],
                      default=str)


PERIOD_KEYS = ("convergence_rate", "criterion", "mean_segments", "segments_histogram", "depth_volatility_corr",
               "participation_ratio_h", "participation_ratio_l", "halting_agreement", "depth_pays")


def diagnose_period(loaded, bars: pd.DataFrame, *, symbol: str, interval: str, settings, start: Any = None,
                    end: Any = None, store=None, tol: float = CONVERGENCE_TOL, n_boot: int = N_BOOT) -> dict[str, Any]:
    """All period diagnostics of one checkpoint on one instrument, JSON-safe; cached in `store` (a ResultStore).

    The period is start..end, else the checkpoint's test period (as on the Performance page).
    Pass the full bar history: features and regimes need the bars before the period. A flat
    model gets the same keys with None values, `applicable: false` and a note."""
    from hrm_core.evaluation.evaluate import evaluation_period

    period = evaluation_period(loaded, start, end)
    head = {**_model_facts(loaded), "symbol": symbol, "interval": interval,
            "period": {"start": period.start, "end": period.end, "label": period.label},
            "seed_claims": SEED_CLAIMS}
    if not _is_recurrent(loaded):
        return json_safe({**head, "applicable": False, "note": NOT_APPLICABLE, **dict.fromkeys(PERIOD_KEYS),
                       "criterion": CRITERION.format(tol=tol), "cached": False})
    key = _cache_key(loaded, bars, symbol=symbol, interval=interval, period=period, settings=settings, tol=tol,
                     n_boot=n_boot)
    hit = store.get("diagnostics", key) if store is not None else None
    if hit is not None:
        return {**hit, "cached": True}
    with single_flight(("diagnostics", key)):  # sessions asking at once: one traces, the others read its result
        hit = store.get("diagnostics", key) if store is not None else None
        if hit is not None:
            return {**hit, "cached": True}
        tr = trace_decisions(loaded, bars, symbol=symbol, interval=interval, mask=period.mask(bars.index, interval))
        payload = json_safe({**head, "applicable": True, **summarise(tr, bars, symbol=symbol, interval=interval,
                                                                  period=period, settings=settings, tol=tol,
                                                                  n_boot=n_boot, window=loaded.config.window)})
        if store is not None:
            store.put("diagnostics", key, payload)
    return {**payload, "cached": False}


# ----------------------------------------------------------------------------- one decision

def step_labels(tr: DecisionTraces) -> tuple[list[str], list[str]]:
    """Names of the L steps ("s1 c1 t1") and H updates ("s1 c1") in trace order (segment, cycle, step; 1-based)."""
    M, N, T = tr.max_segments, tr.h_cycles, tr.l_cycles
    l = [f"s{s + 1} c{c + 1} t{k + 1}" for s in range(M) for c in range(N) for k in range(T)]
    h = [f"s{s + 1} c{c + 1}" for s in range(M) for c in range(N)]
    return l, h


def decision_view(loaded, bars: pd.DataFrame, *, symbol: str, interval: str, at: Any,
                  tol: float = CONVERGENCE_TOL) -> dict[str, Any]:
    """One decision (the bar at or before `at`): residuals per L step and H update at full depth, where the
    Q-head halted, convergence as run and at full depth, and 2-D PCA trajectories of z_H and z_L."""
    from hrm_core.data.bars import bar_at_or_before

    pos = bar_at_or_before(bars.index, at)  # the same rule as hrm explain --at (a date covers its whole day)
    mask = np.zeros(len(bars), bool)
    mask[pos] = True
    tr = trace_decisions(loaded, bars, symbol=symbol, interval=interval, mask=mask)
    l_names, h_names = step_labels(tr)
    steps = int(tr.steps[0])
    h_run = tr.as_run(tr.h_res, tr.h_cycles)
    traj = {}
    for name, states, init, labels in (("h", tr.z_H[0], tr.h_init, h_names), ("l", tr.z_L[0], tr.l_init, l_names)):
        pts = states if init is None else np.vstack([init[None, :], states])
        traj[name] = {**pca_2d(pts), "labels": (["init"] if init is not None else []) + labels}
    actions = {name: build_action(tr, depth) for name, depth in (("as_run", steps), ("full_depth", tr.max_segments))}
    return json_safe({
        **_model_facts(loaded), "symbol": symbol, "interval": interval, "time": tr.times[0].isoformat(),
        "steps": steps, "halt": tr.halt[0].tolist(), "l_steps": l_names, "h_steps": h_names,
        "l_residuals": tr.l_res[0].tolist(), "h_residuals": tr.h_res[0].tolist(),
        "l_per_segment": tr.h_cycles * tr.l_cycles, "h_per_segment": tr.h_cycles,
        "converged": bool(is_converged(h_run, tol=tol)[0]),
        "converged_full_depth": bool(is_converged(tr.h_res, tol=tol)[0]),
        "criterion": CRITERION.format(tol=tol), "action": actions, "pca": traj,
    })


def build_action(tr: DecisionTraces, depth: int) -> str:
    """The action (short/flat/long) of the first decision in `tr` after `depth` segments, by the signal table's rule."""
    return str(tr.table(np.full(len(tr), depth, dtype=np.int64))["action"].iloc[0])


# ----------------------------------------------------------------------------- every checkpoint

COMPARE_KEYS = ("model", "arch", "h_cycles", "l_cycles", "max_segments", "act", "applicable", "decisions", "criterion",
                "convergence_rate", "convergence_rate_full_depth", "contraction_factor_median", "mean_segments",
                "segments_histogram", "depth_volatility_corr", "participation_ratio_h", "participation_ratio_l",
                "halting_agreement", "depth_pays", "halt_objective", "inference_mode", "cached", "note")


def compare_models(models: Sequence, bars: pd.DataFrame, *, symbol: str, interval: str, settings, start: Any = None,
                   end: Any = None, store=None, n_boot: int = N_BOOT) -> list[dict[str, Any]]:
    """The headline figures of every loaded checkpoint on the same bars and period (flat: not applicable).

    Without start/end every model uses the FIRST model's test period, so the rows compare like with like."""
    from hrm_core.evaluation.evaluate import evaluation_period

    if models and start is None and end is None:
        period = evaluation_period(models[0])
        start, end = period.start, period.end
    rows = []
    for loaded in models:
        res = diagnose_period(loaded, bars, symbol=symbol, interval=interval, settings=settings, start=start,
                              end=end, store=store, n_boot=n_boot)
        rows.append({k: res.get(k) for k in COMPARE_KEYS})
    return rows


__all__ = [
    "CONVERGENCE_TOL", "CRITERION", "DecisionTraces", "NOT_APPLICABLE", "SEED_CLAIMS", "compare_models",
    "contraction_factor", "decision_view", "depth_summary", "diagnose_period", "halting_calibration", "is_converged",
    "rank_correlation", "rate_by", "realised_volatility", "residual_band", "step_labels",
    "summarise", "trace_decisions", "trace_windows",
]
