"""H vs L over a period: module attribution of every decision, batched, cached, grouped, and the seed's claims.

    pe = explain_period(loaded, bars, symbol="^GSPC", interval="1d", settings=s)   # default: the test period
    pe.frame            # one row per decision: action, steps, h_share, regime, pnl, ...
    pe.stats()          # h_share distribution by action / regime / depth, claims measured

The seed's claims, measured with our definitions:
- "34 % strategic, 66 % tactical": the share of H-led decisions (signed h_share = A_H / (F(x) -
  F(baseline)) above 0.5 + LEAD_BAND; L-led below 0.5 - LEAD_BAND; in between "mixed"), with a
  block-bootstrap 95 % interval over decisions.
- "strategic decisions: 61 % of the performance from 34 % of decisions": the net PnL earned by
  H-led decisions, and its share of the period's net PnL when that is positive (a share of a loss
  is not a share of "performance"), each with the same bootstrap. A decision's PnL is what its
  position earns net of the cost of trading into it, from the backtest (after the risk layer in
  force) by `hrm_core.trading.backtest.decision_pnl`: under next-open execution (the default) the
  decision at close t is filled at open t+1, so it earns the intraday leg of bar t+1 and, drifted,
  the overnight gap of bar t+2, less the cost of the fill at open t+1; under market-on-close it
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

from explain.core import DEFAULT_N_STEPS, decision_dataset
from explain.locks import model_lock
from explain.features import baseline_window, check_baseline
from explain.words import DEFAULT_BASELINE
from explain.modules import LEAD_BAND, attribute_modules, is_hierarchical, lead_of, relative_delta, signed_shares
from explain.targets import check_target
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
    frame: pd.DataFrame  # index time; action, steps, position, h, l, h_share, l_share, lead, completeness_delta,
    # delta (output units), ig_steps (integration points used), regime, pnl
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

    def stats(self, n_boot: int = 2000, seed: int = 0) -> dict:
        """Lead shares and PnL of H-led decisions with block-bootstrap 95 % intervals, by action / regime /
        depth; completeness; the seed's claims beside ours."""
        f = self.frame
        lead, pnl = f["lead"].to_numpy(), f["pnl"].fillna(0.0).to_numpy()
        h_led, l_led = lead == "H-led", lead == "L-led"
        total = float(pnl.sum())
        boot = _bootstrap(h_led, l_led, pnl, n_boot, seed)

        def table(by: str) -> dict:
            return {str(k): {"decisions": int(len(v)), "h_share_median": json_safe(v["h_share"].median()),
                             "h_led_share": json_safe((v["lead"] == "H-led").mean()),
                             "l_led_share": json_safe((v["lead"] == "L-led").mean()), "pnl": json_safe(v["pnl"].sum())}
                    for k, v in f.groupby(by)}

        rel = f["completeness_delta"].abs()
        pnl_h = float(pnl[h_led].sum())
        return {
            "decisions": int(len(f)), "lead_band": LEAD_BAND,
            "h_share": {"median": json_safe(f["h_share"].median()), "p10": json_safe(f["h_share"].quantile(0.1)),
                        "p90": json_safe(f["h_share"].quantile(0.9))},
            "h_led_share": {"value": json_safe(h_led.mean()), "ci": boot["h_led_share"]},
            "l_led_share": {"value": json_safe(l_led.mean()), "ci": boot["l_led_share"]},
            "mixed_share": json_safe((lead == "mixed").mean()),
            "opposed_share": json_safe(((f["h"] * f["l"]) < 0).mean()),  # H and L pulled in opposite directions
            "pnl_total": {"value": total, "ci": boot["pnl_total"]},
            "pnl_h_led": {"value": pnl_h, "ci": boot["pnl_h_led"]},
            "pnl_l_led": {"value": float(pnl[l_led].sum()), "ci": boot["pnl_l_led"]},
            "pnl_share_h_led": ({"value": pnl_h / total, "ci": boot["pnl_share_h_led"]} if total > 0 else None),
            "pnl_note": ("the period's net PnL is not positive: H-led decisions are reported by what they earned or "
                         "lost, not as a share of 'performance'" if total <= 0 else ""),
            "by_action": table("action"), "by_regime": table("regime"), "by_steps": table("steps"),
            "completeness": {"max_abs": json_safe(rel.max()), "share_within_1pct": json_safe((rel <= 0.01).mean()),
                             "not_measurable": int(f["completeness_delta"].isna().sum())},
            "claims": {"source": CLAIMS_SOURCE, **CLAIMS},
        }

    def to_dict(self) -> dict:
        return {"model": self.model_id, "symbol": self.symbol, "interval": self.interval, "period": self.period,
                "target": self.target, "baseline": self.baseline, "n_steps": self.n_steps, "cached": self.cached,
                "elapsed_s": round(self.elapsed_s, 3), "notes": list(self.notes), **self.stats()}


