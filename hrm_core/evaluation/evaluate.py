"""Every model and baseline through the same risk layer, backtest, costs and statistics.

The evaluation protocol (DESIGN "Evaluation protocol"):

- **Period.** Each checkpoint stores its train / validation / test periods; the report
  evaluates the primary model's TEST period (bars wholly inside it, `train.in_period`).
  Signals and rule positions are computed on the full history and then sliced, so every
  indicator is warm on the first test bar and every row reads bars <= its own time only.
- **Same footing.** target position -> `apply_risk` (settings.risk, costs charged inside
  the drawdown brake) -> `run_backtest` (commission + slippage per unit of turnover at
  the fill; a position decided at close t is filled at the open of bar t+1 by default, or at
  that close with `[costs] execution = "close"`) -> `backtest_metrics` + `metrics_with_ci`
  (stationary bootstrap). The risk layer starts fresh at the first evaluated bar.
- **Deflation.** DSR uses N from the trial registry (`hrm_core.evaluation.trials`, docs/trials.json:
  every strategy tried on the period), or, if more, every (model, instrument) backtest
  evaluated here plus `extra_trials`; so the page, `hrm backtest` and the report give the
  same N, and the same DSR, for the same period. V (REFERENCE) is the variance (ddof = 1) of
  the per-period Sharpe ratios of the trial strategies actually run on that instrument and
  period: every checkpoint in models/ that the registry lists for the period, plus the
  logistic regression (`trial_strategies`; a period the registry does not cover: every
  model run evaluated). A trial that never held a position counts with Sharpe 0. Every face runs that same set, whether it displays it or not (the
  page hides ablations, `hrm backtest` shows one model: the rest run as `trial_models`), so
  page, CLI and report agree. Only with fewer than 2 trial Sharpes does V fall back to the
  run's own squared Sharpe standard error; `InstrumentEvaluation.dsr_variance` says which V
  was used. Rule baselines are references, not trials.

Also here, because the Performance page and the report share them: monthly returns, a
rolling Sharpe, and cost sensitivity with the break-even cost. `hrm_core.evaluation.report` writes
docs/results.md and its JSON twin from an `Evaluation`.
"""
from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hrm_core.trading import metrics as _m
from hrm_core.trading.backtest import BacktestResult, run_backtest
from hrm_core.evaluation.baselines import MODEL_BASELINES, rule_baselines
from hrm_core.data.quality import missing_opens
from hrm_core.errors import EmptyDataError
from hrm_core.trading.metrics import METRIC_DEFINITIONS, backtest_metrics, metrics_with_ci, periods_per_year_of
from hrm_core.evaluation.regimes import classify_regimes, metrics_by_regime
from hrm_core.trading.risk import RiskResult, apply_risk, risk_rule_effects
from hrm_core.settings import CostSettings, Settings
from hrm_core.trading.signals import SignalResult

CI_LEVEL = 95
N_BOOT = 2000
BOOT_SEED = 0
KINDS = ("model", "model baseline", "rule baseline")

# Columns of the per-instrument table (report and page), in order.
TABLE_KEYS = (
    "Sharpe", f"Sharpe CI {CI_LEVEL}% low", f"Sharpe CI {CI_LEVEL}% high",
    "Annual return [%]", f"Annual return CI {CI_LEVEL}% low [%]", f"Annual return CI {CI_LEVEL}% high [%]",
    "Annual volatility [%]", "Sortino", "Calmar", "Max drawdown [%]", "Win rate per trade [%]",
    "Win rate per period [%]", "Profit factor", "Exposure [%]", "Turnover (two-way, annual)", "Trades",
    "Information ratio", "PSR (SR*=0)", "DSR", "Trials (N)",
)
CI_DEFINITIONS = {
    f"Sharpe CI {CI_LEVEL}% low": "Lower end of the stationary-bootstrap percentile interval of the Sharpe ratio.",
    f"Sharpe CI {CI_LEVEL}% high": "Upper end of the stationary-bootstrap percentile interval of the Sharpe ratio.",
    f"Annual return CI {CI_LEVEL}% low [%]": "Lower end of the bootstrap interval of the annual return (CAGR).",
    f"Annual return CI {CI_LEVEL}% high [%]": "Upper end of the bootstrap interval of the annual return (CAGR).",
}
DEFINITIONS = {**METRIC_DEFINITIONS, **CI_DEFINITIONS}


