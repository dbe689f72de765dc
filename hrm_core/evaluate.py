"""Every model and baseline through the same risk layer, backtest, costs and statistics.

The evaluation protocol (DESIGN "Evaluation protocol"):

- **Period.** Each checkpoint stores its train / validation / test periods; the report
  evaluates the primary model's TEST period (bars wholly inside it, `train.in_period`).
  Signals and rule positions are computed on the full history and then sliced, so every
  indicator is warm on the first test bar and every row reads bars <= its own time only.
- **Same footing.** target position -> `apply_risk` (settings.risk, costs charged inside
  the drawdown brake) -> `run_backtest` (commission + slippage per unit of turnover,
  position decided at close t earns bar t+1) -> `backtest_metrics` + `metrics_with_ci`
  (stationary bootstrap). The risk layer starts fresh at the first evaluated bar.
- **Deflation.** DSR uses N = every (strategy, instrument) backtest in the report plus
  any configurations declared tried elsewhere (`extra_trials`), and the variance of their
  per-period Sharpe ratios.

Also here, because the Performance page and the report share them: monthly returns, a
rolling Sharpe, cost sensitivity with the break-even cost, and the report writers.
"""
from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hrm_core import metrics as _m
from hrm_core.backtest import BacktestResult, run_backtest
from hrm_core.baselines import MODEL_BASELINES, rule_baselines
from hrm_core.errors import EmptyDataError
from hrm_core.metrics import METRIC_DEFINITIONS, backtest_metrics, metrics_with_ci, periods_per_year
from hrm_core.regimes import classify_regimes, metrics_by_regime
from hrm_core.risk import RiskResult, apply_risk, risk_rule_effects
from hrm_core.settings import CostSettings, Settings
from hrm_core.signals import SignalResult

# The seed document's figures: targets to measure against, never results (DESIGN.md).
CLAIMS: dict[str, float] = {
    "Sharpe": 2.34, "Sortino": 2.89, "Max drawdown [%]": -8.2, "Win rate [%]": 67.3, "Annual return [%]": 34.2,
}
CLAIMS_SOURCE = ("seed/hrm-trading-research-index.md: figures from a public repository whose own logs show a "
                 "losing run; instrument, period, costs and win-rate convention unstated")
CLAIMS_LABEL = "claimed, unverified"

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
        from hrm_core.train import in_period

        return in_period(index, interval, self.start, self.end)


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
    risk: RiskResult
    backtest: BacktestResult
    metrics: dict[str, float]
    signals: SignalResult | None = None  # model runs: the full-history signal table

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
    target = target_full[mask].astype(float)
    P = periods_per_year(interval)
    risk = apply_risk(target, close, settings.risk, periods_per_year=P, costs_bps=costs.total_bps)
    bt = run_backtest(risk.final.clip(-1.0, 1.0), close, commission_bps=costs.commission_bps,
                      slippage_bps=costs.slippage_bps)
    m = backtest_metrics(bt, periods_per_year=P)
    m.update(metrics_with_ci(bt.net_returns, periods_per_year=P, n_boot=n_boot, seed=seed,
                             alpha=1 - CI_LEVEL / 100))
    return StrategyRun(name=name, kind=kind, description=description, symbol=symbol, interval=interval,
                       target=target, close=close, risk=risk, backtest=bt, metrics=m, signals=signals)


