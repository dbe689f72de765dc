"""Model health from the paper-trading ledger: drift, realised performance, staleness, latency, faults.

`health(db, settings)` evaluates one book and returns a `HealthReport`: each check is green,
amber or red; the overall status is the worst check and `reasons` says why in sentences;
`exit_code` is 0 / 1 / 2 for cron and CI. Every check says where its threshold comes from
(`threshold_source`): a calibrated null, a reference period, a trading calendar or a setting.

- **feature drift**: the newest `drift_window` decisions' model inputs against the checkpoint's
  TRAINING period, by the calibrated family of hrm_core.live.drift (15 feature PSIs, a volatility
  jump, a volume jump; family-wise false-alarm rates `drift_amber_rate` / `drift_red_rate`; a
  stuck input is red). Bars whose open is an artefact (hrm_core.data.quality) leave the gap
  feature's test on both sides.
- **prediction drift**: action mix, confidence and ACT depth against the signal table over the
  checkpoint's TEST period, calibrated the same way (3 tests, equal weights).
- **performance**: labels arrive `horizon` bars after a decision. On the newest `perf_window`
  matured decisions: mean log-loss minus the constant class-frequency predictor's, and net
  return per unit risk (mean / sd of the book's net returns); each against the same statistic
  over every same-length window of the test period (mean +- perf_amber_sd / perf_red_sd sd,
  only the worse side alarms), as NannyML does with reference chunks.
- **staleness**: bars the trading calendar (hrm_core.data.calendars) expected since the newest
  decided bar that are missing, after `stale_grace_minutes`: no alarm on weekends, holidays or
  overnight.
- latency p95, non-finite outputs and data fallbacks against the [health] settings.

`reference=(start, end)` replaces the training and test periods (e.g. a recent quiet period).
Fewer than `min_drift_bars` decisions (or `min_perf_decisions` matured ones): computed and shown,
not alerted.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hrm_core.data.calendars import calendar_for, missing_bars
from hrm_core.data.features import FEATURE_NAMES, compute_features, make_labels
from hrm_core.data.quality import missing_opens
from hrm_core.evaluation.evaluate import Period, backtest_target
from hrm_core.jsonsafe import json_safe
from hrm_core.live.drift import (PSI_BINS, FeatureCalibration, calibrate_features, drift_row, feature_family,
                                 jump_statistics, null_of)
from hrm_core.live.ledger import Book, Ledger, LedgerError, utc_now
from hrm_core.live.trader import FRESH_SOURCES
from hrm_core.settings import HealthSettings, Settings
from hrm_core.training.skill import period_labels

STATUSES = ("green", "amber", "red")
EXIT_CODES = {"green": 0, "amber": 1, "red": 2}
ACTIONS = ["short", "flat", "long"]
HISTORY_WINDOW = 40  # the verdict history slides a window this long along the ledger
_CALIBRATIONS: dict[tuple, FeatureCalibration] = {}  # per instrument data, reference span and window length


def worst(statuses) -> str:
    return max(statuses, key=STATUSES.index, default="green")


def fmt_p(p: float) -> str:
    """A p-value people can read: 0.032, 4.1e-05."""
    return "n/a" if not math.isfinite(p) else f"{p:.2g}" if p >= 1e-3 else f"{p:.1e}"


# ----------------------------------------------------------------------------- the report

@dataclass(frozen=True)
class Check:
    key: str  # snake_case name in the JSON
    name: str
    status: str  # green / amber / red
    value: Any
    detail: str  # one sentence a person can act on
    threshold_source: str  # where the threshold comes from


@dataclass(frozen=True)
class HealthReport:
    book: Book
    status: str
    reasons: list[str]
    checks: list[Check]
    latency: dict[str, float | None]
    feature_drift: pd.DataFrame  # per test: value, psi, p_value, amber_at, red_at, ks_d, ks_p, status
    prediction_drift: pd.DataFrame
    performance: dict[str, Any]  # the two statistics, their reference bands and per-decision series
    references: dict[str, list[str]]
    decisions: int
    history: pd.DataFrame = field(default_factory=pd.DataFrame)  # per bar: action, confidence, steps, latency
    verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)  # feature-drift verdict of each sliding window
    previous: str | None = None  # with record=True: the book's last recorded verdict before this one

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def verdict(self) -> str:
        """The status and its reason in one sentence."""
        bad = [c for c in self.checks if c.status == self.status and c.status != "green"]
        if not bad:
            return f"GREEN: every check is within its threshold over {self.decisions} decisions."
        return f"{self.status.upper()}: {bad[0].detail}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe report: status, verdict, reasons, every check keyed by name, drift tables, performance."""
        return {
            "status": self.status, "verdict": self.verdict, "reasons": self.reasons, "book": self.book.label,
            "decisions": self.decisions,
            "checks": {c.key: {"name": c.name, "status": c.status, "value": json_safe(c.value), "detail": c.detail,
                               "threshold_source": c.threshold_source} for c in self.checks},
            "latency_ms": self.latency, "references": self.references,
            "feature_drift": _table(self.feature_drift), "prediction_drift": _table(self.prediction_drift),
            "performance": {k: json_safe(v) for k, v in self.performance.items() if k != "series"},
            "verdict_history": [{"time": t.isoformat(), "status": s} for t, s in self.verdicts.get("status", {}).items()],
            "psi": {"bins": f"{PSI_BINS} reference deciles, outer edges +-inf"},
        }


