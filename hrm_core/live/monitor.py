"""Model health from the paper-trading ledger: latency, drift, non-finite outputs, fallbacks, staleness.

`health(db, settings)` evaluates one book and returns a `HealthReport`: each check is green,
amber or red against the thresholds in `settings.health` ([health] in hrm.toml); the overall
status is the worst check and `reasons` says why; `exit_code` is 0 / 1 / 2 for cron and CI.

Statistics (REFERENCE "Monitoring"):

- **PSI** = sum (a_i - e_i) ln(a_i / e_i) over PSI_BINS bins whose inner edges are the
  REFERENCE sample's deciles (outer edges -inf, +inf; tied deciles merged), the same edges for
  the current sample; shares floored at PSI_FLOOR. Categorical outputs (action, ACT depth)
  use one bin per category. < 0.10 stable, 0.10-0.25 moderate, > 0.25 major.
- **KS**: `scipy.stats.ks_2samp` statistic D and p-value. A continuous variable counts as
  drifted only when PSI crosses its threshold AND the KS test rejects at `ks_alpha`:
  on a few dozen live bars PSI alone is inflated by sampling noise (about bins / n).
- **References**: features against the checkpoint's TRAINING period (the bars of the
  book's instrument, computed by the same `compute_features`); predictions (action mix,
  confidence, ACT depth) against the signal table over the checkpoint's TEST period.
  `reference=(start, end)` replaces both (e.g. to compare with a recent quiet period).
- Fewer than `min_drift_bars` decisions: drift is computed and shown but raises no alert.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from hrm_core.data.bars import BAR_SPAN
from hrm_core.evaluation.evaluate import Period
from hrm_core.data.features import FEATURE_NAMES, compute_features
from hrm_core.jsonsafe import json_safe
from hrm_core.live.ledger import Book, Ledger, LedgerError, utc_now
from hrm_core.live.trader import FRESH_SOURCES
from hrm_core.settings import HealthSettings, Settings

PSI_BINS = 10  # reference deciles
PSI_FLOOR = 1e-4  # share floor in each bin, so an empty bin gives a finite PSI
STATUSES = ("green", "amber", "red")
EXIT_CODES = {"green": 0, "amber": 1, "red": 2}


# ----------------------------------------------------------------------------- statistics

def psi_edges(reference: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """Inner bin edges: the reference's quantiles 1/bins .. (bins-1)/bins, ties merged (outer edges are +-inf)."""
    ref = reference[np.isfinite(reference)]
    return np.unique(np.quantile(ref, np.arange(1, bins) / bins)) if len(ref) else np.array([])


