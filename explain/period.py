"""H vs L over a period: module attribution of every decision, batched, cached, grouped, and the seed's claims.

    pe = explain_period(loaded, bars, symbol="^GSPC", interval="1d", settings=s)   # default: the test period
    pe.frame            # one row per decision: action, steps, h_share, regime, pnl, ...
    pe.stats()          # h_share distribution by action / regime / depth, claims measured

The seed's claims, measured with our definitions:
- "34 % strategic, 66 % tactical": the share of decisions with h_share > 0.5 ("H-dominant").
- "strategic decisions: 61 % of the performance from 34 % of decisions": the share of the
  period's net PnL earned by H-dominant decisions. A decision's PnL is what its position
  earns net of the cost of trading into it, from the backtest (after the risk layer in force)
  by `hrm_core.trading.backtest.decision_pnl`: under next-open execution (the default) the decision
  at close t is filled at open t+1, so it earns the intraday leg of bar t+1 and, drifted, the
  overnight gap of bar t+2, less the cost of the fill at open t+1; under market-on-close it
  earns gross[t+1] less cost[t]. Either way the decisions' PnL sums to the period's.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from explain.core import DEFAULT_N_STEPS, decision_dataset, model_lock
from explain.features import DEFAULT_BASELINE, baseline_window, check_baseline
from explain.modules import attribute_modules, is_hierarchical, relative_delta, shares
from explain.targets import DEFAULT_TARGET, check_target
from hrm_core.errors import ModelError
from hrm_core.jsonsafe import json_safe
from hrm_core.data.features import DIRECTION_CLASSES
from hrm_core.trading.signals import bars_hash, generate_signals, model_fingerprint, signals_db_path
from hrm_core.storage.results import ResultStore, results_db_path

CLAIMS = {"strategic share of decisions": 0.34, "tactical share of decisions": 0.66,
          "share of performance from strategic decisions": 0.61}
CLAIMS_SOURCE = "seed/hrm-trading-research-index.md (unverified claims, definitions unstated)"
KIND = "explain_period"
DEFAULT_BATCH = 24  # decisions per Captum call: x n_steps rows per forward, sized for CPU caches


@dataclass(frozen=True)
class PeriodExplanation:
    frame: pd.DataFrame  # index time; action, steps, position, h, l, h_share, l_share, completeness_delta, regime, pnl
    model_id: str
    symbol: str
    interval: str
    period: dict  # label, start, end
    target: str
    baseline: str
    n_steps: int
    cached: bool
    elapsed_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    def stats(self) -> dict:
        """h_share distribution by action, regime and depth; completeness; the seed's claims beside ours."""
        f = self.frame
        dom = f["h_share"] > 0.5
        total = float(f["pnl"].sum())
        pnl_h = float(f.loc[dom, "pnl"].sum())

        def table(by: str) -> dict:
            g = f.groupby(by)
            return {str(k): {"decisions": int(len(v)), "h_share_mean": json_safe(v["h_share"].mean()),
                             "h_share_median": json_safe(v["h_share"].median()),
                             "h_dominant_share": json_safe((v["h_share"] > 0.5).mean()),
                             "pnl": json_safe(v["pnl"].sum())}
                    for k, v in g}

        rel = f["completeness_delta"].abs()
        return {
            "decisions": int(len(f)),
            "h_share": {"mean": json_safe(f["h_share"].mean()), "median": json_safe(f["h_share"].median()),
                        "p10": json_safe(f["h_share"].quantile(0.1)), "p90": json_safe(f["h_share"].quantile(0.9))},
            "h_dominant_share": json_safe(dom.mean()), "l_dominant_share": json_safe(1 - dom.mean()),
            "pnl_total": total, "pnl_h_dominant": pnl_h, "pnl_l_dominant": total - pnl_h,
            "pnl_share_h_dominant": json_safe(pnl_h / total) if abs(total) > 1e-12 else None,
            "pnl_note": ("the period's net PnL is negative: a share of it is not a share of 'performance'"
                         if total < 0 else ""),
            "by_action": table("action"), "by_regime": table("regime"), "by_steps": table("steps"),
            "completeness": {"max_abs": json_safe(rel.max()), "share_within_1pct": json_safe((rel <= 0.01).mean()),
                             "not_measurable": int(f["completeness_delta"].isna().sum())},
            "claims": {"source": CLAIMS_SOURCE, **CLAIMS},
        }

    def to_dict(self) -> dict:
        return {"model": self.model_id, "symbol": self.symbol, "interval": self.interval, "period": self.period,
                "target": self.target, "baseline": self.baseline, "n_steps": self.n_steps, "cached": self.cached,
                "elapsed_s": round(self.elapsed_s, 3), "notes": list(self.notes), **self.stats()}


def _decision_pnl(sig, bars: pd.DataFrame, *, symbol: str, interval: str, period, settings) -> tuple[pd.Series, pd.Series]:
    """(net PnL earned by each decision of the period, its regime) through the evaluation's own backtest."""
    from hrm_core.evaluation.evaluate import backtest_target
    from hrm_core.evaluation.regimes import classify_regimes

    run = backtest_target(sig.position, bars, name="model", kind="model", symbol=symbol, interval=interval,
                          period=period, settings=settings, signals=sig, n_boot=50)
    from hrm_core.trading.backtest import decision_pnl

    fr = run.backtest.frame
    pnl = decision_pnl(run.backtest, run.close, run.open_price)  # its legs, less the trade into it
    regimes = classify_regimes(bars["close"], periods_per_year=run.periods_per_year).reindex(fr.index)
    return pnl, regimes