def _table(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(i): {k: json_safe(v) for k, v in r.items()} for i, r in df.iterrows()}


@dataclass(frozen=True)
class _World:
    """What the checks compare against: the model, its instrument's history, the book's own bars."""

    loaded: Any
    world: pd.DataFrame  # the instrument's own history (the model's world, not a user's maybe-shifted file)
    own: pd.DataFrame  # the bars the book traded (its file, else the world), for jumps and labels
    spans: dict[str, list[str]]  # features -> training period, predictions / performance -> test period
    table: pd.DataFrame  # the model's signal table over the world (the predictions' and performance's reference)


def health(db: str | Path, settings: Settings, *, symbol: str | None = None, interval: str | None = None,
           reference: tuple[Any, Any] | None = None, now: pd.Timestamp | None = None,
           record: bool = False) -> HealthReport:
    """Evaluate every check on one book of the ledger; `record` appends the verdict to its alert history."""
    h = settings.health
    with Ledger(db, create=False) as ledger:
        book = ledger.find_book(symbol=symbol, interval=interval)
        led = ledger.frame(book.book_id)
    if led.empty:
        raise LedgerError(f"{db} holds no decided bar for {book.label}: run `hrm live` first")
    w = _world(book, settings, reference)
    feat, feat_cal = feature_drift(led, w, book.interval, h)
    pred = prediction_drift(led, w, book.interval, h)
    perf = performance(led, w, book, settings, h)
    lat = latency(led)
    against = "training" if reference is None else "reference"
    checks = [
        _feature_check(feat, feat_cal, len(led), h, w.spans["features"], against),
        _prediction_check(pred, len(led), h, w.spans["predictions"]),
        _performance_check(perf, h), _staleness_check(led, book, h, now or utc_now()),
        _latency_check(lat, h), _nonfinite_check(led, h), _fallback_check(led, h),
    ]
    status = worst(c.status for c in checks)
    reasons = [f"{c.name}: {c.detail}" for c in checks if c.status != "green"] or [
        "all checks within their thresholds: " + "; ".join(f"{c.name} {c.detail}" for c in checks)]
    previous = None
    if record:  # the checks read the ledger read-only; only the verdict is written, once it is known to be a ledger
        with Ledger(db) as ledger:
            previous = ledger.last_health(book.book_id)
            ledger.record_health(status, reasons, book.book_id)
    history = led[["action", "confidence", "steps", "latency_ms", "status", "source", "mode"]]
    return HealthReport(book=book, status=status, reasons=reasons, checks=checks, latency=lat, feature_drift=feat,
                        prediction_drift=pred, performance=perf, references=w.spans, decisions=len(led),
                        history=history, verdicts=verdict_history(led, w, book.interval, h), previous=previous)