# ----------------------------------------------------------------------------- periods

@dataclass(frozen=True)
class Period:
    start: str | None  # inclusive dates as written in the checkpoint / by the user; None = open
    end: str | None
    label: str  # "test period of hrm-default", "custom", "all bars"

    def mask(self, index: pd.DatetimeIndex, interval: str) -> np.ndarray:
        """Bars wholly inside [start, end] (the rule training used for its own splits)."""
        from hrm_core.data.bars import in_period

        return in_period(index, interval, self.start, self.end)


def close_fill_notes(runs: list[StrategyRun], bars_full: pd.DataFrame, settings: Settings) -> list[str]:
    """Under next-open execution, fills on bars whose open the data lacks (hrm_core.data.quality) were really at
    the previous close: say how many, per strategy."""
    if settings.costs.execution != "next_open":
        return []
    missing = pd.Series(missing_opens(bars_full), index=bars_full.index)
    out = []
    for r in runs:
        frame = r.backtest.frame
        fills = frame["turnover"].to_numpy() > 0
        at_missing = fills & missing.reindex(frame.index, fill_value=False).to_numpy()
        if at_missing.any():
            out.append(f"{r.name}: {at_missing.sum()} of {fills.sum()} next-open fills fell on bars whose open the "
                       "data lacks (open = previous close): they are close fills")
    return out


def evaluation_period(loaded=None, start: Any = None, end: Any = None) -> Period:
    """start/end if given; else the checkpoint's test period; else every bar."""
    if start is not None or end is not None:
        return Period(_date(start), _date(end), "custom")
    test = (getattr(loaded, "periods", None) or {}).get("test") if loaded is not None else None
    if test:
        return Period(str(test[0]), str(test[1]), f"test period of {loaded.name}")
    return Period(None, None, "all bars")


def _date(v: Any) -> str | None:
    if v is None or (isinstance(v, str) and not v.strip()):
        return None
    return str(pd.Timestamp(v).date())


def in_sample_overlap(loaded, first: pd.Timestamp, last: pd.Timestamp) -> bool:
    """True if [first, last] touches the checkpoint's train or validation period (not out-of-sample)."""
    periods = getattr(loaded, "periods", None) or {}
    for key in ("train", "validation"):
        p = periods.get(key)
        if p and first < pd.Timestamp(p[1], tz="UTC") + pd.Timedelta(days=1) and last >= pd.Timestamp(p[0], tz="UTC"):
            return True
    return False


# ----------------------------------------------------------------------------- one strategy

@dataclass(frozen=True)
class StrategyRun:
    name: str
    kind: str  # one of KINDS
    description: str
    symbol: str
    interval: str
    target: pd.Series  # raw target position over the evaluated bars (before the risk layer)
    close: pd.Series  # closes of the evaluated bars
    periods_per_year: float  # annualisation of this instrument and interval (metrics.periods_per_year_of)
    history: pd.Series  # closes just before them: warm-up of the risk layer's volatility estimate
    risk: RiskResult
    backtest: BacktestResult
    metrics: dict[str, float]
    signals: SignalResult | None = None  # model runs: the full-history signal table
    open_price: pd.Series | None = None  # opens of the evaluated bars (next-open fills)
    skill: dict | None = None  # model runs: log-loss / accuracy vs the constant predictor (hrm_core.training.skill)

    @property
    def net_returns(self) -> pd.Series:
        return self.backtest.net_returns


