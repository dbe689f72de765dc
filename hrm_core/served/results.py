"""Each page's expensive result, stored in results.db so a restart, a second session or a second server does not
compute it again (issue 22: "keep results keyed by model fingerprint and data hash").

Keys are the checkpoint file's digest (weights and card: `checkpoint_digest`, no torch needed), the bars' hash,
the settings, the arguments and the code's fingerprint (`object_key`). A hit therefore needs neither torch nor
the model: a page whose results are stored paints from SQLite. A miss computes through `load` (the dashboard
passes its shared model cache) under single flight, so 4 sessions asking at once compute once.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pandas as pd

from hrm_core.model.cards import checkpoint_digest, list_checkpoints
from hrm_core.settings import Settings
from hrm_core.storage.results import ResultStore, files_digest, remember, results_db_path
from hrm_core.trading.signals import bars_hash, signals_db_path

Loader = Callable[[str], Any]  # checkpoint path -> LoadedModel


def _load(path: str):
    from hrm_core.model.checkpoint import load_checkpoint

    return load_checkpoint(path)


def store_of(settings: Settings) -> ResultStore:
    return ResultStore(results_db_path(settings))


def _settings_parts(settings: Settings) -> dict:
    """The settings a backtest reads (costs and risk rules); file locations are not part of the key, their
    contents are (checkpoint digests, the registry's digest, the bars' hash), so a copied store still hits."""
    return {"costs": dataclasses.asdict(settings.costs), "risk": dataclasses.asdict(settings.risk)}


def signals(settings: Settings, model_path: str, bars: pd.DataFrame, *, symbol: str, interval: str,
            load: Loader = _load):
    """hrm_core.trading.signals.generate_signals over the full history, stored whole (table and notes)."""
    from hrm_core.trading.signals import generate_signals

    parts = {"model": checkpoint_digest(model_path), "symbol": symbol, "interval": interval, "bars": bars_hash(bars)}
    value, stored = remember(store_of(settings), "signals", parts, lambda: generate_signals(
        load(model_path), bars, symbol=symbol, interval=interval, cache=signals_db_path(settings)))
    return dataclasses.replace(value, cached=True) if stored else value


def full_depth(settings: Settings, model_path: str, bars: pd.DataFrame, times: tuple, *, symbol: str,
               interval: str, load: Loader = _load):
    """hrm_core.trading.signals.full_depth_actions at `times` (the Signals table's rows; None, stored as such,
    when depth cannot change a decision)."""
    from hrm_core.trading.signals import full_depth_actions

    parts = {"model": checkpoint_digest(model_path), "symbol": symbol, "interval": interval, "bars": bars_hash(bars),
             "times": sorted(pd.Timestamp(t).isoformat() for t in times)}  # the page lists them newest first
    return remember(store_of(settings), "full-depth", parts, lambda: {"actions": full_depth_actions(
        load(model_path), bars, pd.DatetimeIndex(times), symbol=symbol, interval=interval)})[0]["actions"]


def _performance_parts(settings: Settings, model_path: str | None, bars: pd.DataFrame, *, symbol: str,
                       interval: str, start, end, ablations: bool, source: str) -> dict:
    """Everything the backtest reads: every checkpoint in models/ (ablations and the DSR's trials), the trial
    registry, the settings (costs, risk), the bars and the period."""
    others = [(c.name, checkpoint_digest(c.path)) for c in list_checkpoints(settings.data.path("models_dir"))]
    return {"model": checkpoint_digest(model_path) if model_path else None, "checkpoints": others,
            "registry": files_digest(settings.data.path("trials_file")), "settings": _settings_parts(settings),
            "symbol": symbol, "interval": interval, "bars": bars_hash(bars), "start": start, "end": end,
            "ablations": ablations, "source": source}


def performance(settings: Settings, model_path: str | None, bars: pd.DataFrame, *, symbol: str, interval: str,
                start=None, end=None, ablations: bool = False, source: str = "", load: Loader = _load):
    """The Performance page's InstrumentEvaluation: the model, the ablations when asked (else still run as the
    DSR's trials, not shown), the logistic regression and the rule baselines, with bootstrap intervals."""
    parts = _performance_parts(settings, model_path, bars, symbol=symbol, interval=interval, start=start, end=end,
                               ablations=ablations, source=source)
    return remember(store_of(settings), "performance", parts, lambda: _evaluate(
        settings, model_path, bars, symbol=symbol, interval=interval, start=start, end=end, ablations=ablations,
        source=source, load=load))[0]


def _evaluate(settings: Settings, model_path: str | None, bars: pd.DataFrame, *, symbol: str, interval: str,
              start, end, ablations: bool, source: str, load: Loader):
    from hrm_core.evaluation.baselines import MODEL_BASELINES
    from hrm_core.evaluation.evaluate import evaluate_instrument, evaluation_period

    models, hidden = [], []
    if model_path:
        models.append((load(model_path), "model"))
        for card in list_checkpoints(settings.data.path("models_dir")):
            if card.name in MODEL_BASELINES and card.path != model_path:
                if ablations:
                    models.append((load(card.path), "model baseline"))
                else:
                    hidden.append(load(card.path))  # still run as trials (DSR's N and V), only not displayed
    period = evaluation_period(models[0][0] if models else None, start, end)
    return evaluate_instrument(bars, symbol=symbol, interval=interval, settings=settings, models=models,
                               period=period, source=source, cache=signals_db_path(settings), trial_models=hidden)


def performance_at_equal_risk(settings: Settings, model_path: str | None, bars: pd.DataFrame, *, symbol: str,
                              interval: str, start=None, end=None, ablations: bool = False, source: str = "",
                              load: Loader = _load):
    """`performance(...)` with every strategy scaled to the same ex-ante volatility (evaluation.equal_risk)."""
    from hrm_core.evaluation.equal_risk import at_equal_risk

    parts = _performance_parts(settings, model_path, bars, symbol=symbol, interval=interval, start=start, end=end,
                               ablations=ablations, source=source)
    return remember(store_of(settings), "performance-equal-risk", parts, lambda: at_equal_risk(performance(
        settings, model_path, bars, symbol=symbol, interval=interval, start=start, end=end, ablations=ablations,
        source=source, load=load), settings))[0]


def performance_verdict(settings: Settings, model_path: str | None, bars: pd.DataFrame, *, symbol: str,
                        interval: str, start=None, end=None, ablations: bool = False, source: str = "",
                        equal_risk: bool = True, load: Loader = _load) -> str | None:
    """The Performance page's one-sentence verdict (evaluation.verdict: paired bootstrap intervals) on the
    strategies as traded or at equal risk."""
    from hrm_core.evaluation.verdict import performance_verdict as verdict

    parts = _performance_parts(settings, model_path, bars, symbol=symbol, interval=interval, start=start, end=end,
                               ablations=ablations, source=source)
    shown_as, run = (("equal risk", performance_at_equal_risk) if equal_risk else ("as traded", performance))

    def compute():
        inst = run(settings, model_path, bars, symbol=symbol, interval=interval, start=start, end=end,
                   ablations=ablations, source=source, load=load)
        return {"sentence": verdict(inst, shown=describe_shown(equal_risk))}

    return remember(store_of(settings), f"performance-verdict-{shown_as}", parts, compute)[0]["sentence"]


def performance_tables(settings: Settings, model_path: str | None, bars: pd.DataFrame, *, symbol: str,
                       interval: str, start=None, end=None, ablations: bool = False, source: str = "",
                       load: Loader = _load) -> dict:
    """The Performance page's tables as traded: the first strategy by regime against buy & hold, every strategy's
    Sharpe per regime, and the risk rules' effects on the first strategy under the settings' rules."""
    from hrm_core.evaluation.evaluate import risk_effects

    parts = _performance_parts(settings, model_path, bars, symbol=symbol, interval=interval, start=start, end=end,
                               ablations=ablations, source=source)

    def compute():
        inst = performance(settings, model_path, bars, symbol=symbol, interval=interval, start=start, end=end,
                           ablations=ablations, source=source, load=load)
        return {"regimes": inst.regime_table(), "regime_sharpes": inst.regime_sharpes(),
                "risk_effects": risk_effects(inst.runs[0], settings)}

    return remember(store_of(settings), "performance-tables", parts, compute)[0]


def describe_shown(equal_risk: bool) -> str:
    """How the Performance page names what it shows: 'equal risk (10% vol)' or 'as traded'."""
    from hrm_core.evaluation.equal_risk import TARGET_VOL

    return f"equal risk ({TARGET_VOL:.0%} vol)" if equal_risk else "as traded"


def diagnostics(settings: Settings, model_path: str, bars: pd.DataFrame, *, symbol: str, interval: str,
                start: Any = None, end: Any = None, load: Loader = _load) -> dict:
    """hrm_core.reasoning.diagnostics.diagnose_period (which keeps its own store, keyed by the loaded model's
    fingerprint: a hit there still loads the model); stored here by the file's digest, so a hit needs no torch."""
    def compute():
        from hrm_core.reasoning.diagnostics import diagnose_period

        return diagnose_period(load(model_path), bars, symbol=symbol, interval=interval, settings=settings,
                               start=start, end=end, store=store_of(settings))

    parts = {"model": checkpoint_digest(model_path), "symbol": symbol, "interval": interval, "bars": bars_hash(bars),
             "start": None if start is None else str(start), "end": None if end is None else str(end),
             **_settings_parts(settings)}
    value, stored = remember(store_of(settings), "period-diagnostics", parts, compute)
    return {**value, "cached": True} if stored else value


def explanation(settings: Settings, model_path: str, bars: pd.DataFrame, at: str, *, symbol: str, interval: str,
                target: str, baseline: str, load: Loader = _load):
    """explain.explain_decision of the decision at `at` (the Explain page opens on the newest)."""
    def compute():
        from explain import explain_decision  # torch and Captum: only when the store does not hold it

        return explain_decision(load(model_path), bars, at, symbol=symbol, interval=interval, target=target,
                                baseline=baseline)

    parts = {"model": checkpoint_digest(model_path), "symbol": symbol, "interval": interval, "bars": bars_hash(bars),
             "at": pd.Timestamp(at).isoformat(), "target": target, "baseline": baseline}
    return remember(store_of(settings), "explanation", parts, compute)[0]


__all__ = ["describe_shown", "diagnostics", "explanation", "full_depth", "performance", "performance_at_equal_risk",
           "performance_tables", "performance_verdict", "signals", "store_of"]