def _world(book: Book, settings: Settings, reference: tuple[Any, Any] | None) -> _World:
    from hrm_core.data.market import load_bars
    from hrm_core.errors import UnknownSymbolError
    from hrm_core.model.checkpoint import load_checkpoint

    loaded = load_checkpoint(book.model_path)
    own = None
    if book.csv:
        try:
            own = load_bars(book.symbol, book.interval, path=book.csv, settings=settings).bars
        except Exception:  # the file may be gone: the checks then use the instrument's own history
            own = None
    try:
        world = load_bars(book.symbol, book.interval, settings=settings).bars
    except UnknownSymbolError:
        if own is None:
            raise
        world = own
    periods = loaded.periods or {}
    if reference is not None:
        span = [str(pd.Timestamp(reference[0]).date()), str(pd.Timestamp(reference[1]).date())]
        spans = {"features": span, "predictions": span}
    else:
        train, test = periods.get("train"), periods.get("test")
        if not train or not test:
            raise LedgerError(f"{book.model_path} records no train/test periods; pass a reference period "
                              "(--reference START END)")
        spans = {"features": [str(train[0]), str(train[1])], "predictions": [str(test[0]), str(test[1])]}
    from hrm_core.trading.signals import generate_signals, signals_db_path

    table = generate_signals(loaded, world, symbol=book.symbol, interval=book.interval,
                             cache=signals_db_path(settings)).table
    return _World(loaded=loaded, world=world, own=world if own is None else own, spans=spans, table=table)


# ----------------------------------------------------------------------------- feature drift

def monitored_features(bars: pd.DataFrame) -> pd.DataFrame:
    """The model's features with the gap left out where the open is an artefact (hrm_core.data.quality)."""
    f = compute_features(bars)
    f.loc[missing_opens(bars), "gap"] = np.nan
    return f


def _calibration(bars: pd.DataFrame, span: list[str], interval: str, window: int) -> FeatureCalibration:
    """The feature family's nulls, computed once per instrument data, reference span and window length."""
    from hrm_core.trading.signals import bars_hash

    key = (bars_hash(bars), tuple(span), interval, window)
    if key not in _CALIBRATIONS:
        if len(_CALIBRATIONS) >= 32:
            _CALIBRATIONS.clear()
        mask = Period(*span, "reference").mask(bars.index, interval)
        _CALIBRATIONS[key] = calibrate_features(monitored_features(bars), bars, mask, window)
    return _CALIBRATIONS[key]


def _ledger_features(led: pd.DataFrame, own: pd.DataFrame) -> pd.DataFrame:
    cur = pd.DataFrame([json.loads(f) if f else {} for f in led["features"]], index=led.index,
                       columns=list(FEATURE_NAMES)).astype(float)
    artefact = pd.Series(missing_opens(own), index=own.index).reindex(cur.index, fill_value=False)
    cur.loc[artefact.to_numpy(), "gap"] = np.nan
    return cur


def feature_drift(led: pd.DataFrame, w: _World, interval: str,
                  h: HealthSettings) -> tuple[pd.DataFrame, FeatureCalibration]:
    """Every test of the feature family on the newest `drift_window` decisions (module docstring)."""
    window = int(min(len(led), h.drift_window))
    cal = _calibration(w.world, w.spans["features"], interval, window)
    cur = _ledger_features(led, w.own).iloc[-window:]
    jumps = jump_statistics(w.own.loc[:led.index[-1]], window)
    jump = jumps.iloc[-1].to_dict() if len(jumps) else {}
    return feature_family(cal, cur, jump, levels=_levels(h)), cal