def backtest_target(
    target_full: pd.Series,
    bars_full: pd.DataFrame,
    *,
    name: str,
    kind: str,
    symbol: str,
    interval: str,
    period: Period,
    settings: Settings,
    costs: CostSettings | None = None,
    description: str = "",
    signals: SignalResult | None = None,
    n_boot: int = N_BOOT,
    seed: int = BOOT_SEED,
) -> StrategyRun:
    """Slice a full-history target position to the period, then risk layer -> backtest -> metrics (+ CIs)."""
    costs = costs or settings.costs
    mask = period.mask(bars_full.index, interval)
    if not mask.any():
        have = f"{bars_full.index[0]:%Y-%m-%d} .. {bars_full.index[-1]:%Y-%m-%d}" if len(bars_full) else "no bars"
        raise EmptyDataError(f"{symbol} {interval}: no bars in the {period.label} "
                             f"({period.start or '...'} .. {period.end or '...'}); the data covers {have}. "
                             "Pass --start/--end (or pick dates in the sidebar) inside the data")
    close = bars_full["close"][mask]
    first = int(np.flatnonzero(mask)[0])
    history = bars_full["close"].iloc[max(0, first - settings.risk.vol_lookback - 1):first]
    opens = bars_full["open"][mask]
    target = target_full[mask].astype(float)
    P = periods_per_year_of(bars_full.index, interval)
    risk = apply_risk(target, close, settings.risk, periods_per_year=P, costs_bps=costs.total_bps, history=history,
                      execution=costs.execution, open_price=opens)
    bt = run_backtest(risk.final.clip(-1.0, 1.0), close, commission_bps=costs.commission_bps,
                      slippage_bps=costs.slippage_bps, execution=costs.execution, open_price=opens)
    m = backtest_metrics(bt, periods_per_year=P)
    m.update(metrics_with_ci(bt.net_returns, periods_per_year=P, n_boot=n_boot, seed=seed,
                             alpha=1 - CI_LEVEL / 100))
    return StrategyRun(name=name, kind=kind, description=description, symbol=symbol, interval=interval,
                       target=target, close=close, periods_per_year=P, history=history, risk=risk, backtest=bt,
                       metrics=m, signals=signals, open_price=opens)


def model_run(loaded, bars_full: pd.DataFrame, *, symbol: str, interval: str, period: Period, settings: Settings,
              kind: str = "model", costs: CostSettings | None = None, cache=None, n_boot: int = N_BOOT,
              skill: bool = True) -> StrategyRun:
    """A checkpoint's signals (full history, SQLite-cached) through backtest_target (and its skill
    against the constant predictor unless `skill=False`)."""
    from hrm_core.trading.signals import generate_signals, signals_db_path

    sig = generate_signals(loaded, bars_full, symbol=symbol, interval=interval,
                           cache=signals_db_path(settings) if cache is None else cache)
    desc = MODEL_BASELINES.get(loaded.name, f"{loaded.config.arch} model {loaded.name}")
    run = backtest_target(sig.position, bars_full, name=loaded.name, kind=kind, symbol=symbol, interval=interval,
                          period=period, settings=settings, costs=costs, description=desc, signals=sig,
                          n_boot=n_boot)
    if not skill:
        return run
    probs = sig.table[["p_short", "p_flat", "p_long"]].reindex(bars_full.index).to_numpy(dtype=float)
    return replace(run, skill=_period_skill(loaded, bars_full, probs, interval=interval, period=period,
                                            n_boot=n_boot))


def _period_skill(loaded, bars_full: pd.DataFrame, probs: np.ndarray, *, interval: str, period: Period,
                  n_boot: int) -> dict:
    """hrm_core.training.skill.period_skill on (n_bars, 3) short/flat/long probabilities aligned with `bars_full`
    (a signal table's, or the logistic regression's), or why it could not be computed."""
    from hrm_core.training.skill import period_skill

    try:
        return period_skill(loaded, bars_full, probs, interval=interval, start=period.start, end=period.end,
                            n_boot=max(n_boot, 200))
    except (ValueError, KeyError) as exc:
        return {"unavailable": str(exc)}


LOGISTIC = "logistic regression"


def logistic_run(loaded, bars_full: pd.DataFrame, *, symbol: str, interval: str, period: Period, settings: Settings,
                 costs: CostSettings | None = None, n_boot: int = N_BOOT) -> StrategyRun:
    """The simple learner (hrm_core.training.logistic) on the checkpoint's features, labels and periods, through backtest_target."""
    from hrm_core.training.logistic import fit_logistic, logistic_positions

    fit = fit_logistic(bars_full, interval=interval, loaded=loaded)
    v = fit.validation
    desc = (f"L2 logistic regression on {loaded.name}'s features and labels, fitted on its training period; "
            f"C = {fit.C:g} chosen on validation (log-loss {v['logloss']:.4f} vs {v['logloss_constant']:.4f} for "
            f"the constant class-frequency predictor); position p_long - p_short")
    run = backtest_target(logistic_positions(bars_full, fit), bars_full, name=LOGISTIC, kind="model baseline",
                          symbol=symbol, interval=interval, period=period, settings=settings, costs=costs,
                          description=desc, n_boot=n_boot)
    run.metrics.update({f"Validation {k}": float(x) for k, x in v.items()})
    # skill against the constant predictor, from its fitted probabilities, exactly as for the checkpoints
    return replace(run, skill=_period_skill(loaded, bars_full, fit.proba(bars_full), interval=interval,
                                            period=period, n_boot=n_boot))