def psi(reference: np.ndarray, current: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of `current` against `reference` (REFERENCE "PSI"); NaN if either is empty."""
    ref, cur = (np.asarray(x, dtype=float) for x in (reference, current))
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return math.nan
    edges = psi_edges(ref, bins)
    e = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    a = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=len(edges) + 1) / len(cur)
    return _psi_shares(e, a)


def categorical_psi(reference: pd.Series, current: pd.Series, categories) -> float:
    """PSI with one bin per category (action mix, ACT depth)."""
    if len(reference) == 0 or len(current) == 0:
        return math.nan
    e = reference.value_counts(normalize=True).reindex(categories, fill_value=0.0).to_numpy()
    a = current.value_counts(normalize=True).reindex(categories, fill_value=0.0).to_numpy()
    return _psi_shares(e, a)


def _psi_shares(e: np.ndarray, a: np.ndarray) -> float:
    e, a = np.maximum(e, PSI_FLOOR), np.maximum(a, PSI_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def ks(reference: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """(D, p-value) of the two-sample Kolmogorov-Smirnov test; NaNs dropped."""
    ref, cur = (np.asarray(x, dtype=float) for x in (reference, current))
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if len(ref) == 0 or len(cur) == 0:
        return math.nan, math.nan
    res = ks_2samp(ref, cur)
    return float(res.statistic), float(res.pvalue)


def drift_status(psi_value: float, p_value: float | None, n: int, h: HealthSettings) -> str:
    """green / amber / red for one variable (p_value None: categorical, PSI alone)."""
    if n < h.min_drift_bars or not math.isfinite(psi_value):
        return "green"
    rejects = p_value is None or (math.isfinite(p_value) and p_value < h.ks_alpha)
    if psi_value >= h.psi_red and rejects:
        return "red"
    if psi_value >= h.psi_amber and rejects:
        return "amber"
    return "green"


def worst(statuses) -> str:
    return max(statuses, key=STATUSES.index, default="green")


# ----------------------------------------------------------------------------- the report

@dataclass(frozen=True)
class Check:
    name: str
    status: str  # green / amber / red
    value: Any
    detail: str  # one line a person can act on


@dataclass(frozen=True)
class HealthReport:
    book: Book
    status: str
    reasons: list[str]
    checks: list[Check]
    latency: dict[str, float | None]
    feature_drift: pd.DataFrame  # per feature: psi, ks_d, ks_p, reference mean/std, current mean/std, status
    prediction_drift: pd.DataFrame  # per output: psi, ks_d, ks_p, reference, current, status
    references: dict[str, list[str]]
    decisions: int
    history: pd.DataFrame = field(default_factory=pd.DataFrame)  # per bar: time, action, confidence, steps, latency

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe report: status, reasons, every check, latency, drift tables."""
        return {
            "status": self.status, "reasons": self.reasons, "book": self.book.label, "decisions": self.decisions,
            "checks": [{"name": c.name, "status": c.status, "value": json_safe(c.value), "detail": c.detail}
                       for c in self.checks],
            "latency_ms": self.latency, "references": self.references,
            "feature_drift": _table(self.feature_drift), "prediction_drift": _table(self.prediction_drift),
            "psi": {"bins": f"{PSI_BINS} reference deciles, outer edges +-inf", "floor": PSI_FLOOR},
        }


def _table(df: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {str(i): {k: json_safe(v) for k, v in r.items()} for i, r in df.iterrows()}


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
        loaded, bars, refs = _references(book, settings, reference)
        feat = feature_drift(led, bars, refs["features"], h, book.interval)
        pred = prediction_drift(led, loaded, bars, book, settings, refs["predictions"], h)
        lat = latency(led)
        checks = [
            _drift_check("feature drift", feat, len(led), h, "training" if reference is None else "reference"),
            _drift_check("prediction drift", pred, len(led), h, "test" if reference is None else "reference"),
            _latency_check(lat, h), _nonfinite_check(led, h), _fallback_check(led, h),
            _staleness_check(led, book, h, now or utc_now()),
        ]
        status = worst(c.status for c in checks)
        reasons = [f"{c.name}: {c.detail}" for c in checks if c.status != "green"] or [
            "all checks within thresholds: " + "; ".join(f"{c.name} {c.detail}" for c in checks)]
    if record:  # the checks read the ledger read-only; only the verdict is written, once it is known to be a ledger
        with Ledger(db) as ledger:
            ledger.record_health(status, reasons, book.book_id)
    history = led[["action", "confidence", "steps", "latency_ms", "status", "source", "mode"]]
    return HealthReport(book=book, status=status, reasons=reasons, checks=checks, latency=lat, feature_drift=feat,
                        prediction_drift=pred, references=refs, decisions=len(led), history=history)


def _references(book: Book, settings: Settings, reference: tuple[Any, Any] | None):
    """(model, full-history bars of the book's instrument, {'features': [start, end], 'predictions': [...]})."""
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars
    from hrm_core.errors import UnknownSymbolError

    loaded = load_checkpoint(book.model_path)
    try:  # the model's world: the instrument's own history, not a user's (maybe shifted) file
        bars = load_bars(book.symbol, book.interval, settings=settings).bars
    except UnknownSymbolError:
        if not book.csv:
            raise
        bars = load_bars(book.symbol, book.interval, path=book.csv, settings=settings).bars
    periods = loaded.periods or {}
    if reference is not None:
        span = [str(pd.Timestamp(reference[0]).date()), str(pd.Timestamp(reference[1]).date())]
        return loaded, bars, {"features": span, "predictions": span}
    train, test = periods.get("train"), periods.get("test")
    if not train or not test:
        raise LedgerError(f"{book.model_path} records no train/test periods; pass a reference period "
                          "(--reference START END)")
    return loaded, bars, {"features": [str(train[0]), str(train[1])], "predictions": [str(test[0]), str(test[1])]}


def feature_drift(led: pd.DataFrame, bars: pd.DataFrame, span: list[str], h: HealthSettings,
                  interval: str = "1d") -> pd.DataFrame:
    """PSI and KS of each model feature: ledger decisions vs the reference period's bars."""
    ref = compute_features(bars)[Period(*span, "reference").mask(bars.index, interval)]
    cur = pd.DataFrame([json.loads(f) if f else {} for f in led["features"]], index=led.index,
                       columns=list(FEATURE_NAMES)).astype(float)
    rows = {}
    for name in FEATURE_NAMES:
        r, c = ref[name].to_numpy(), cur[name].to_numpy()
        d, p = ks(r, c)
        value = psi(r, c)
        rows[name] = {"psi": value, "ks_d": d, "ks_p": p, "reference_mean": np.nanmean(r) if len(r) else math.nan,
                      "current_mean": np.nanmean(c) if np.isfinite(c).any() else math.nan,
                      "status": drift_status(value, p, int(np.isfinite(c).sum()), h)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("feature")


def prediction_drift(led: pd.DataFrame, loaded, bars: pd.DataFrame, book: Book, settings: Settings,
                     span: list[str], h: HealthSettings) -> pd.DataFrame:
    """Action mix, confidence and ACT depth of the ledger vs the signal table over the reference period."""
    from hrm_core.trading.signals import generate_signals, signals_db_path

    table = generate_signals(loaded, bars, symbol=book.symbol, interval=book.interval,
                             cache=signals_db_path(settings)).table
    ref = table[Period(*span, "reference").mask(table.index, book.interval) & (table["status"] == "ok").to_numpy()]
    cur = led[led["status"] == "ok"]
    n = len(cur)
    depth = list(range(1, int(max(ref["steps"].max() if len(ref) else 1, cur["steps"].max() if n else 1)) + 1))
    d, p = ks(ref["confidence"].to_numpy(), cur["confidence"].to_numpy())
    conf_psi = psi(ref["confidence"].to_numpy(), cur["confidence"].to_numpy())
    act_psi = categorical_psi(ref["action"], cur["action"], ["short", "flat", "long"])
    steps_psi = categorical_psi(ref["steps"].astype(int), cur["steps"].astype(int), depth)
    mix = lambda s: ", ".join(f"{a} {100 * v:.0f}%" for a, v in s.value_counts(normalize=True)  # noqa: E731
                              .reindex(["short", "flat", "long"], fill_value=0).items())
    rows = {
        "action mix": {"psi": act_psi, "ks_d": math.nan, "ks_p": math.nan, "reference": mix(ref["action"]),
                       "current": mix(cur["action"]), "status": drift_status(act_psi, None, n, h)},
        "confidence": {"psi": conf_psi, "ks_d": d, "ks_p": p, "reference": f"mean {ref['confidence'].mean():.3f}",
                       "current": f"mean {cur['confidence'].mean():.3f}", "status": drift_status(conf_psi, p, n, h)},
        "ACT depth": {"psi": steps_psi, "ks_d": math.nan, "ks_p": math.nan,
                      "reference": f"mean {ref['steps'].mean():.2f} segments",
                      "current": f"mean {cur['steps'].mean():.2f} segments",
                      "status": drift_status(steps_psi, None, n, h)},
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("output")


def latency(led: pd.DataFrame) -> dict[str, float | None]:
    """p50/p95/p99 of the decision latency (signal + risk + fill + ledger rows) and of the data load, in ms."""
    out: dict[str, float | None] = {}
    for col, label in (("latency_ms", "decision"), ("load_ms", "load")):
        x = led[col].dropna().to_numpy(dtype=float)
        for q in (50, 95, 99):
            out[f"{label}_p{q}"] = float(np.percentile(x, q)) if len(x) else None
    return out


def _drift_check(name: str, table: pd.DataFrame, n: int, h: HealthSettings, against: str) -> Check:
    status = worst(table["status"])
    bad = table[table["status"] != "green"].sort_values("psi", ascending=False)
    if n < h.min_drift_bars:
        return Check(name, "green", None, f"only {n} decisions (< {h.min_drift_bars}): shown, not alerted")
    if bad.empty:
        return Check(name, "green", float(table["psi"].max()), f"stable vs the {against} period "
                     f"(max PSI {table['psi'].max():.3f})")
    listed = ", ".join(f"{i} PSI {r.psi:.2f}" + (f" KS p {r.ks_p:.1g}" if math.isfinite(r.ks_p) else "")
                       for i, r in bad.head(5).iterrows())
    return Check(name, status, float(bad["psi"].iloc[0]),
                 f"{len(bad)} of {len(table)} drifted vs the {against} period ({listed}; thresholds PSI "
                 f"{h.psi_amber:g}/{h.psi_red:g}, KS alpha {h.ks_alpha:g})")


def _latency_check(lat: dict, h: HealthSettings) -> Check:
    p95 = lat.get("decision_p95")
    if p95 is None:
        return Check("latency", "green", None, "no decisions")
    status = "red" if p95 > h.latency_p95_red_ms else "amber" if p95 > h.latency_p95_amber_ms else "green"
    return Check("latency", status, p95, f"decision p95 {p95:.1f} ms (p50 {lat['decision_p50']:.1f} ms; thresholds "
                 f"{h.latency_p95_amber_ms:g}/{h.latency_p95_red_ms:g} ms)")


def _nonfinite_check(led: pd.DataFrame, h: HealthSettings) -> Check:
    n = int((led["status"] == "nonfinite").sum())
    share = n / len(led)
    status = "red" if share >= h.nonfinite_red_share else "amber" if n else "green"
    return Check("non-finite outputs", status, n, f"{n} of {len(led)} decisions had NaN/inf model outputs (flat)")


def _fallback_check(led: pd.DataFrame, h: HealthSettings) -> Check:
    live = led[led["mode"] == "live"]
    if live.empty:
        return Check("data fallbacks", "green", 0, "replay only: bars come from stored history by design")
    fb = live[~live["source"].isin([*FRESH_SOURCES, "file"])]
    share = len(fb) / len(live)
    status = "red" if share >= h.fallback_red_share else "amber" if len(fb) else "green"
    sources = ", ".join(f"{k} {v}" for k, v in fb["source"].value_counts().items())
    return Check("data fallbacks", status, len(fb),
                 f"{len(fb)} of {len(live)} live decisions served without fresh data" + (f" ({sources})" if sources
                                                                                          else ""))


def _staleness_check(led: pd.DataFrame, book: Book, h: HealthSettings, now: pd.Timestamp) -> Check:
    live = led[led["mode"] == "live"]
    if live.empty:
        return Check("data staleness", "green", None, "replay only: staleness applies to live books")
    span = BAR_SPAN[book.interval]
    age = (now - (live.index[-1] + span)) / span
    status = "red" if age > h.stale_red_bars else "amber" if age > h.stale_amber_bars else "green"
    return Check("data staleness", status, float(age), f"newest decided bar {live.index[-1]:%Y-%m-%d %H:%M} UTC is "
                 f"{age:.1f} bar(s) old (thresholds {h.stale_amber_bars:g}/{h.stale_red_bars:g})")


__all__ = ["Check", "EXIT_CODES", "HealthReport", "PSI_BINS", "PSI_FLOOR", "categorical_psi", "drift_status",
           "feature_drift", "health", "ks", "latency", "prediction_drift", "psi", "psi_edges", "worst"]