def verdict_history(led: pd.DataFrame, w: _World, interval: str, h: HealthSettings) -> pd.DataFrame:
    """Feature-drift verdict of a HISTORY_WINDOW-bar window ending at each decision (when drift began)."""
    window = HISTORY_WINDOW
    if len(led) < window:
        return pd.DataFrame(columns=["status"])
    cal = _calibration(w.world, w.spans["features"], interval, window)
    cur = _ledger_features(led, w.own)
    jumps = jump_statistics(w.own.loc[:led.index[-1]], window).reindex(led.index)
    step = max(1, (len(led) - window) // 200)
    rows = {}
    for end in range(window, len(led) + 1, step):
        t = led.index[end - 1]
        tab = feature_family(cal, cur.iloc[end - window:end], jumps.loc[t].to_dict(), levels=_levels(h))
        rows[t] = worst(tab["status"])
    return pd.DataFrame({"status": pd.Series(rows)})


def _levels(h: HealthSettings) -> dict[str, float]:
    return {"amber": h.drift_amber_rate, "red": h.drift_red_rate}


def _describe_test(name: str, r: pd.Series) -> str:
    if r.get("stuck"):
        return f"{name} is stuck at one value"
    if r["test"].startswith("jump"):
        return f"{name} x{math.exp(r['value']):.1f} vs the previous year (p = {fmt_p(r['p_value'])})"
    return f"{name} PSI {r['psi']:.2f} (p = {fmt_p(r['p_value'])})"


def _feature_check(table: pd.DataFrame, cal: FeatureCalibration, n: int, h: HealthSettings, span: list[str],
                   against: str) -> Check:
    source = (f"calibrated: {cal.n_windows:,}+ windows of {cal.window} bars from the {against} period "
              f"{span[0]} .. {span[1]}, each against the rest; weighted Bonferroni over {cal.n_tests} tests at "
              f"{h.drift_amber_rate:g} (amber) / {h.drift_red_rate:g} (red) family-wise false-alarm rate")
    if n < h.min_drift_bars:
        return Check("feature_drift", "feature drift", "green", None,
                     f"only {n} decisions (< {h.min_drift_bars}): shown, not alerted", source)
    bad = table[table["status"] != "green"]
    if bad.empty:
        return Check("feature_drift", "feature drift", "green", 0,
                     f"the newest {cal.window} decisions' inputs look like the {against} period "
                     f"(smallest p = {fmt_p(table['p_value'].min())})", source)
    bad = bad.assign(order=bad["status"].map({"red": 0, "amber": 1})).sort_values(["order", "p_value"])
    listed = "; ".join(_describe_test(i, r) for i, r in bad.head(4).iterrows())
    return Check("feature_drift", "feature drift", worst(bad["status"]), int(len(bad)),
                 f"{len(bad)} of {cal.n_tests} input tests fired over the newest {cal.window} decisions: {listed}",
                 source)


# ----------------------------------------------------------------------------- prediction drift

def prediction_drift(led: pd.DataFrame, w: _World, interval: str, h: HealthSettings) -> pd.DataFrame:
    """Action mix, confidence and ACT depth of the newest decisions vs the signal table over the reference."""
    table = w.table
    ref = table[Period(*w.spans["predictions"], "reference").mask(table.index, interval)
                & (table["status"] == "ok").to_numpy()]
    cur = led[led["status"] == "ok"].iloc[-int(h.drift_window):]
    window = max(len(cur), 1)
    depths = list(range(1, int(max(ref["steps"].max() if len(ref) else 1, cur["steps"].max() if len(cur) else 1)) + 1))
    tests = {"action mix": (ref["action"], cur["action"], ACTIONS),
             "confidence": (ref["confidence"].to_numpy(), cur["confidence"].to_numpy(), None),
             "ACT depth": (ref["steps"].astype(int), cur["steps"].astype(int), depths)}
    rows = {}
    for name, (r, c, cats) in tests.items():
        null = null_of(np.asarray(r), window, categories=cats)
        rows[name] = drift_row(r, c, null, 1 / len(tests), categories=cats, levels=_levels(h))
    mix = lambda s: ", ".join(f"{a} {100 * v:.0f}%" for a, v in s.value_counts(normalize=True)  # noqa: E731
                              .reindex(ACTIONS, fill_value=0).items())
    rows["action mix"].update(reference=mix(ref["action"]), current=mix(cur["action"]))
    rows["confidence"].update(reference=f"mean {ref['confidence'].mean():.3f}", current=f"mean {cur['confidence'].mean():.3f}")
    rows["ACT depth"].update(reference=f"mean {ref['steps'].mean():.2f} segments",
                             current=f"mean {cur['steps'].mean():.2f} segments")
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("output")


def _prediction_check(table: pd.DataFrame, n: int, h: HealthSettings, span: list[str]) -> Check:
    source = (f"calibrated: every window of the same length in the signal table of {span[0]} .. {span[1]}; "
              f"Bonferroni over 3 outputs at {h.drift_amber_rate:g} / {h.drift_red_rate:g}")
    if n < h.min_drift_bars:
        return Check("prediction_drift", "prediction drift", "green", None,
                     f"only {n} decisions (< {h.min_drift_bars}): shown, not alerted", source)
    bad = table[table["status"] != "green"]
    if bad.empty:
        return Check("prediction_drift", "prediction drift", "green", 0,
                     "the action mix, confidence and depth look like the reference period", source)
    listed = "; ".join(f"{i} PSI {r.psi:.2f} (p = {fmt_p(r.p_value)}; now {r.current}, usually {r.reference})"
                       for i, r in bad.iterrows())
    return Check("prediction_drift", "prediction drift", worst(bad["status"]), int(len(bad)), listed, source)


# ----------------------------------------------------------------------------- realised performance

def performance(led: pd.DataFrame, w: _World, book: Book, settings: Settings, h: HealthSettings) -> dict[str, Any]:
    """Rolling log-loss vs the null and net return per unit risk, against same-length reference windows."""
    loaded, spec = w.loaded, w.loaded.feature_spec
    span = w.spans["predictions"]
    table = w.table
    probs_ref = table[["p_short", "p_flat", "p_long"]].to_numpy(dtype=float)
    rows, y_ref, freq = period_labels(loaded, w.world, probs_ref, interval=book.interval, start=span[0], end=span[1])
    ll_ref = _logloss_vs_null(probs_ref[rows], y_ref, freq)
    seen = w.own.loc[:led.index[-1]]  # a label is known once its horizon's bar is in the book's own data
    y_own = make_labels(seen, horizon=spec.horizon, threshold_k=spec.threshold_k,
                        vol_lookback=spec.vol_lookback)["direction"].reindex(led.index)
    probs = led[["p_short", "p_flat", "p_long"]].to_numpy(dtype=float)
    matured = np.isfinite(y_own.to_numpy()) & np.isfinite(probs).all(axis=1) & (led["status"] == "ok").to_numpy()
    ll = _logloss_vs_null(probs[matured], y_own.to_numpy()[matured].astype(int), freq)
    window = int(min(len(ll), h.perf_window))
    run = backtest_target(table["position"], w.world, name="reference", kind="model", symbol=book.symbol,
                          interval=book.interval, period=Period(*span, "reference"), settings=settings, n_boot=0)
    net_ref = run.net_returns.to_numpy(dtype=float)
    net = led["net_return"].to_numpy(dtype=float)
    out = {"window": window, "matured": int(matured.sum()), "reference": span}
    for name, cur, ref, worse in (("logloss_vs_null", ll, ll_ref, +1), ("return_per_risk", net, net_ref, -1)):
        stat = _windowed(cur[-window:], name)[-1:] if window >= 2 and len(cur) >= window else np.array([np.nan])
        band = _windowed_all(ref, window, name)
        mu, sd = (float(np.mean(band)), float(np.std(band, ddof=1))) if len(band) > 2 else (math.nan, math.nan)
        out[name] = {"value": float(stat[0]), "reference_mean": mu, "reference_sd": sd, "reference_windows": len(band),
                     "worse_side": "above" if worse > 0 else "below",
                     "amber_at": mu + worse * h.perf_amber_sd * sd, "red_at": mu + worse * h.perf_red_sd * sd}
    out["series"] = {"logloss_vs_null": pd.Series(ll, index=led.index[matured]),
                     "return_per_risk": pd.Series(net, index=led.index)}
    return out


def _logloss_vs_null(probs: np.ndarray, y: np.ndarray, freq: np.ndarray) -> np.ndarray:
    if len(y) == 0:
        return np.empty(0)
    p = np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)
    return -np.log(p) + np.log(np.clip(np.asarray(freq)[y], 1e-12, 1.0))