# ----------------------------------------------------------------------------- one instrument

@dataclass(frozen=True)
class InstrumentEvaluation:
    symbol: str
    interval: str
    period: Period
    source: str  # data badge: "offline sample", "file: x.csv", ...
    runs: list[StrategyRun]
    regimes: pd.Series  # regime label per evaluated bar (classified on the full history, causal)
    periods_per_year: float
    notes: tuple[str, ...] = ()
    trials_source: str = ""  # where the DSR's N came from (see trial_count)
    trial_sharpes: dict = field(default_factory=dict)  # trial strategy -> per-period Sharpe (the DSR's V)
    dsr_variance: dict = field(default_factory=dict)  # V used by the DSR: {"V", "method", "trials"} (set by deflate)

    @property
    def first(self) -> pd.Timestamp:
        return self.runs[0].backtest.frame.index[0]

    @property
    def last(self) -> pd.Timestamp:
        return self.runs[0].backtest.frame.index[-1]

    @property
    def n_bars(self) -> int:
        return len(self.runs[0].backtest.frame)

    def run(self, name: str) -> StrategyRun:
        for r in self.runs:
            if r.name == name:
                return r
        raise KeyError(f"no strategy {name!r}; have {[r.name for r in self.runs]}")

    def metrics_table(self, keys: Sequence[str] = TABLE_KEYS) -> pd.DataFrame:
        """Rows: strategies (in run order); columns: `keys`."""
        rows = {r.name: {k: r.metrics.get(k, math.nan) for k in keys} for r in self.runs}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.insert(0, "kind", [r.kind for r in self.runs])
        table.index.name = "strategy"
        return table

    def equity(self) -> pd.DataFrame:
        return pd.DataFrame({r.name: r.backtest.equity for r in self.runs})

    def drawdown(self) -> pd.DataFrame:
        return pd.DataFrame({r.name: r.backtest.frame["drawdown"] for r in self.runs})

    def regime_table(self, name: str | None = None) -> pd.DataFrame:
        """metrics_by_regime of one strategy (default: the first) against buy & hold of the asset."""
        r = self.run(name) if name else self.runs[0]
        f = r.backtest.frame
        return metrics_by_regime(f["net_return"], self.regimes, periods_per_year=self.periods_per_year,
                                 benchmark=f["asset_return"])

    def regime_sharpes(self) -> pd.DataFrame:
        """Sharpe per regime (rows) for every strategy (columns)."""
        cols = {r.name: metrics_by_regime(r.net_returns, self.regimes, periods_per_year=self.periods_per_year)["Sharpe"]
                for r in self.runs}
        return pd.DataFrame(cols)