def model_run(loaded, bars_full: pd.DataFrame, *, symbol: str, interval: str, period: Period, settings: Settings,
              kind: str = "model", costs: CostSettings | None = None, cache=None, n_boot: int = N_BOOT) -> StrategyRun:
    """A checkpoint's signals (full history, SQLite-cached) through backtest_target."""
    from hrm_core.signals import generate_signals, signals_db_path

    sig = generate_signals(loaded, bars_full, symbol=symbol, interval=interval,
                           cache=signals_db_path(settings) if cache is None else cache)
    desc = MODEL_BASELINES.get(loaded.name, f"{loaded.config.arch} model {loaded.name}")
    return backtest_target(sig.position, bars_full, name=loaded.name, kind=kind, symbol=symbol, interval=interval,
                           period=period, settings=settings, costs=costs, description=desc, signals=sig,
                           n_boot=n_boot)


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
) -> InstrumentEvaluation:
    """Models (pairs of LoadedModel and kind) then the rule baselines, on one instrument and period.

    DSR is deflated over the strategies run here (N = len(runs))."""
    period = period or evaluation_period(models[0][0] if models else None)
    runs: list[StrategyRun] = []
    for loaded, kind in models:
        if progress:
            progress(f"{loaded.name} on {symbol} {interval}")
        runs.append(model_run(loaded, bars_full, symbol=symbol, interval=interval, period=period, settings=settings,
                              kind=kind, costs=costs, cache=cache, n_boot=n_boot))
    if rules:
        close = bars_full["close"]
        for rb in rule_baselines():
            runs.append(backtest_target(rb.positions(close, interval), bars_full, name=rb.name, kind="rule baseline",
                                        symbol=symbol, interval=interval, period=period, settings=settings,
                                        costs=costs, description=rb.description, n_boot=n_boot))
    if not runs:
        raise ValueError("nothing to evaluate: pass models or rules=True")
    P = periods_per_year(interval)
    regimes = classify_regimes(bars_full["close"], periods_per_year=P).reindex(runs[0].backtest.frame.index)
    notes = [f"{r.name} held no position on any evaluated bar: its ratios are undefined (n/a)"
             for r in runs if r.metrics.get("Exposure [%]") == 0.0]
    if models and in_sample_overlap(models[0][0], runs[0].backtest.frame.index[0], runs[0].backtest.frame.index[-1]):
        notes.append(f"the evaluated bars overlap {models[0][0].name}'s training/validation period: "
                     "these figures are in-sample, not an out-of-sample test")
    inst = InstrumentEvaluation(symbol=symbol, interval=interval, period=period, source=source, runs=runs,
                                regimes=regimes, periods_per_year=P, notes=tuple(notes))
    deflate([inst])  # N = the strategies here; run_evaluation re-deflates across every instrument
    return inst


def deflate(instruments: Sequence[InstrumentEvaluation], *, extra_trials: int = 0) -> int:
    """Set DSR and Trials (N) on every run: N = all backtests here + extra_trials; V from their Sharpes."""
    runs = [r for inst in instruments for r in inst.runs]
    sharpes = [_m.sharpe_per_period(r.net_returns) for r in runs]
    finite = [s for s in sharpes if np.isfinite(s)]
    n = len(runs) + int(extra_trials)
    for r in runs:
        r.metrics["DSR"] = _m.deflated_sharpe_ratio(r.net_returns, n_trials=n, trial_sharpes=finite or None)
        r.metrics["Trials (N)"] = float(max(n, len(finite)))
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
    """Each risk rule's effect on the run's raw target (hrm_core.risk.risk_rule_effects, same costs)."""
    costs = costs or settings.costs
    return risk_rule_effects(run.target, run.close, settings.risk, periods_per_year=periods_per_year(run.interval),
                             costs_bps=costs.total_bps)


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
    from hrm_core.checkpoint import load_checkpoint, resolve_model
    from hrm_core.data import load_bars

    loaded = load_checkpoint(resolve_model(model, settings))
    res = load_bars(symbol, interval, path=path, settings=settings)
    period = evaluation_period(loaded, start, end)
    if path is not None and period.label.startswith("test") and not period.mask(res.bars.index, interval).any():
        period = Period(None, None, f"whole file (it does not reach {loaded.name}'s test period)")
    return evaluate_instrument(res.bars, symbol=res.symbol, interval=interval, settings=settings,
                               models=[(loaded, "model")], period=period, source=res.badge(), costs=costs,
                               rules=rules, n_boot=n_boot)


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
    }