def _attribute(loaded, ds, rows: np.ndarray, actions: np.ndarray, steps: np.ndarray, *, symbol: str, interval: str,
               target: str, baseline: str, n_steps: int, batch: int,
               progress: Callable[[int, int], None] | None) -> dict[str, np.ndarray]:
    """Module attribution of many decisions, grouped by segment count and chunked into batches."""
    model = loaded.model
    n = len(rows)
    out = {k: np.full(n, np.nan) for k in ("h", "l", "f_input", "f_baseline", "delta")}
    iid_all = int(loaded.instrument_ids([symbol])[0])
    tid_all = loaded.timeframe_id(interval)
    done = 0
    with model_lock(model):
        for k in np.unique(steps):
            idx = np.flatnonzero(steps == k)
            for lo in range(0, len(idx), batch):
                part = idx[lo: lo + batch]
                r = rows[part]
                x = torch.from_numpy(np.ascontiguousarray(ds.X[r]))
                base = torch.from_numpy(np.stack([baseline_window(baseline, ds.X, int(i)) for i in r]))
                b = len(part)
                res = attribute_modules(model, x, torch.full((b,), iid_all, dtype=torch.long),
                                        torch.full((b,), tid_all, dtype=torch.long),
                                        torch.from_numpy(actions[part]).long(), segments=int(k), target=target,
                                        baseline_x=base, n_steps=n_steps, rule=loaded.rule)
                for key, v in res.items():
                    out[key][part] = v
                done += b
                if progress:
                    progress(done, n)
    return out


def explain_period(loaded, bars: pd.DataFrame, *, symbol: str, interval: str, start: Any = None, end: Any = None,
                   target: str = DEFAULT_TARGET, n_steps: int = DEFAULT_N_STEPS, baseline: str = DEFAULT_BASELINE,
                   settings=None, store: ResultStore | str | Path | None = "default", batch_size: int = DEFAULT_BATCH,
                   progress: Callable[[int, int], None] | None = None) -> PeriodExplanation:
    """H vs L of every decision in [start, end] (default: the model's test period); cached in SQLite.

    store: a ResultStore, a path, None (no cache) or "default" (results.db beside the signal cache)."""
    from hrm_core.evaluation.evaluate import evaluation_period
    from hrm_core.settings import load_settings

    t0 = time.perf_counter()
    check_target(target)
    check_baseline(baseline)
    if not is_hierarchical(loaded.model):
        raise ModelError(f"{loaded.name} is a flat transformer: it has no H and L modules, so the period's H/L "
                         "split does not apply (feature attribution per decision still works)")
    settings = settings or load_settings()
    period = evaluation_period(loaded, start, end)
    model_id, data_hash = model_fingerprint(loaded), bars_hash(bars)
    if isinstance(store, str) and store == "default":
        store = ResultStore(results_db_path(settings))
    elif isinstance(store, (str, Path)):
        store = ResultStore(store)
    key = json.dumps([model_id, symbol, interval, data_hash, target, baseline, int(n_steps), period.start, period.end])
    sig = generate_signals(loaded, bars, symbol=symbol, interval=interval, cache=signals_db_path(settings))
    pnl, regimes = _decision_pnl(sig, bars, symbol=symbol, interval=interval, period=period, settings=settings)
    table = sig.table.loc[pnl.index]
    ok = table["status"] == "ok"
    notes = [f"{int((~ok).sum())} bar(s) of the period without a decision (warm-up or non-finite) left out"] if (~ok).any() else []
    table = table[ok]

    payload = store.get(KIND, key) if store is not None else None
    cached = payload is not None
    if cached:
        attr = {k: np.asarray(v, dtype=float) for k, v in payload.items()}
    else:
        ds = decision_dataset(loaded, bars, symbol=symbol, interval=interval)
        rows = ds.times.get_indexer(table.index)
        actions = np.array([DIRECTION_CLASSES.index(a) for a in table["action"]], dtype=np.int64)
        attr = _attribute(loaded, ds, rows, actions, table["steps"].to_numpy(), symbol=symbol, interval=interval,
                          target=target, baseline=baseline, n_steps=int(n_steps), batch=batch_size,
                          progress=progress)
        if store is not None:
            store.put(KIND, key, {k: [None if not math.isfinite(x) else float(x) for x in v] for k, v in attr.items()})
    if store is not None and store.warning:
        notes.append(store.warning)
    hs, ls = shares(attr["h"], attr["l"])
    frame = pd.DataFrame({
        "action": table["action"].to_numpy(), "steps": table["steps"].to_numpy(), "position": table["position"].to_numpy(),
        "h": attr["h"], "l": attr["l"], "h_share": hs, "l_share": ls,
        "completeness_delta": relative_delta(attr["delta"], attr["f_input"], attr["f_baseline"]),
        "regime": regimes.reindex(table.index).to_numpy(), "pnl": pnl.reindex(table.index).to_numpy()},
        index=table.index)
    return PeriodExplanation(frame=frame, model_id=model_id, symbol=symbol, interval=interval,
                             period={"label": period.label, "start": period.start, "end": period.end},
                             target=target, baseline=baseline, n_steps=int(n_steps), cached=cached,
                             elapsed_s=time.perf_counter() - t0, notes=tuple(notes))