def evaluate_instrument(
    bars_full: pd.DataFrame,
    *,
    symbol: str,
    interval: str,
    settings: Settings,
    models: Sequence[tuple[Any, str]] = (),
    period: Period | None = None,
    source: str = "",
    costs: CostSettings | None = None,
    rules: bool = True,
    cache=None,
    n_boot: int = N_BOOT,
    progress: Callable[[str], None] | None = None,
    extra_trials: int = 0,
    simple_learner: bool = True,
    trial_models: Sequence[Any] = (),
) -> InstrumentEvaluation:
    """Models (pairs of LoadedModel and kind), the logistic regression fitted on the primary model's
    training period (`simple_learner`), then the rule baselines, on one instrument and period.

    DSR: N from the trial registry for this period, or the model runs here (and `trial_models`)
    plus `extra_trials` if more (`trial_count`); V from the per-period Sharpe ratios of the trial
    strategies (`trial_strategies`). `trial_models`: further checkpoints run on the same footing
    only for V (their runs are not returned), so a face that shows fewer strategies deflates
    like one that shows them all."""
    period = period or evaluation_period(models[0][0] if models else None)
    runs: list[StrategyRun] = []
    for loaded, kind in models:
        if progress:
            progress(f"{loaded.name} on {symbol} {interval}")
        runs.append(model_run(loaded, bars_full, symbol=symbol, interval=interval, period=period, settings=settings,
                              kind=kind, costs=costs, cache=cache, n_boot=n_boot))
    learner_note = None
    if simple_learner and models:
        try:
            runs.append(logistic_run(models[0][0], bars_full, symbol=symbol, interval=interval, period=period,
                                     settings=settings, costs=costs, n_boot=n_boot))
        except ValueError as exc:
            learner_note = f"no logistic regression baseline: {exc}"
    if rules:
        close = bars_full["close"]
        for rb in rule_baselines():
            runs.append(backtest_target(rb.positions(close, interval), bars_full, name=rb.name, kind="rule baseline",
                                        symbol=symbol, interval=interval, period=period, settings=settings,
                                        costs=costs, description=rb.description, n_boot=n_boot))
    if not runs:
        raise ValueError("nothing to evaluate: pass models or rules=True")
    P = periods_per_year_of(bars_full.index, interval)
    regimes = classify_regimes(bars_full["close"], periods_per_year=P).reindex(runs[0].backtest.frame.index)
    notes = [f"{r.name} held no position on any evaluated bar: its ratios are undefined (n/a)"
             for r in runs if r.metrics.get("Exposure [%]") == 0.0]
    first, last = runs[0].backtest.frame.index[[0, -1]]
    notes += [f"the evaluated bars overlap {loaded.name}'s training/validation period: its figures are "
              "in-sample, not an out-of-sample test" for loaded, _ in models if in_sample_overlap(loaded, first, last)]
    notes += list(dict.fromkeys(n for r in runs if r.signals is not None for n in r.signals.notes))  # fit, cache
    notes += [learner_note] if learner_note else []
    notes += close_fill_notes(runs, bars_full, settings if costs is None else replace(settings, costs=costs))
    trial_runs = [r for r in runs if r.kind != "rule baseline"]
    for loaded in trial_models:
        if progress:
            progress(f"{loaded.name} on {symbol} {interval} (a trial of the DSR, not shown)")
        trial_runs.append(model_run(loaded, bars_full, symbol=symbol, interval=interval, period=period,
                                    settings=settings, kind="model baseline", costs=costs, cache=cache, n_boot=0,
                                    skill=False))
    n, trials_source = trial_count(settings, period, interval, evaluated=len(trial_runs) + int(extra_trials))
    inst = InstrumentEvaluation(symbol=symbol, interval=interval, period=period, source=source, runs=runs,
                                regimes=regimes, periods_per_year=P, notes=tuple(notes), trials_source=trials_source,
                                trial_sharpes=trial_strategies(settings, period, interval, trial_runs))
    deflate([inst], n_trials=n)  # run_evaluation re-deflates with every instrument counted
    return inst


def trial_strategies(settings: Settings, period: Period, interval: str, runs: Sequence[StrategyRun]) -> dict:
    """Per-period Sharpe of each trial strategy run here: the model runs the trial registry lists for
    this period (checkpoints in models/ and the logistic regression); if the registry lists none
    for the period, every model run evaluated (they are what N counts)."""
    from hrm_core.evaluation.trials import registry_path, trials_for

    names = {e.strategy for e in trials_for(registry_path(settings), interval=interval, start=period.start,
                                             end=period.end).entries}
    models = [r for r in runs if r.kind != "rule baseline"]
    chosen = [r for r in models if r.name in names] if names else models
    return {r.name: _trial_sharpe(r.net_returns.to_numpy()) for r in chosen}


def _trial_sharpe(net: np.ndarray) -> float:
    """Per-period Sharpe of one trial; a trial that never held a position (every net return exactly 0)
    earned the risk-free rate: Sharpe 0, still a trial that was tried (not left out of V as undefined)."""
    return 0.0 if len(net) and not np.any(net) else float(_m.sharpe_per_period(net))


def trial_count(settings: Settings, period: Period, interval: str, *, evaluated: int) -> tuple[int, str]:
    """N for the DSR on this period: max(registered trials, strategies `evaluated` here), and where it came from."""
    from hrm_core.evaluation.trials import registry_path, trials_for

    reg = trials_for(registry_path(settings), interval=interval, start=period.start, end=period.end)
    if reg.n >= evaluated and reg.registered:
        return reg.n, f"trial registry {_relative_path(reg.source)}: {len(reg.entries)} entries"
    if reg.registered:
        return evaluated, (f"strategies evaluated here ({evaluated}), more than the {reg.n} registered in "
                           f"{_relative_path(reg.source)}: register them")
    return evaluated, (f"strategies evaluated here only: the period {period.start or '...'} .. {period.end or '...'} "
                       f"({interval}) is not in the trial registry {_relative_path(reg.source)}")