def load_models(settings: Settings, names: Sequence[str] | None = None) -> list:
    """Every checkpoint in models/ (or those named), the shipped default first: the first is primary."""
    from hrm_core.checkpoint import list_checkpoints, load_checkpoint

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
    from hrm_core.data import load_bars

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
    n = deflate(instruments, extra_trials=extra_trials)
    facts = {}
    for m in models:
        run = next((r for inst in instruments for r in inst.runs if r.name == m.name), None)
        facts[m.name] = _model_facts(m, run)
    return Evaluation(instruments=instruments, primary=primary.name if primary is not None else None, models=facts,
                      settings=settings, costs=costs, interval=interval, period=period, n_trials=n,
                      extra_trials=extra_trials, elapsed_s=time.perf_counter() - t0)


# ----------------------------------------------------------------------------- the report

def _num(v: Any) -> Any:
    """JSON-safe number: NaN/inf -> None."""
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def _f(v: Any, spec: str = ".2f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return format(v, spec)


def _ci(m: Mapping, key: str, lo: str, hi: str, spec: str = ".2f") -> str:
    return f"{_f(m.get(key), spec)} [{_f(m.get(lo), spec)}, {_f(m.get(hi), spec)}]"


def headline(ev: Evaluation) -> list[str]:
    """Plain sentences about the primary model against buy & hold, whatever they say."""
    lines = []
    lo_s, hi_s = f"Sharpe CI {CI_LEVEL}% low", f"Sharpe CI {CI_LEVEL}% high"
    for inst in ev.instruments:
        main = inst.runs[0]
        bh = inst.run("buy & hold") if any(r.name == "buy & hold" for r in inst.runs) else None
        m = main.metrics
        s = (f"**{inst.symbol} {inst.interval}, {inst.first:%Y-%m-%d} to {inst.last:%Y-%m-%d} ({inst.n_bars} bars):** "
             f"{main.name} net Sharpe {_ci(m, 'Sharpe', lo_s, hi_s)}, annual return "
             f"{_f(m.get('Annual return [%]'), '.1f')} %, max drawdown {_f(m.get('Max drawdown [%]'), '.1f')} %, "
             f"in the market {_f(m.get('Exposure [%]'), '.0f')} % of bars")
        if bh is not None:
            s += (f"; buy & hold Sharpe {_f(bh.metrics.get('Sharpe'))}, annual return "
                  f"{_f(bh.metrics.get('Annual return [%]'), '.1f')} %")
        s += ". "
        lo, sr = m.get(lo_s, math.nan), m.get("Sharpe", math.nan)
        if not np.isfinite(sr):
            s += "The Sharpe ratio is undefined (no variation in returns: the model hardly trades). "
        elif np.isfinite(lo) and lo > 0:
            s += "The Sharpe interval excludes 0. "
        else:
            s += "The Sharpe interval includes 0: no evidence of skill on this sample. "
        if bh is not None and np.isfinite(sr) and np.isfinite(bh.metrics.get("Sharpe", math.nan)):
            s += "It is " + ("above" if sr > bh.metrics["Sharpe"] else "below") + " buy & hold. "
        dsr = m.get("DSR", math.nan)
        s += (f"DSR {_f(dsr, '.2f')} with N = {int(m.get('Trials (N)', ev.n_trials))} trials: "
              + ("significant at 95 %." if np.isfinite(dsr) and dsr >= 0.95 else "not significant at 95 %."))
        ranked = sorted(((r.metrics.get("Sharpe", math.nan), r.name) for r in inst.runs
                         if np.isfinite(r.metrics.get("Sharpe", math.nan))), reverse=True)
        if len(ranked) > 1:
            s += f" Best Sharpe here: {ranked[0][1]} ({_f(ranked[0][0])})"
            models = [(v, n) for v, n in ranked if inst.run(n).kind != "rule baseline"]
            if models and models[0][1] != main.name:
                s += f"; best model: {models[0][1]} ({_f(models[0][0])}), not {main.name}"
            s += "."
        lines.append(s)
    return lines


def _md_table(df: pd.DataFrame, formats: Mapping[str, str] | None = None, index_name: str | None = None) -> str:
    formats = formats or {}
    cols = list(df.columns)
    head = [index_name or (df.index.name or ""), *map(str, cols)]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for idx, row in df.iterrows():
        cells = [str(idx)]
        for c in cols:
            v = row[c]
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.floating, np.integer)):
                cells.append(str(v))
            elif isinstance(v, (int, np.integer)) and c not in formats:
                cells.append(str(int(v)))
            else:
                cells.append(_f(float(v), formats.get(c, ".2f")))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _summary_table(inst: InstrumentEvaluation) -> pd.DataFrame:
    lo_s, hi_s = f"Sharpe CI {CI_LEVEL}% low", f"Sharpe CI {CI_LEVEL}% high"
    lo_a, hi_a = f"Annual return CI {CI_LEVEL}% low [%]", f"Annual return CI {CI_LEVEL}% high [%]"
    rows = {}
    for r in inst.runs:
        m = r.metrics
        rows[r.name] = {
            "kind": r.kind,
            f"Sharpe [{CI_LEVEL}% CI]": _ci(m, "Sharpe", lo_s, hi_s),
            f"Annual return % [{CI_LEVEL}% CI]": _ci(m, "Annual return [%]", lo_a, hi_a, ".1f"),
            "Sortino": _f(m.get("Sortino")), "Max DD %": _f(m.get("Max drawdown [%]"), ".1f"),
            "Calmar": _f(m.get("Calmar")), "Win/trade %": _f(m.get("Win rate per trade [%]"), ".1f"),
            "Win/period %": _f(m.get("Win rate per period [%]"), ".1f"), "Trades": _f(m.get("Trades"), ".0f"),
            "Exposure %": _f(m.get("Exposure [%]"), ".0f"), "Turnover/yr": _f(m.get("Turnover (two-way, annual)"), ".1f"),
            "PSR": _f(m.get("PSR (SR*=0)")), "DSR": _f(m.get("DSR")),
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "strategy"
    return df


def claims_table(ev: Evaluation) -> pd.DataFrame:
    """The seed's figures beside the primary model's, per instrument."""
    rows = {"seed (" + CLAIMS_LABEL + ")": {
        "Sharpe": _f(CLAIMS["Sharpe"]), "Sortino": _f(CLAIMS["Sortino"]),
        "Max drawdown %": _f(CLAIMS["Max drawdown [%]"], ".1f"), "Win rate %": _f(CLAIMS["Win rate [%]"], ".1f"),
        "Annual return %": _f(CLAIMS["Annual return [%]"], ".1f")}}
    for inst in ev.instruments:
        m = inst.runs[0].metrics
        rows[f"{inst.runs[0].name} on {inst.symbol} (measured)"] = {
            "Sharpe": _f(m.get("Sharpe")), "Sortino": _f(m.get("Sortino")),
            "Max drawdown %": _f(m.get("Max drawdown [%]"), ".1f"),
            "Win rate %": f"{_f(m.get('Win rate per trade [%]'), '.1f')} per trade / "
                          f"{_f(m.get('Win rate per period [%]'), '.1f')} per period",
            "Annual return %": _f(m.get("Annual return [%]"), ".1f")}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "source"
    return df


def _relative(path: str) -> str:
    """A path under the project root as a relative path (reports stay portable)."""
    from hrm_core.settings import PROJECT_ROOT

    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except (ValueError, OSError):
        return path


def _periods_text(p: Mapping) -> str:
    parts = [f"{k} {v[0]}..{v[1]}" for k, v in p.items() if isinstance(v, (list, tuple)) and len(v) == 2]
    if "purge_bars" in p:
        parts.append(f"purge {p['purge_bars']} bars")
    return ", ".join(parts)


def settings_facts(ev: Evaluation) -> dict:
    s = ev.settings
    return {
        "settings file": _relative(s.source),
        "interval": ev.interval,
        "evaluation period": {"label": ev.period.label, "start": ev.period.start, "end": ev.period.end,
                              "rule": "bars wholly inside [start, end]"},
        "checkpoint periods": {k: _periods_text(v.get("periods") or {}) for k, v in ev.models.items()},
        "costs": {"commission_bps": ev.costs.commission_bps, "slippage_bps": ev.costs.slippage_bps,
                  "total_bps_per_unit_turnover": ev.costs.total_bps},
        "annualisation": {inst.symbol: inst.periods_per_year for inst in ev.instruments},
        "risk": {"max_abs_position": s.risk.max_abs_position, "vol_target_annual": s.risk.vol_target_annual,
                 "vol_lookback": s.risk.vol_lookback, "drawdown_brake": s.risk.drawdown_brake,
                 "drawdown_brake_scale": s.risk.drawdown_brake_scale},
        "risk-free rate": 0.0,
        "bootstrap": {"method": "stationary (Politis & Romano 1994), percentile interval", "replications": N_BOOT,
                      "mean block": "n^(1/3) bars", "seed": BOOT_SEED, "level": f"{CI_LEVEL} %"},
        "position rule": "argmax(short, flat, long) -> -1/0/+1, times the quantity head; non-finite output -> flat",
        "timing": "position decided at the close of bar t earns bar t+1's return",
        "DSR trials": {"N": ev.n_trials, "extra declared": ev.extra_trials,
                       "rule": "every (strategy, instrument) backtest in this report plus declared extra trials"},
    }


def _clean(d: Mapping) -> dict:
    return {k: _num(v) for k, v in d.items()}


def instrument_json(inst: InstrumentEvaluation) -> dict:
    """One instrument's strategies, metrics, break-even costs and regime tables, JSON-safe."""
    return {
        "symbol": inst.symbol, "interval": inst.interval, "source": inst.source,
        "period": {"label": inst.period.label, "start": inst.period.start, "end": inst.period.end},
        "first": inst.first.isoformat(), "last": inst.last.isoformat(), "bars": inst.n_bars,
        "periods_per_year": inst.periods_per_year, "notes": list(inst.notes),
        "strategies": [{"name": r.name, "kind": r.kind, "description": r.description,
                        "model_id": r.signals.model_id if r.signals else None,
                        "signals": ({k: _num(v) for k, v in r.signals.summary().items()
                                     if k in ("signals", "warmup", "nonfinite", "mean_steps")}
                                    if r.signals else None),
                        "costs_bps": {"commission": r.backtest.commission_bps, "slippage": r.backtest.slippage_bps},
                        "break_even_cost_bps": _num(break_even_cost_bps(r.backtest)),
                        "metrics": _clean(r.metrics)} for r in inst.runs],
        "regimes": {inst.runs[0].name: {k: _clean(v) for k, v in inst.regime_table().to_dict(orient="index").items()}},
        "regime_sharpes": {k: _clean(v) for k, v in inst.regime_sharpes().to_dict(orient="index").items()},
    }


def to_json(ev: Evaluation) -> dict:
    """Everything in the markdown report, machine-readable (NaN -> null)."""
    out = {
        "created": ev.created, "primary_model": ev.primary, "elapsed_s": round(ev.elapsed_s, 1),
        "settings": settings_facts(ev), "models": ev.models,
        "claims": {"label": CLAIMS_LABEL, "source": CLAIMS_SOURCE, **CLAIMS},
        "headline": headline(ev), "instruments": [],
    }
    out["instruments"] = [instrument_json(inst) for inst in ev.instruments]
    return out


def render_markdown(ev: Evaluation, *, command: str = "hrm evaluate") -> str:
    """docs/results.md: headline, claims beside measurements, tables per instrument, regimes, settings."""
    f = settings_facts(ev)
    L = ["# HRM Trader: evaluation results", "",
         f"Written by `{command}` on {ev.created} in {ev.elapsed_s:.0f} s. Every number below is net of costs "
         f"and computed by `hrm_core` (signals -> risk layer -> backtest -> metrics); regenerate with the same command.",
         "", "## Headline", ""]
    if ev.primary is None:
        L += ["No trained model was found: only the rule baselines are reported.", ""]
    L += [f"- {s}" for s in headline(ev)]
    L += ["", f"Evaluated on the **{ev.period.label}** ({ev.period.start or 'first bar'} to "
          f"{ev.period.end or 'last bar'}), interval {ev.interval}, costs "
          f"{ev.costs.commission_bps:g} bps commission + {ev.costs.slippage_bps:g} bps slippage per unit of turnover.",
          ""]
    for inst in ev.instruments:
        for note in inst.notes:
            L += [f"> **Note ({inst.symbol}):** {note}.", ""]
    L += ["## The seed's figures beside ours", "",
          f"The seed document's figures are **{CLAIMS_LABEL}** ({CLAIMS_SOURCE}). They are targets, not results.",
          "", _md_table(claims_table(ev)), ""]
    for inst in ev.instruments:
        L += [f"## {inst.symbol} {inst.interval}", "",
              f"{inst.first:%Y-%m-%d} to {inst.last:%Y-%m-%d}, {inst.n_bars} bars, data: {inst.source}; "
              f"annualisation P = {inst.periods_per_year:g} bars per year.", "",
              _md_table(_summary_table(inst)), ""]
        be = {r.name: break_even_cost_bps(r.backtest) for r in inst.runs}
        L += ["Break-even total cost (bps per unit of turnover at which the net compounded return over the "
              "period is 0; 0 = loses even without costs): "
              + ", ".join(f"{k} {_f(v, '.1f')}" for k, v in be.items()) + ".", ""]
        main = inst.runs[0]
        L += [f"### Regimes ({main.name}, against buy & hold of {inst.symbol})", "",
              "Each bar's return is grouped by the regime known at the close where its position was decided "
              "(causal rules: high_vol > bear > bull > sideways; see `hrm_core/regimes.py`).", "",
              _md_table(inst.regime_table(), {"Bars": ".0f", "Share [%]": ".1f"}), "", "Sharpe by regime, every strategy:", "",
              _md_table(inst.regime_sharpes()), ""]
    L += ["## Models", ""]
    if ev.models:
        mt = pd.DataFrame.from_dict({k: {kk: (str(vv) if isinstance(vv, (dict, list)) else vv)
                                         for kk, vv in v.items() if kk not in ("periods", "instruments", "path")}
                                     for k, v in ev.models.items()}, orient="index")
        mt.index.name = "model"
        L += [_md_table(mt, {"parameters": ".0f"}), ""]
    else:
        L += ["None found in models/.", ""]
    L += ["## Settings", "", "```json", json.dumps(f, indent=2, default=str), "```", "",
          "## Definitions", "",
          "Sharpe and annual return intervals: stationary bootstrap, percentile. Win rate per trade counts closed "
          "trades; per period counts non-zero return bars. DSR deflates the Sharpe ratio for the N trials stated "
          "above (Bailey & Lopez de Prado 2014). Full definitions: `hrm_core/metrics.py` METRIC_DEFINITIONS and "
          "shared REFERENCE.md.", ""]
    return "\n".join(L)


def write_report(ev: Evaluation, out_md: str | Path, out_json: str | Path | None = None, *,
                 command: str = "hrm evaluate") -> tuple[Path, Path]:
    """Write the markdown report and its JSON twin (default: same name, .json)."""
    md = Path(out_md)
    js = Path(out_json) if out_json is not None else md.with_suffix(".json")
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(render_markdown(ev, command=command))
    js.write_text(json.dumps(to_json(ev), indent=2, default=str, allow_nan=False))
    return md, js


__all__ = [
    "CLAIMS", "CLAIMS_LABEL", "DEFINITIONS", "Evaluation", "InstrumentEvaluation", "Period", "StrategyRun",
    "TABLE_KEYS", "backtest_instrument", "backtest_target", "instrument_json", "break_even_cost_bps", "cost_sensitivity", "deflate", "evaluate_instrument",
    "evaluation_period", "headline", "in_sample_overlap", "load_models", "model_run", "monthly_returns", "render_markdown",
    "risk_effects", "rolling_sharpe", "run_evaluation", "to_json", "write_report",
]