def _windowed(x: np.ndarray, name: str) -> np.ndarray:
    if name == "logloss_vs_null":
        return np.array([np.mean(x)])
    sd = np.std(x, ddof=1)
    return np.array([np.mean(x) / sd if sd > 0 else math.nan])


def _windowed_all(x: np.ndarray, window: int, name: str) -> np.ndarray:
    """The statistic over every contiguous `window` of the reference series."""
    if window < 2 or len(x) < window:
        return np.empty(0)
    s = pd.Series(x)
    if name == "logloss_vs_null":
        return s.rolling(window).mean().dropna().to_numpy()
    stat = s.rolling(window).mean() / s.rolling(window).std()
    return stat.replace([np.inf, -np.inf], np.nan).dropna().to_numpy()


def _performance_check(perf: dict, h: HealthSettings) -> Check:
    span = perf["reference"]
    source = (f"reference: every {perf['window']}-decision window of the test period {span[0]} .. {span[1]}, "
              f"mean +- {h.perf_amber_sd:g} / {h.perf_red_sd:g} sd on the worse side ([health] perf_amber_sd, "
              "perf_red_sd)")
    if perf["matured"] < h.min_perf_decisions:
        return Check("performance", "realised performance", "green", None,
                     f"only {perf['matured']} decisions have their outcome yet (< {h.min_perf_decisions}): "
                     "shown, not alerted", source)
    statuses, words = [], []
    for name, label in (("logloss_vs_null", "log-loss minus the constant predictor's"),
                        ("return_per_risk", "net return per unit risk")):
        s = perf[name]
        v, mu, sd = s["value"], s["reference_mean"], s["reference_sd"]
        if not (math.isfinite(v) and math.isfinite(mu) and math.isfinite(sd) and sd > 0):
            statuses.append("green")
            continue
        z = (v - mu) / sd * (1 if s["worse_side"] == "above" else -1)  # > 0: worse than usual
        status = "red" if z >= h.perf_red_sd else "amber" if z >= h.perf_amber_sd else "green"
        statuses.append(status)
        words.append(f"{label} {v:+.4f} against {mu:+.4f} +- {sd:.4f} usually "
                     f"({abs(z):.1f} sd {'worse' if z > 0 else 'better'})")
    return Check("performance", "realised performance", worst(statuses), None,
                 f"over the newest {perf['window']} decisions with known outcomes: " + "; ".join(words), source)