def _bootstrap(h_led: np.ndarray, l_led: np.ndarray, pnl: np.ndarray, n_boot: int, seed: int) -> dict:
    """95 % intervals from one set of stationary-bootstrap decision indices (mean block n^(1/3)): neighbouring
    decisions share positions and market moves, so they are resampled in blocks."""
    from hrm_core.trading.metrics import stationary_bootstrap_indices

    n = len(pnl)
    keys = ("h_led_share", "l_led_share", "pnl_total", "pnl_h_led", "pnl_l_led", "pnl_share_h_led")
    if n < 10 or n_boot < 1:
        return {k: [None, None] for k in keys}
    idx = stationary_bootstrap_indices(n, n_boot, n ** (1 / 3), np.random.default_rng(seed))
    total, ph = pnl[idx].sum(1), (pnl * h_led)[idx].sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, ph / total, np.nan)  # replicates with a loss have no "share of performance"
    draws = {"h_led_share": h_led[idx].mean(1), "l_led_share": l_led[idx].mean(1), "pnl_total": total,
             "pnl_h_led": ph, "pnl_l_led": (pnl * l_led)[idx].sum(1), "pnl_share_h_led": share}
    out = {}
    for k in keys:
        d = draws[k][np.isfinite(draws[k])]
        out[k] = [float(np.quantile(d, 0.025)), float(np.quantile(d, 0.975))] if len(d) >= n_boot // 2 else [None, None]
    return out


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
    out = {k: np.full(n, np.nan) for k in ("h", "l", "f_input", "f_baseline", "delta", "ig_steps")}
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
                   target: str | None = None, n_steps: int = DEFAULT_N_STEPS, baseline: str = DEFAULT_BASELINE,
                   settings=None, store: ResultStore | str | Path | None = "default", batch_size: int = DEFAULT_BATCH,
                   progress: Callable[[int, int], None] | None = None) -> PeriodExplanation:
    """H vs L of every decision in [start, end] (default: the model's test period); cached in SQLite.

    store: a ResultStore, a path, None (no cache) or "default" (results.db beside the signal cache)."""
    from hrm_core.evaluation.evaluate import evaluation_period
    from hrm_core.settings import load_settings

    t0 = time.perf_counter()
    target = check_target(target, loaded.rule)
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
    hs, ls = signed_shares(attr["h"], attr["l"], attr["f_input"], attr["f_baseline"])
    frame = pd.DataFrame({
        "action": table["action"].to_numpy(), "steps": table["steps"].to_numpy(), "position": table["position"].to_numpy(),
        "h": attr["h"], "l": attr["l"], "h_share": hs, "l_share": ls, "lead": lead_of(hs),
        "completeness_delta": relative_delta(attr["delta"], attr["f_input"], attr["f_baseline"]),
        "delta": attr["delta"], "ig_steps": attr.get("ig_steps", np.full(len(table), float(n_steps))),
        "regime": regimes.reindex(table.index).to_numpy(), "pnl": pnl.reindex(table.index).to_numpy()},
        index=table.index)
    return PeriodExplanation(frame=frame, model_id=model_id, symbol=symbol, interval=interval,
                             period={"label": period.label, "start": period.start, "end": period.end},
                             target=target, baseline=baseline, n_steps=int(n_steps), cached=cached,
                             elapsed_s=time.perf_counter() - t0, notes=tuple(notes))