def _relative_path(path: str) -> str:
    from hrm_core.settings import PROJECT_ROOT

    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except (ValueError, OSError):
        return path


def deflate(instruments: Sequence[InstrumentEvaluation], *, n_trials: int) -> int:
    """Set DSR and Trials (N) on every model run, and each instrument's `dsr_variance`; return N.

    N comes from `trial_count` (the registry, or what was evaluated). V is the variance (ddof = 1)
    of the instrument's trial Sharpe ratios (`InstrumentEvaluation.trial_sharpes`), or, with fewer
    than 2 of them, the run's own squared Sharpe standard error (see the module docstring). Rule
    baselines are fixed textbook references, not configurations tried: they are not counted and
    get no DSR.
    """
    n = int(n_trials)
    for inst in instruments:
        ts = [v for v in inst.trial_sharpes.values() if math.isfinite(v)]
        measured = len(ts) >= 2
        inst.dsr_variance.clear()
        undefined = sorted(k for k, v in inst.trial_sharpes.items() if not math.isfinite(v))
        inst.dsr_variance.update(
            {"V": float(np.var(ts, ddof=1)), "method": "variance of the trials' per-period Sharpe ratios",
             "trials": sorted(k for k, v in inst.trial_sharpes.items() if math.isfinite(v))} if measured else
            {"V": None, "method": "fallback: each run's own squared Sharpe standard error (fewer than 2 trial "
                                  "Sharpe ratios)", "trials": sorted(k for k in inst.trial_sharpes
                                                                     if k not in undefined)})
        inst.dsr_variance["undefined"] = undefined  # trials whose Sharpe is undefined (constant non-zero returns)
        for r in inst.runs:
            if r.kind == "rule baseline":
                r.metrics["DSR"], r.metrics["Trials (N)"] = math.nan, math.nan
                continue
            r.metrics["DSR"] = _m.deflated_sharpe_ratio(r.net_returns, n_trials=n,
                                                        trial_sharpes=ts if measured else None)
            r.metrics["Trials (N)"] = float(n)
    return n


# ----------------------------------------------------------------------------- analytics for the page and report

def monthly_returns(net_returns: pd.Series) -> pd.DataFrame:
    """Compounded net return per calendar month in %, years as rows, months 1..12 as columns, plus 'Year'."""
    if len(net_returns) == 0:
        return pd.DataFrame(columns=[*range(1, 13), "Year"], dtype=float)
    r = net_returns.astype(float)
    idx = r.index.tz_convert("UTC") if r.index.tz is not None else r.index
    grouped = (1.0 + r).groupby([idx.year, idx.month]).prod() - 1.0
    table = (100 * grouped).unstack()
    table = table.reindex(columns=range(1, 13))
    table["Year"] = 100 * ((1.0 + r).groupby(idx.year).prod() - 1.0)
    table.index.name = "year"
    return table


def rolling_sharpe(net_returns: pd.Series, *, window: int, periods_per_year: float) -> pd.Series:
    """sqrt(P) mean / s (ddof = 1) over the trailing `window` bars; NaN until full or when s = 0."""
    r = net_returns.astype(float)
    mean = r.rolling(window, min_periods=window).mean()
    sd = r.rolling(window, min_periods=window).std(ddof=1)
    out = math.sqrt(periods_per_year) * mean / sd.where(sd > 1e-14)
    return out.rename("rolling Sharpe")


def cost_sensitivity(result: BacktestResult, *, costs_bps: Sequence[float], periods_per_year: float) -> pd.DataFrame:
    """The same positions at other total costs (bps per unit of turnover): annual return, Sharpe, max drawdown.

    net = gross - c x turnover, with the backtest's drift-aware turnover, so positions stay fixed
    (the drawdown brake, if on, keeps the decisions it made at the evaluated cost).
    """
    f = result.frame
    gross, turn = f["gross_return"].to_numpy(), f["turnover"].to_numpy()
    rows = []
    for c in costs_bps:
        net = gross - c / 1e4 * turn
        rows.append({"Costs [bps]": float(c),
                     "Annual return [%]": 100 * _m.cagr(net, periods_per_year=periods_per_year),
                     "Sharpe": _m.sharpe(net, periods_per_year=periods_per_year),
                     "Max drawdown [%]": 100 * _m.max_drawdown(net)})
    return pd.DataFrame(rows).set_index("Costs [bps]")