# ----------------------------------------------------------------------------- the rest

def latency(led: pd.DataFrame) -> dict[str, float | None]:
    """p50/p95/p99 of the decision latency (signal + risk + fill + ledger rows) and of the data load, in ms."""
    out: dict[str, float | None] = {}
    for col, label in (("latency_ms", "decision"), ("load_ms", "load")):
        x = led[col].dropna().to_numpy(dtype=float)
        for q in (50, 95, 99):
            out[f"{label}_p{q}"] = float(np.percentile(x, q)) if len(x) else None
    return out


def _latency_check(lat: dict, h: HealthSettings) -> Check:
    source = "settings: [health] latency_p95_amber_ms / latency_p95_red_ms"
    p95 = lat.get("decision_p95")
    if p95 is None:
        return Check("latency", "latency", "green", None, "no decisions", source)
    status = "red" if p95 > h.latency_p95_red_ms else "amber" if p95 > h.latency_p95_amber_ms else "green"
    return Check("latency", "latency", status, p95, f"decision p95 {p95:.1f} ms (p50 {lat['decision_p50']:.1f} ms; "
                 f"thresholds {h.latency_p95_amber_ms:g} / {h.latency_p95_red_ms:g} ms)", source)


def _nonfinite_check(led: pd.DataFrame, h: HealthSettings) -> Check:
    n = int((led["status"] == "nonfinite").sum())
    status = "red" if n / len(led) >= h.nonfinite_red_share else "amber" if n else "green"
    return Check("nonfinite_outputs", "non-finite outputs", status, n,
                 f"{n} of {len(led)} decisions had NaN/inf model outputs (flat)",
                 "settings: any is amber, [health] nonfinite_red_share is red")


def _fallback_check(led: pd.DataFrame, h: HealthSettings) -> Check:
    source = "settings: any is amber, [health] fallback_red_share is red"
    live = led[led["mode"] == "live"]
    if live.empty:
        return Check("data_fallbacks", "data fallbacks", "green", 0,
                     "replay only: bars come from stored history by design", source)
    fb = live[~live["source"].isin([*FRESH_SOURCES, "file"])]
    status = "red" if len(fb) / len(live) >= h.fallback_red_share else "amber" if len(fb) else "green"
    sources = ", ".join(f"{k} {v}" for k, v in fb["source"].value_counts().items())
    return Check("data_fallbacks", "data fallbacks", status, len(fb),
                 f"{len(fb)} of {len(live)} live decisions served without fresh data"
                 + (f" ({sources})" if sources else ""), source)


def _staleness_check(led: pd.DataFrame, book: Book, h: HealthSettings, now: pd.Timestamp) -> Check:
    cal = calendar_for(book.symbol)
    source = (f"calendar: {cal.label} ({'exchange_calendars' if cal.kind == 'exchange' else 'round the clock'}); "
              f"[health] stale_amber_bars / stale_red_bars missing bars after {h.stale_grace_minutes:g} min grace")
    live = led[led["mode"] == "live"]
    if live.empty:
        return Check("staleness", "data staleness", "green", 0, "replay only: staleness applies to live books", source)
    newest = live.index[-1]
    missing = missing_bars(book.symbol, book.interval, newest, pd.Timestamp(now),
                           grace=pd.Timedelta(minutes=h.stale_grace_minutes))
    n = len(missing)
    status = "red" if n >= h.stale_red_bars else "amber" if n >= h.stale_amber_bars else "green"
    detail = (f"newest decided bar {newest:%Y-%m-%d %H:%M} UTC; the {cal.label} expected no bar since"
              if n == 0 else f"{n} bar(s) the {cal.label} expected since {newest:%Y-%m-%d %H:%M} UTC are missing "
              f"(first {missing.index[0]:%Y-%m-%d %H:%M}, completed {missing.iloc[0]:%Y-%m-%d %H:%M} UTC)")
    return Check("staleness", "data staleness", status, n, detail, source)


__all__ = ["Check", "EXIT_CODES", "HISTORY_WINDOW", "HealthReport", "feature_drift", "fmt_p", "health", "latency",
           "monitored_features", "performance", "prediction_drift", "verdict_history", "worst"]