def break_even_cost_bps(result: BacktestResult, *, max_bps: float = 10_000.0) -> float:
    """Total cost per unit of turnover (bps) at which the net compounded return over the sample is 0.

    0.0 when the strategy loses even at zero cost; inf when it never trades (or still wins at
    max_bps). Bisection on prod(1 + gross - c x turnover) = 1, which falls as c rises.
    """
    f = result.frame
    gross, turn = f["gross_return"].to_numpy(), f["turnover"].to_numpy()
    if turn.sum() <= 0:
        return math.inf

    def log_wealth(c_bps: float) -> float:
        g = 1.0 + gross - c_bps / 1e4 * turn
        return -math.inf if (g <= 0).any() else float(np.log(g).sum())

    if log_wealth(0.0) <= 0:
        return 0.0
    if log_wealth(max_bps) > 0:
        return math.inf
    lo, hi = 0.0, max_bps
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if log_wealth(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


def risk_effects(run: StrategyRun, settings: Settings, costs: CostSettings | None = None) -> pd.DataFrame:
    """Each risk rule's effect on the run's raw target (hrm_core.trading.risk.risk_rule_effects, same costs).

    Only rows that differ are kept: the raw row, each rule that is switched on, and all rules together when
    at least one is on (a switched-off rule repeats the raw row)."""
    costs = costs or settings.costs
    table = risk_rule_effects(run.target, run.close, settings.risk, periods_per_year=run.periods_per_year,
                              costs_bps=costs.total_bps, history=run.history, execution=costs.execution,
                              open_price=run.open_price)
    singles = table.index[1:-1]
    keep = [table.index[0], *(r for r in singles if table.at[r, "active"])]
    if len(keep) > 1:
        keep.append(table.index[-1])
    return table.loc[keep]


def backtest_instrument(
    *,
    settings: Settings,
    symbol: str,
    interval: str,
    model: str | Path | None = None,
    path: str | Path | None = None,
    start: Any = None,
    end: Any = None,
    costs: CostSettings | None = None,
    rules: bool = True,
    n_boot: int = N_BOOT,
) -> InstrumentEvaluation:
    """`hrm backtest`: one model (default: the shipped one) and the rule baselines on one instrument.

    Period: start/end if given, else the model's test period; a user file (path) that does not
    reach into the test period is evaluated whole and flagged.
    """
    from hrm_core.model.cards import resolve_model
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars

    loaded = load_checkpoint(resolve_model(model, settings))
    res = load_bars(symbol, interval, path=path, settings=settings)
    period = evaluation_period(loaded, start, end)
    if path is not None and period.label.startswith("test") and not period.mask(res.bars.index, interval).any():
        period = Period(None, None, f"whole file (it does not reach {loaded.name}'s test period)")
    return evaluate_instrument(res.bars, symbol=res.symbol, interval=interval, settings=settings,
                               models=[(loaded, "model")], period=period, source=res.badge(), costs=costs,
                               rules=rules, n_boot=n_boot,
                               trial_models=registered_checkpoints(settings, period, interval, exclude=loaded))


def registered_checkpoints(settings: Settings, period: Period, interval: str, *, exclude=None) -> list:
    """The checkpoints in models/ that the trial registry lists for this period (but `exclude`), loaded:
    the trials a face runs for the DSR's V even when it shows only one model."""
    from hrm_core.model.cards import list_checkpoints
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.evaluation.trials import registry_path, trials_for

    names = {e.strategy for e in trials_for(registry_path(settings), interval=interval, start=period.start,
                                             end=period.end).entries}
    skip = Path(exclude.path).resolve() if exclude is not None and getattr(exclude, "path", None) else None
    return [load_checkpoint(c.path) for c in list_checkpoints(settings.data.path("models_dir"))
            if c.name in names and Path(c.path).resolve() != skip]


# ----------------------------------------------------------------------------- the whole evaluation

@dataclass(frozen=True)
class Evaluation:
    instruments: list[InstrumentEvaluation]
    primary: str | None  # the main model's name
    models: dict[str, dict]  # name -> checkpoint facts (path, model id, periods, config, ...)
    settings: Settings
    costs: CostSettings
    interval: str
    period: Period
    n_trials: int
    extra_trials: int
    elapsed_s: float
    trials_source: str = ""  # where N came from (trial registry or the strategies evaluated)
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))


def _model_facts(loaded, run: StrategyRun | None) -> dict:
    n_params = sum(p.numel() for p in loaded.model.parameters())
    c = loaded.config
    return {
        "path": str(getattr(loaded, "path", "")), "model_id": run.signals.model_id if run and run.signals else None,
        "arch": c.arch, "parameters": int(n_params), "N (h_cycles)": c.h_cycles, "T (l_cycles)": c.l_cycles,
        "max_segments": c.max_segments, "act": c.act, "window": c.window, "periods": dict(loaded.periods),
        "training data hash": loaded.data_hash[:16], "instruments": dict(loaded.instruments),
        "description": MODEL_BASELINES.get(loaded.name, "primary model"),
        "position rule": loaded.rule.describe(),
    }


def load_models(settings: Settings, names: Sequence[str] | None = None) -> list:
    """Every checkpoint in models/ (or those named), the shipped default first: the first is primary."""
    from hrm_core.model.cards import list_checkpoints
    from hrm_core.model.checkpoint import load_checkpoint

    cards = list_checkpoints(settings.data.path("models_dir"))
    if names:
        by_name = {c.name: c for c in cards}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise EmptyDataError(f"no model named {missing} in {settings.data.path('models_dir')}; "
                                 f"have {sorted(by_name)}")
        cards = [by_name[n] for n in names]
    return [load_checkpoint(c.path) for c in cards]


def run_evaluation(
    *,
    settings: Settings,
    models: Sequence[Any] = (),
    symbols: Sequence[str] | None = None,
    csv_paths: Sequence[str] = (),
    interval: str | None = None,
    start: Any = None,
    end: Any = None,
    costs: CostSettings | None = None,
    extra_trials: int = 0,
    n_boot: int = N_BOOT,
    cache=None,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Every model (the first is primary) and rule baseline on each instrument's evaluation period."""
    from hrm_core.data.market import load_bars

    t0 = time.perf_counter()
    primary = models[0] if models else None
    interval = interval or (primary.intervals[0] if primary is not None and primary.intervals
                            else settings.data.default_interval)
    symbols = list(symbols) if symbols else ([] if csv_paths else list(settings.data.default_symbols))
    period = evaluation_period(primary, start, end)
    costs = costs or settings.costs
    kinds = [(m, "model" if i == 0 else ("model baseline" if m.name in MODEL_BASELINES else "model"))
             for i, m in enumerate(models)]
    inputs = [(s, dict(symbol=s)) for s in symbols] + [(Path(p).stem, dict(symbol="", path=p)) for p in csv_paths]
    instruments = []
    for label, kw in inputs:
        res = load_bars(kw["symbol"], interval, path=kw.get("path"), settings=settings)
        instruments.append(evaluate_instrument(
            res.bars, symbol=label if kw.get("path") else res.symbol, interval=interval, settings=settings,
            models=kinds, period=period, source=res.badge(), costs=costs, cache=cache, n_boot=n_boot,
            progress=progress))
    evaluated = sum(r.kind != "rule baseline" for inst in instruments for r in inst.runs) + int(extra_trials)
    n, trials_source = trial_count(settings, period, interval, evaluated=evaluated)
    deflate(instruments, n_trials=n)
    facts = {}
    for m in models:
        run = next((r for inst in instruments for r in inst.runs if r.name == m.name), None)
        facts[m.name] = _model_facts(m, run)
    return Evaluation(instruments=instruments, primary=primary.name if primary is not None else None, models=facts,
                      settings=settings, costs=costs, interval=interval, period=period, n_trials=n,
                      extra_trials=extra_trials, elapsed_s=time.perf_counter() - t0, trials_source=trials_source)


__all__ = [
    "DEFINITIONS", "Evaluation", "InstrumentEvaluation", "Period", "StrategyRun", "TABLE_KEYS", "backtest_instrument",
    "backtest_target", "break_even_cost_bps", "cost_sensitivity", "deflate", "trial_count", "evaluate_instrument",
    "registered_checkpoints", "trial_strategies",
    "evaluation_period", "in_sample_overlap", "load_models", "model_run", "monthly_returns", "risk_effects",
    "rolling_sharpe", "run_evaluation",
]
