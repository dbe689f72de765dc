"""Walk-forward out-of-sample evaluation: an expanding window, retrained every calendar year.

Protocol (REFERENCE "Walk-forward"; Lopez de Prado, AFML ch. 7). For each test year Y in
[first, last], every (variant, seed) trains one model with `hrm_core.training.train.TrainConfig`:

    train       first_train_year-01-01 .. (Y-3)-12-31   (expanding: every year before validation)
    validation  (Y-2)-01-01 .. (Y-1)-12-31             (early stopping, anything fitted on validation)
    test        Y-01-01 .. Y-12-31                      (never handed to training)

with `purge` = label horizon bars dropped before each boundary (TrainConfig) and the training
bars cut at the end of validation (`load_training_bars`). The fold's checkpoint computes its
signals (`generate_signals`: the checkpoint's own position rule) on the bar history up to the
end of Y (features are causal, so a row in Y is the same as on the full history up to float32
rounding, and no bar after Y is even handed over); the positions and class probabilities of the bars wholly inside
Y are kept. Each instrument's years are concatenated into one target position series (0
outside the span) and run ONCE over the whole span through `evaluate.backtest_target` (risk
layer, costs, the settings' execution convention, bootstrap CIs): one book, not a mean of years.

Statistics per (variant, seed, instrument) on that series: net Sharpe with its stationary-
bootstrap 95 % CI, PSR, DSR, max drawdown (`metrics` via backtest_target), and the log-loss
against the constant predictor, where each window's null is ITS fold's training-period class
frequencies (`skill.period_labels`, purged so no label reads past Y), paired per window and
concatenated over folds, with `skill.skill_vs_null`'s bootstrap CI. DSR: N from
`evaluate.trial_count` for the span (the trial registry, or every (variant, seed, instrument)
run here if more), V = variance of the per-period Sharpes of this instrument's walk-forward
runs (`evaluate.deflate`). Buy & hold and vol-target buy & hold (`baselines`) run through the
same backtest_target on the same span; they are references, not trials.

Aggregation: per variant and instrument, mean +- sd (ddof 1) over seeds. The paired comparison
with hrm-default is per seed, then averaged: delta Sharpe = mean_s SR(variant, s) - mean_s
SR(default, s), and its interval applies ONE set of stationary-bootstrap day indices (mean block
n^(1/3), as `metrics_with_ci`) to every seed's daily net returns of both variants, so the market
moves they share cancel within each replicate. Why not the Sharpe of seed-averaged returns: that
equal-weight book of seeds is a diversified strategy nobody trades, while per-seed averaging makes
the point estimate exactly the difference of the table's mean Sharpes and does not depend on how
seeds are paired. The interval covers the sampling of days; the table's sd shows the seed spread.
Delta log-loss = mean over the windows both scored of (mean_s log-loss of the variant - mean_s
log-loss of the default), block bootstrap with mean block max(horizon, n^(1/3)) as skill.py.

Compute: one job per fold (variant, seed, year), submitted through `hrm_core.compute.executors`: in this
process (jobs 1), `jobs` local "spawn" processes, or a Dask cluster (`cluster`), one torch thread per job
(`runtime.configure_threads`). A worker gets the fold's bars (and, to reuse it, its checkpoint's bytes) and
returns the fold's record with the checkpoint's files; this process writes both, once per fold, so workers
need no shared disk and a fold whose worker died is simply run again by the scheduler. A fold's result
(year-Y positions and probabilities, labels, training class frequencies, train seconds, the card's
validation metrics) is a small JSON
under `work_dir/folds/` named by variant, seed, year and `fold_key` (a hash of the TrainConfig,
the training cost and the training bars), beside its checkpoint under `work_dir/checkpoints/`: an
interrupted run resumes, a rerun computes only what is missing, and a result written under other
position-rule code (`RULE_CODE`) is recomputed from its checkpoint without training. Training code is
not in the key (an edited comment must not cost hours): a rerun warns when cached folds were trained
by other training code (`TRAIN_CODE`); delete the work folder to retrain them.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
import pandas as pd

from hrm_core.compute.executors import Backend, one_job_at_a_time, open_executor, run_all
from hrm_core.trading import metrics as _m
from hrm_core.evaluation.baselines import rule_baselines
from hrm_core.model.cards import CHECKPOINT_FILE
from hrm_core.model.checkpoint import load_checkpoint
from hrm_core.errors import CheckpointError, HRMError
from hrm_core.evaluation.depth import fold_depth, walk_forward_depth
from hrm_core.evaluation.evaluate import (CI_LEVEL, InstrumentEvaluation, Period, StrategyRun, _trial_sharpe, backtest_target,
                               deflate, trial_count)
from hrm_core.data.identity import check_model_name, data_hash
from hrm_core.jsonsafe import json_safe
from hrm_core.evaluation.regimes import classify_regimes
from hrm_core.evaluation.snooping import data_snooping_tests, snooping_sentence
from hrm_core.evaluation.report import dsr_variance_text, execution_text, update_section
from hrm_core.runtime import configure_threads
from hrm_core.settings import PROJECT_ROOT, Settings
from hrm_core.trading.signals import generate_signals
from hrm_core.training.skill import EPS, period_labels, skill_vs_null
from hrm_core.training.train import TrainConfig, load_training_bars, train_and_save
from hrm_core.training.windows import in_period

SECTION = "walk-forward"  # the docs/results.md section this writes
VALIDATION_YEARS = 2
PROB_COLUMNS = ("p_short", "p_flat", "p_long")
RULE_BASELINES = ("buy & hold", "vol-target B&H")  # names in baselines.rule_baselines()
REFERENCE = "hrm-default"  # every other variant is compared with it, paired


class WalkForwardError(HRMError, ValueError):
    """A walk-forward run cannot start or a fold failed: bad years, unknown variant, data too short."""


class Variant(NamedTuple):
    name: str  # also the start of each fold's checkpoint name, so a safe folder name
    preset: str  # hrm_core.model.config preset
    overrides: Mapping[str, object] = {}  # ModelConfig field overrides
    train: Mapping[str, object] = {}  # TrainConfig field overrides (e.g. select_depth)


DEFAULT_VARIANTS: tuple[Variant, ...] = (
    # hrm-default: the halting objective chosen on validation (scripts/halting_objectives.py), its inference
    # mode chosen on each fold's validation years (select_depth); the ablations keep the reference Q-learning.
    Variant(REFERENCE, "default", {"halt_objective": "loss_improvement", "deep_start": True}, {"select_depth": True}),
    Variant("flat", "flat", {}),
    # Ablations of the HRM (DESIGN "Evaluation protocol"). The coordinator owns the exact overrides:
    Variant("hrm-n1t1", "default", {"h_cycles": 1, "l_cycles": 1, "max_segments": 9}),
    Variant("hrm-noact", "default", {"act": False, "max_segments": 1}),
    Variant("hrm-reset-l", "default", {"reset_l_each_cycle": True}),
    Variant("hrm-full-grad", "default", {"grad_mode": "full"}),
)

# --model-size: the default and flat presets swapped for a twin of another size (tiny for smoke runs).
MODEL_SIZES: dict[str, dict[str, str]] = {"default": {}, "tiny": {"default": "tiny", "flat": "flat_tiny"},
                                          "paper": {"default": "paper", "flat": "flat_paper"}}


def select_variants(names: Sequence[str] | None = None) -> tuple[Variant, ...]:
    """DEFAULT_VARIANTS, or those named (in the order given)."""
    if not names:
        return DEFAULT_VARIANTS
    known = {v.name: v for v in DEFAULT_VARIANTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise WalkForwardError(f"unknown variant(s) {unknown}; choose from {list(known)}")
    return tuple(known[n] for n in dict.fromkeys(names))


def sized(variants: Sequence[Variant], size: str) -> tuple[Variant, ...]:
    """The variants with their presets swapped for the `size` twin (MODEL_SIZES)."""
    if size not in MODEL_SIZES:
        raise WalkForwardError(f"unknown model size {size!r}; choose from {list(MODEL_SIZES)}")
    return tuple(v._replace(preset=MODEL_SIZES[size].get(v.preset, v.preset)) for v in variants)


@dataclass(frozen=True)
class WalkForwardConfig:
    years: tuple[int, int] = (2008, 2018)  # first and last out-of-sample year, inclusive
    variants: tuple[Variant, ...] = DEFAULT_VARIANTS
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    symbols: tuple[str, ...] = ("^GSPC", "^IXIC")
    interval: str = "1d"
    epochs: int = 8  # as scripts/train_shipped_models.py
    stride: int = 2
    jobs: int = 2  # local worker processes, one torch thread each
    cluster: str | None = None  # Dask scheduler address (e.g. tcp://HOST:8786): run the folds there instead
    work_dir: str = "data_cache/walkforward"  # fold results and checkpoints; relative = under the project root
    first_train_year: int | None = None  # None: the first year of the data
    n_boot: int = 2000

    def __post_init__(self) -> None:
        object.__setattr__(self, "years", tuple(int(y) for y in self.years))
        object.__setattr__(self, "variants", tuple(Variant(*v) for v in self.variants))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "symbols", tuple(s.strip().upper() for s in self.symbols))
        if len(self.years) != 2 or self.years[0] > self.years[1]:
            raise WalkForwardError(f"years must be (first, last) with first <= last, got {self.years}")
        if not self.variants or not self.seeds or not self.symbols:
            raise WalkForwardError("choose at least one variant, one seed and one symbol")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names) or len(set(self.seeds)) != len(self.seeds):
            raise WalkForwardError(f"variant names and seeds must be unique, got {names} and {self.seeds}")
        for name in names:
            check_model_name(name)
        for name in ("epochs", "stride", "jobs"):
            if getattr(self, name) < 1:
                raise WalkForwardError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_boot < 0:
            raise WalkForwardError(f"n_boot must be >= 0, got {self.n_boot}")

    @property
    def test_years(self) -> range:
        return range(self.years[0], self.years[1] + 1)

    def work_path(self) -> Path:
        p = Path(self.work_dir)
        return p if p.is_absolute() else PROJECT_ROOT / p


def command_for(cfg: WalkForwardConfig, *, docs: bool = True) -> str:
    """The `hrm evaluate --walk-forward` line that reproduces `cfg` (custom variants are named as such)."""
    base = WalkForwardConfig()
    parts = ["hrm", "evaluate", "--walk-forward", "--years", *map(str, cfg.years), "--seeds", str(len(cfg.seeds))]
    size = next((s for s in MODEL_SIZES if all(v in sized(DEFAULT_VARIANTS, s) for v in cfg.variants)), None)
    if [v.name for v in cfg.variants] != [v.name for v in DEFAULT_VARIANTS]:
        parts += ["--variants", *(v.name for v in cfg.variants)]
    if size not in (None, "default"):
        parts += ["--model-size", size]
    for key in ("epochs", "stride", "jobs", "n_boot", "first_train_year", "work_dir"):
        if getattr(cfg, key) != getattr(base, key):
            parts += [f"--{key.replace('_', '-')}", str(getattr(cfg, key))]
    if cfg.symbols != base.symbols:
        parts += ["--symbols", *cfg.symbols]
    if cfg.interval != base.interval:
        parts += ["--interval", cfg.interval]
    if cfg.seeds != tuple(range(len(cfg.seeds))):
        parts.append(f"(seeds {list(cfg.seeds)}: Python API)")
    if size is None:
        parts.append("(custom variants: Python API)")
    return " ".join(parts + (["--docs"] if docs else []))


# ----------------------------------------------------------------------------- folds

def fold_periods(year: int, first_train_year: int) -> dict[str, str]:
    """TrainConfig's six period dates for test year `year` (module docstring)."""
    if year - VALIDATION_YEARS - 1 < first_train_year:
        raise WalkForwardError(f"test year {year} leaves no training year after {first_train_year} "
                               f"({VALIDATION_YEARS} validation years come first): start at {first_train_year + 3} "
                               "or later")
    return {"train_start": f"{first_train_year}-01-01", "train_end": f"{year - VALIDATION_YEARS - 1}-12-31",
            "val_start": f"{year - VALIDATION_YEARS}-01-01", "val_end": f"{year - 1}-12-31",
            "test_start": f"{year}-01-01", "test_end": f"{year}-12-31"}


def _code_fingerprint(*modules: str) -> str:
    """sha256 of the named modules' source files (hrm_core.<name>): cached results are stale when they change."""
    h = hashlib.sha256()
    for name in modules:
        h.update(Path(importlib.util.find_spec(f"hrm_core.{name}").origin).read_bytes())
    return h.hexdigest()[:16]


RULE_CODE = _code_fingerprint("trading.signals", "trading.decision", "model.position_rule")
# Recorded per fold, not in its key (module docstring).
TRAIN_CODE = _code_fingerprint("training.train", "training.windows", "model.networks", "model.layers",
                               "data.features", "model.config", "trading.decision", "model.position_rule")


@dataclass(frozen=True)
class FoldJob:
    """One fold: what a worker process needs to train it (or reuse its checkpoint) and keep year Y."""

    variant: Variant
    seed: int
    year: int
    train_config: TrainConfig
    key: str  # fold_key
    bars: dict[str, pd.DataFrame]  # symbol -> bars up to the end of `year` (nothing later is handed over)
    interval: str
    work_dir: Path  # where this (the client) process keeps the fold; workers never touch it
    settings: Settings
    checkpoint: Mapping[str, bytes] | None = None  # a saved checkpoint's files, sent so the worker reuses them

    @property
    def name(self) -> str:
        return f"{self.variant.name}-s{self.seed}-{self.year}-{self.key[:12]}"

    @property
    def result_path(self) -> Path:
        return self.work_dir / "folds" / f"{self.name}.json"

    @property
    def checkpoint_dir(self) -> Path:
        return self.work_dir / "checkpoints" / self.name


def fold_key(cfg: TrainConfig, bars: Mapping[str, pd.DataFrame], settings: Settings) -> str:
    """Hash of what a fold's training depends on: its TrainConfig, the cost it trains with, its bars."""
    series, _ = load_training_bars(cfg, bars={(s, cfg.intervals[0]): df for s, df in bars.items()})
    cost = settings.costs.total_bps if cfg.cost_bps is None else cfg.cost_bps
    blob = json.dumps({"train_config": cfg.to_dict(), "cost_bps": cost, "training_bars": data_hash(series)},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def plan_folds(cfg: WalkForwardConfig, bars: Mapping[str, pd.DataFrame], settings: Settings, *,
               first_train_year: int) -> list[FoldJob]:
    """Every (variant, seed, year) fold of `cfg` on `bars` (symbol -> full history)."""
    jobs = []
    for year in cfg.test_years:
        periods = fold_periods(year, first_train_year)
        upto = {s: df[in_period(df.index, cfg.interval, None, periods["test_end"])] for s, df in bars.items()}
        for variant in cfg.variants:
            for seed in cfg.seeds:
                tc = TrainConfig(preset=variant.preset, overrides=tuple(dict(variant.overrides).items()),
                                 symbols=tuple(bars), intervals=(cfg.interval,), epochs=cfg.epochs, stride=cfg.stride,
                                 seed=seed, **dict(variant.train), **periods)
                jobs.append(FoldJob(variant=variant, seed=seed, year=year, train_config=tc,
                                    key=fold_key(tc, upto, settings), bars=upto, interval=cfg.interval,
                                    work_dir=cfg.work_path(), settings=settings))
    return jobs


def read_fold(job: FoldJob) -> dict | None:
    """The fold's stored result if it is complete and was made for this key and position-rule code."""
    try:
        record = json.loads(job.result_path.read_text())
    except (OSError, ValueError):
        return None
    ok = record.get("key") == job.key and record.get("rule_code") == RULE_CODE and set(record.get("series", {})) == \
        set(job.bars)
    return record if ok else None


def run_fold(job: FoldJob) -> dict:
    """Train the fold (or reuse its checkpoint), keep its year-Y signals, write and return the record."""
    cached = read_fold(job)
    if cached is not None:
        return {**cached, "status": "cached"}
    return store_fold(job, compute_fold(with_saved_checkpoint(job)))


def with_saved_checkpoint(job: FoldJob) -> FoldJob:
    """The job carrying its checkpoint's files when this process has them (the worker then trains nothing)."""
    folder = job.checkpoint_dir
    if not (folder / CHECKPOINT_FILE).is_file():
        return job
    return replace(job, checkpoint={p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()})


def compute_fold(job: FoldJob) -> dict:
    """On a worker: {"record": the fold's record, "files": its new checkpoint's files, or None if reused}.

    Touches no shared disk: the checkpoint is trained (or unpacked) in a temporary folder."""
    configure_threads()  # one torch thread per job, in any worker
    with one_job_at_a_time(), tempfile.TemporaryDirectory(prefix="hrm-fold-") as tmp:
        try:
            loaded, status, files = _fold_checkpoint(job, Path(tmp))
            record = _fold_record(job, loaded, status)
        except (HRMError, ValueError) as exc:
            raise WalkForwardError(f"fold {job.variant.name} seed {job.seed} year {job.year}: {exc}") from None
    return {"record": record, "files": files}


def store_fold(job: FoldJob, result: Mapping) -> dict:
    """In this process: write the worker's checkpoint files, then the record (its presence means complete)."""
    if result["files"]:
        job.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        for name, blob in result["files"].items():
            _write_bytes(job.checkpoint_dir / name, blob)
    _write_json(job.result_path, result["record"])
    return result["record"]


def _fold_checkpoint(job: FoldJob, tmp: Path):
    """(loaded model, status, files to keep or None): the sent checkpoint if it loads, else a trained one."""
    folder = tmp / job.name
    if job.checkpoint:
        folder.mkdir()
        for name, blob in job.checkpoint.items():
            (folder / name).write_bytes(blob)
        try:
            return load_checkpoint(folder / CHECKPOINT_FILE), "checkpoint", None
        except CheckpointError:
            pass  # damaged (a crash mid-write): train it again
    _, saved = train_and_save(job.train_config, job.name, models_dir=tmp, settings=job.settings, overwrite=True,
                              bars={(s, job.interval): df for s, df in job.bars.items()})
    files = {p.name: p.read_bytes() for p in saved.parent.iterdir() if p.is_file()}
    return load_checkpoint(saved), "trained", files


def _fold_record(job: FoldJob, loaded, status: str) -> dict:
    """Year-Y rows per symbol (time, position, probabilities, label where scored) and the fold's facts."""
    tc, series, model_id = job.train_config, {}, None
    for sym, df in job.bars.items():
        sig = generate_signals(loaded, df, symbol=sym, interval=job.interval)
        model_id = sig.model_id
        probs = sig.table[list(PROB_COLUMNS)].to_numpy(dtype=float)
        inside = np.flatnonzero(in_period(df.index, job.interval, tc.test_start, tc.test_end))
        entry = {"time": [t.isoformat() for t in df.index[inside]], "position": sig.position.iloc[inside].tolist(),
                 "p": probs[inside].tolist()}
        try:
            rows, y, freq = period_labels(loaded, df, probs, interval=job.interval, start=tc.test_start,
                                          end=tc.test_end)
            labels = np.full(len(inside), np.nan)
            labels[np.searchsorted(inside, rows)] = y
            entry.update(y=labels.tolist(), train_frequencies=freq.tolist())
        except ValueError as exc:
            entry["skill_unavailable"] = str(exc)
        depth = fold_depth(loaded, df, sig.table, inside, symbol=sym, interval=job.interval)
        if depth is not None:
            entry["depth"] = depth
        series[sym] = entry
    m = loaded.metrics
    return json_safe({
        "variant": job.variant.name, "preset": job.variant.preset, "overrides": dict(job.variant.overrides),
        "seed": job.seed, "year": job.year, "key": job.key, "rule_code": RULE_CODE, "status": status,
        "train_code": TRAIN_CODE if status == "trained" else None,  # None: an older checkpoint, code unknown
        "periods": loaded.periods, "horizon": loaded.feature_spec.horizon, "data_hash": loaded.data_hash,
        "checkpoint": str(job.checkpoint_dir), "model_id": model_id, "train_seconds": m.get("train_seconds"),
        "validation": {k: v for k, v in m.items() if k.startswith("val_") or k in ("epoch", "epochs_run", "decision")},
        "series": series,
    })


def _write_json(path: Path, payload: dict) -> None:
    _write_bytes(path, json.dumps(payload, allow_nan=False).encode())


def _write_bytes(path: Path, blob: bytes) -> None:
    """Atomic: a crash leaves the old file or none, never half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)


def _ignore_in_git(work: Path) -> None:
    """The work folder holds checkpoints and caches, never commits: it ignores itself."""
    work.mkdir(parents=True, exist_ok=True)
    marker = work / ".gitignore"
    if not marker.exists():
        marker.write_text("# walk-forward fold results and checkpoints (hrm_core/evaluation/walkforward.py)\n*\n")


def _run_jobs(jobs: Sequence[FoldJob], executor, backend: Backend, say: Callable[[str], None],
              on_fold: Callable[[int, int], None] | None = None) -> list[dict]:
    """Every fold's record: cached ones read here, the rest computed on `executor` and stored here."""
    done, todo = [], []
    for job in jobs:
        record = read_fold(job)
        if record is not None:
            done.append({**record, "status": "cached"})
        else:
            todo.append(job)
    say(f"{len(done)} of {len(jobs)} folds cached; {len(todo)} to compute"
        + (f" on {backend.describe()}" if todo else ""))
    stale = sum(r.get("train_code") not in (None, TRAIN_CODE) for r in done)
    if stale:
        say(f"warning: {stale} cached fold(s) were trained by other training code (train.py, model.py, ... changed "
            "since); delete the work folder to retrain them")
    if on_fold:
        on_fold(len(done), len(jobs))

    def report(job: FoldJob, result: dict) -> None:
        record = store_fold(job, result)
        done.append(record)
        say(f"fold {record['variant']} seed {record['seed']} {record['year']}: {record['status']}, train "
            f"{record['train_seconds']} s ({len(done)}/{len(jobs)})")
        if on_fold:
            on_fold(len(done), len(jobs))

    # Finished folds are on disk as they arrive: an interrupted sweep resumes from them.
    run_all(executor, compute_fold, [with_saved_checkpoint(j) for j in todo], lambda sent, out: report(sent, out))
    order = {(j.variant.name, j.seed, j.year): i for i, j in enumerate(jobs)}
    return sorted(done, key=lambda r: order[(r["variant"], r["seed"], r["year"])])


# ----------------------------------------------------------------------------- one instrument

@dataclass(frozen=True)
class InstrumentWalkForward:
    evaluation: InstrumentEvaluation  # runs: each (variant, seed) in config order, then the rule baselines
    skill: dict[str, dict]  # run name -> skill_vs_null on its concatenated out-of-sample windows
    variants: dict[str, dict]  # variant -> {"n_seeds", "mean": {stat: x}, "sd": {stat: x}}
    paired: list[dict]  # each variant against REFERENCE on the same days and windows
    snooping: dict = field(default_factory=dict)  # SPA against each rule baseline and the MCS (snooping.py)
    depth: dict | None = None  # REFERENCE's reasoning depth over the years (hrm_core.evaluation.depth)

    @property
    def symbol(self) -> str:
        return self.evaluation.symbol


def run_name(variant: str, seed: int) -> str:
    return f"{variant} seed {seed}"


def _series_rows(entry: dict, index: pd.DatetimeIndex, what: str) -> np.ndarray:
    at = index.get_indexer(pd.DatetimeIndex(pd.to_datetime(entry["time"], utc=True)).as_unit(index.unit))
    if (at < 0).any():
        raise WalkForwardError(f"{what} holds bars that are not in the data any more: delete its fold file to redo it")
    return at


def _walk_forward_run(variant: Variant, seed: int, folds: Sequence[dict], sym: str, bars: pd.DataFrame, *,
                      cfg: WalkForwardConfig, settings: Settings,
                      period: Period) -> tuple[StrategyRun, dict, pd.Series]:
    """One (variant, seed) on one instrument: the concatenated book, its skill, and its per-window log-loss."""
    target = pd.Series(0.0, index=bars.index)
    at, probs, y, null = [], [], [], []
    for f in folds:
        entry = f["series"][sym]
        rows = _series_rows(entry, bars.index, f"fold {f['variant']} seed {seed} {f['year']}")
        target.iloc[rows] = np.asarray(entry["position"], dtype=float)
        if "y" in entry:
            labels = np.asarray(entry["y"], dtype=float)
            scored = np.isfinite(labels)
            at.append(rows[scored])
            probs.append(np.asarray(entry["p"], dtype=float)[scored])
            y.append(labels[scored].astype(np.int64))
            null.append(np.tile(entry["train_frequencies"], (int(scored.sum()), 1)))  # this fold's own null
    name = run_name(variant.name, seed)
    desc = (f"{variant.preset} preset{', ' + str(dict(variant.overrides)) if variant.overrides else ''}, seed {seed}, "
            f"retrained each year on the years before it")
    run = backtest_target(target, bars, name=name, kind="model", symbol=sym, interval=cfg.interval, period=period,
                          settings=settings, description=desc, n_boot=cfg.n_boot)
    if len(at) < len(folds) or not at:
        missing = next((f["series"][sym].get("skill_unavailable") for f in folds
                        if "y" not in f["series"][sym]), "no folds")
        return run, {"unavailable": f"a fold has no scored windows: {missing}"}, pd.Series(dtype=float)
    p, labels = np.concatenate(probs), np.concatenate(y)
    skill = skill_vs_null(p, labels, np.concatenate(null), horizon=int(folds[0]["horizon"]),
                          n_boot=max(cfg.n_boot, 200))
    window_logloss = -np.log(np.clip(p[np.arange(len(labels)), labels], EPS, 1.0))  # as skill_vs_null scores them
    return run, skill, pd.Series(window_logloss, index=np.concatenate(at))


def _instrument(sym: str, bars: pd.DataFrame, source: str, folds: Sequence[dict], *, cfg: WalkForwardConfig,
                settings: Settings, period: Period, trials_source: str) -> tuple[InstrumentEvaluation, dict, dict]:
    runs, skill, logloss = [], {}, {}
    for variant in cfg.variants:
        for seed in cfg.seeds:
            mine = [f for f in folds if f["variant"] == variant.name and f["seed"] == seed]
            run, skill[run_name(variant.name, seed)], logloss[(variant.name, seed)] = _walk_forward_run(
                variant, seed, mine, sym, bars, cfg=cfg, settings=settings, period=period)
            runs.append(run)
    trial_sharpes = {r.name: _trial_sharpe(r.net_returns.to_numpy()) for r in runs}
    close = bars["close"]
    runs += [backtest_target(rb.positions(close, cfg.interval), bars, name=rb.name, kind="rule baseline", symbol=sym,
                             interval=cfg.interval, period=period, settings=settings, description=rb.description,
                             n_boot=cfg.n_boot)
             for rb in rule_baselines() if rb.name in RULE_BASELINES]
    P = _m.periods_per_year_of(bars.index, cfg.interval)
    regimes = classify_regimes(close, periods_per_year=P).reindex(runs[0].backtest.frame.index)
    ev = InstrumentEvaluation(symbol=sym, interval=cfg.interval, period=period, source=source, runs=runs,
                              regimes=regimes, periods_per_year=P, trials_source=trials_source,
                              trial_sharpes=trial_sharpes)
    return ev, skill, logloss


# ----------------------------------------------------------------------------- aggregation

LL_KEY = "Log-loss - null"
STAT_KEYS = ("Sharpe", f"Sharpe CI {CI_LEVEL}% low", f"Sharpe CI {CI_LEVEL}% high", "PSR (SR*=0)", "DSR",
             "Max drawdown [%]", "Annual return [%]", "Exposure [%]", LL_KEY, f"{LL_KEY} CI {CI_LEVEL}% low",
             f"{LL_KEY} CI {CI_LEVEL}% high")


def run_stats(run: StrategyRun, skill: Mapping | None) -> dict[str, float]:
    """The walk-forward table's statistics of one run (NaN where undefined)."""
    out = {k: float(run.metrics.get(k, np.nan)) for k in STAT_KEYS if not k.startswith(LL_KEY)}
    ok = bool(skill) and "logloss_diff" in skill
    lo, hi = skill["logloss_diff_ci"] if ok else (np.nan, np.nan)
    out.update({LL_KEY: skill["logloss_diff"] if ok else np.nan, f"{LL_KEY} CI {CI_LEVEL}% low": lo,
                f"{LL_KEY} CI {CI_LEVEL}% high": hi})
    return out


def _mean_sd(values: Sequence[float]) -> tuple[float, float, int]:
    a = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    return (float(a.mean()) if len(a) else np.nan, float(a.std(ddof=1)) if len(a) > 1 else np.nan, len(a))


def variant_summary(ev: InstrumentEvaluation, skill: Mapping[str, dict], cfg: WalkForwardConfig) -> dict[str, dict]:
    """Per variant: mean and sd (ddof 1) over seeds of every STAT_KEYS statistic, with n finite seeds each."""
    out = {}
    for v in cfg.variants:
        stats = [run_stats(ev.run(run_name(v.name, s)), skill.get(run_name(v.name, s))) for s in cfg.seeds]
        cells = {k: _mean_sd([st[k] for st in stats]) for k in STAT_KEYS}
        out[v.name] = {"n_seeds": len(cfg.seeds), "mean": {k: c[0] for k, c in cells.items()},
                       "sd": {k: c[1] for k, c in cells.items()}, "n": {k: c[2] for k, c in cells.items()}}
    return out


def paired_sharpe_difference(a: Sequence[np.ndarray], b: Sequence[np.ndarray], *, periods_per_year: float,
                             n_boot: int, seed: int = 0) -> dict:
    """mean_s Sharpe(a_s) - mean_s Sharpe(b_s) over the same days, with a percentile interval from ONE set of
    stationary-bootstrap day indices (mean block n^(1/3)) shared by every series of both sides."""
    A, B = np.vstack(a), np.vstack(b)
    sharpe_rows = _m._sharpe_rows(periods_per_year, 0.0)  # metrics_with_ci's Sharpe of each resample

    def side(X: np.ndarray, idx: np.ndarray) -> np.ndarray:
        s = np.vstack([sharpe_rows(x[idx]) for x in X])
        n_ok = np.isfinite(s).sum(axis=0)
        return np.where(n_ok > 0, np.nansum(s, axis=0) / np.maximum(n_ok, 1), np.nan)

    n = A.shape[1]
    point = float(side(A, np.arange(n)[None])[0] - side(B, np.arange(n)[None])[0])
    diffs, rng, chunk = [], np.random.default_rng(seed), max(1, 250_000 // n)  # ~250k resampled days a chunk
    for lo in range(0, n_boot, chunk):
        idx = _m.stationary_bootstrap_indices(n, min(chunk, n_boot - lo), n ** (1 / 3), rng)
        diffs.append(side(A, idx) - side(B, idx))
    ci = _m._percentile_interval(np.concatenate(diffs), 1 - CI_LEVEL / 100) if diffs else (np.nan, np.nan)
    return {"diff": point, "ci": list(ci), "days": int(n)}


def paired_logloss_difference(a: Sequence[pd.Series], b: Sequence[pd.Series], *, horizon: int, n_boot: int,
                              seed: int = 0) -> dict:
    """Mean over the windows every series scored of (mean_s log-loss a - mean_s log-loss b), with a
    stationary-bootstrap interval of mean block max(horizon, n^(1/3)) windows (overlapping labels)."""
    if any(s.empty for s in (*a, *b)):
        return {"diff": np.nan, "ci": [np.nan, np.nan], "windows": 0}
    frame = pd.concat([pd.concat(a, axis=1).mean(axis=1), pd.concat(b, axis=1).mean(axis=1)], axis=1,
                      join="inner").dropna()
    d = (frame[0] - frame[1]).to_numpy()
    if len(d) < 2:
        return {"diff": np.nan, "ci": [np.nan, np.nan], "windows": int(len(d))}
    ci = _m.bootstrap_ci(d, lambda x: x.mean(axis=1), vectorized=True, n_boot=max(n_boot, 200), seed=seed,
                         mean_block=max(float(horizon), len(d) ** (1 / 3)), alpha=1 - CI_LEVEL / 100)
    return {"diff": float(d.mean()), "ci": list(ci), "windows": int(len(d))}


def paired_comparisons(ev: InstrumentEvaluation, logloss: Mapping[tuple[str, int], pd.Series],
                       cfg: WalkForwardConfig, horizon: int) -> list[dict]:
    """Each variant minus REFERENCE (if it ran) on the same days and windows (module docstring)."""
    if REFERENCE not in {v.name for v in cfg.variants}:
        return []

    def net(name: str) -> list[np.ndarray]:
        return [ev.run(run_name(name, s)).net_returns.to_numpy() for s in cfg.seeds]

    rows = []
    for v in cfg.variants:
        if v.name == REFERENCE:
            continue
        sharpe = paired_sharpe_difference(net(v.name), net(REFERENCE), periods_per_year=ev.periods_per_year,
                                          n_boot=cfg.n_boot)
        ll = paired_logloss_difference([logloss[(v.name, s)] for s in cfg.seeds],
                                       [logloss[(REFERENCE, s)] for s in cfg.seeds], horizon=horizon,
                                       n_boot=cfg.n_boot)
        rows.append({"variant": v.name, "versus": REFERENCE, "seeds": len(cfg.seeds),
                     "sharpe_diff": sharpe["diff"], "sharpe_diff_ci": sharpe["ci"], "days": sharpe["days"],
                     "logloss_diff": ll["diff"], "logloss_diff_ci": ll["ci"], "windows": ll["windows"]})
    return rows


# ----------------------------------------------------------------------------- the whole run

@dataclass(frozen=True)
class WalkForwardResult:
    config: WalkForwardConfig
    settings: Settings
    period: Period
    first_train_year: int
    folds: list[dict]  # every fold's record, without its per-bar series
    instruments: list[InstrumentWalkForward]
    n_trials: int
    trials_source: str
    wall_seconds: float
    command: str
    backend: str = "this process"  # where the folds computed this run ran (Backend.describe)
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))


def _load(cfg: WalkForwardConfig, settings: Settings) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    from hrm_core.data.market import load_bars

    bars, sources = {}, {}
    for sym in cfg.symbols:
        res = load_bars(sym, cfg.interval, settings=settings)
        bars[res.symbol], sources[res.symbol] = res.bars, res.badge()
    return bars, sources


def _check_span(cfg: WalkForwardConfig, bars: Mapping[str, pd.DataFrame], first_train_year: int) -> None:
    for sym, df in bars.items():
        if len(df) == 0 or df.index[-1].year < cfg.years[1] or df.index[0].year > first_train_year:
            have = f"{df.index[0]:%Y-%m-%d} .. {df.index[-1]:%Y-%m-%d}" if len(df) else "no bars"
            raise WalkForwardError(f"{sym} {cfg.interval} covers {have}: it must reach from {first_train_year} "
                                   f"(first training year) into {cfg.years[1]} (last test year); choose --years inside")
    fold_periods(cfg.years[0], first_train_year)  # the first test year needs training years before it


def run_walk_forward(cfg: WalkForwardConfig, settings: Settings, progress: Callable[[str], None] | None = None, *,
                     bars: Mapping[str, pd.DataFrame] | None = None, command: str | None = None,
                     sources: Mapping[str, str] | None = None,
                     on_fold: Callable[[int, int], None] | None = None) -> WalkForwardResult:
    """Train every fold (or read it from the work folder), then evaluate the concatenated out-of-sample
    series of every (variant, seed, instrument) and the rule baselines (module docstring).

    `bars` (symbol -> full history) replaces market-data loading (tests, your own data; `sources` says where
    each came from). `on_fold(done,
    total)` follows the folds (a progress bar). A cluster is connected to first: an unreachable one
    fails before any data is loaded."""
    with open_executor(cfg.jobs, cfg.cluster) as (executor, backend):
        if backend.dashboard and progress:
            progress(f"Dask dashboard: {backend.dashboard}")
        return _run_walk_forward(cfg, settings, progress, bars=bars, sources=sources, command=command,
                                 executor=executor, backend=backend, on_fold=on_fold)


def _run_walk_forward(cfg, settings, progress, *, bars, sources, command, executor, backend,
                      on_fold) -> WalkForwardResult:
    t0 = time.perf_counter()
    say = progress or (lambda _msg: None)
    if bars is None:
        bars, sources = _load(cfg, settings)
    else:
        bars, sources = ({s.upper(): df for s, df in bars.items()},
                         {s.upper(): (sources or {}).get(s, "given") for s in bars})
    first_train_year = cfg.first_train_year or min(df.index[0].year for df in bars.values())
    _check_span(cfg, bars, first_train_year)
    _ignore_in_git(cfg.work_path())
    jobs = plan_folds(cfg, bars, settings, first_train_year=first_train_year)
    folds = _run_jobs(jobs, executor, backend, say, on_fold)

    first, last = cfg.years
    period = Period(f"{first}-01-01", f"{last}-12-31", f"walk-forward out-of-sample years {first}-{last}")
    n, trials_source = trial_count(settings, period, cfg.interval,
                                   evaluated=len(cfg.variants) * len(cfg.seeds) * len(bars))
    parts = []
    for sym, df in bars.items():
        say(f"evaluating the out-of-sample series on {sym} {cfg.interval}")
        parts.append(_instrument(sym, df, sources[sym], folds, cfg=cfg, settings=settings, period=period,
                                 trials_source=trials_source))
    deflate([ev for ev, _, _ in parts], n_trials=n)  # DSR and V over each instrument's walk-forward runs
    horizon = int(folds[0]["horizon"])
    instruments = [InstrumentWalkForward(evaluation=ev, skill=skill, variants=variant_summary(ev, skill, cfg),
                                         paired=paired_comparisons(ev, logloss, cfg, horizon),
                                         snooping=_snooping(ev, cfg), depth=_depth(folds, ev.symbol, bars, cfg))
                   for ev, skill, logloss in parts]
    return WalkForwardResult(config=cfg, settings=settings, period=period, first_train_year=first_train_year,
                             folds=[{k: v for k, v in f.items() if k != "series"} | _fold_null(f) for f in folds],
                             instruments=instruments, n_trials=n, trials_source=trials_source,
                             wall_seconds=time.perf_counter() - t0, command=command or command_for(cfg),
                             backend=backend.describe())


def _depth(folds: Sequence[dict], sym: str, bars: Mapping[str, pd.DataFrame], cfg: WalkForwardConfig) -> dict | None:
    """REFERENCE's depth figures on this instrument's out-of-sample years (None if it was not run)."""
    runs = [[f["series"][sym] for f in folds if f["variant"] == REFERENCE and f["seed"] == seed]
            for seed in cfg.seeds]
    return walk_forward_depth([r for r in runs if r], bars[sym], interval=cfg.interval, n_boot=cfg.n_boot)


def _snooping(ev: InstrumentEvaluation, cfg: WalkForwardConfig) -> dict:
    """SPA and MCS over every (variant, seed) run of this instrument against the rule baselines."""
    runs = {r.name: r.net_returns for r in ev.runs if r.kind == "model"}
    references = {r.name: r.net_returns for r in ev.runs if r.kind == "rule baseline"}
    return data_snooping_tests(runs, references, n_boot=cfg.n_boot)


def _fold_null(record: dict) -> dict:
    return {"train_frequencies": {s: e.get("train_frequencies") for s, e in record["series"].items()}}


# ----------------------------------------------------------------------------- JSON and markdown

JSON_KEYS = ("protocol", "config", "settings", "period", "trials", "instruments", "folds", "compute", "command",
             "created")


# Choices made once, before this protocol, on years it also tests: not re-chosen per fold.
PRESELECTED = ("Not re-chosen per fold: the label horizon (1 bar) was picked on 2013-2015 validation windows "
               "(scripts/label_experiments.py), so 2013-2015 are out-of-sample for the weights and the position rule "
               "but not for that one choice; 2008-2012 and 2016-2018 are out-of-sample for everything.")


def protocol_lines(result: WalkForwardResult) -> list[str]:
    """The protocol in a few lines, for the report and its JSON."""
    c, (first, last) = result.config, result.config.years
    return [
        f"For each test year Y in {first}-{last}, each variant and seed is trained on "
        f"{result.first_train_year}-01-01 .. (Y-3)-12-31, validated (early stopping, position rule) on the "
        f"{VALIDATION_YEARS} years before Y and predicts Y; the label horizon is purged at each boundary and no bar "
        "after Y-1 reaches training.",
        "Each instrument's years are concatenated into one out-of-sample position series, run once through the "
        "risk layer, costs and fills of every backtest; every statistic is computed on that series.",
        PRESELECTED,
        f"{len(c.variants)} variant(s) x {len(c.seeds)} seed(s) x {len(result.instruments)} instrument(s), "
        f"{c.epochs} epoch(s), stride {c.stride}; DSR N = {result.n_trials} ({result.trials_source}).",
    ]


def _compute(result: WalkForwardResult) -> dict:
    secs = [f["train_seconds"] for f in result.folds if f.get("train_seconds") is not None]
    status = [f["status"] for f in result.folds]
    return {"wall_seconds": round(result.wall_seconds, 1), "jobs": result.config.jobs, "backend": result.backend,
            "folds": len(result.folds),
            "trained": status.count("trained"), "from_checkpoint": status.count("checkpoint"),
            "cached": status.count("cached"), "train_seconds_total": round(float(sum(secs)), 1),
            "train_seconds_this_run": round(float(sum(f["train_seconds"] or 0 for f in result.folds
                                                      if f["status"] == "trained")), 1)}


def _instrument_json(inst: InstrumentWalkForward, cfg: WalkForwardConfig) -> dict:
    ev = inst.evaluation
    variants = []
    for v in cfg.variants:
        runs = [{"seed": s, "statistics": run_stats(ev.run(run_name(v.name, s)), inst.skill.get(run_name(v.name, s))),
                 "metrics": ev.run(run_name(v.name, s)).metrics, "skill": inst.skill.get(run_name(v.name, s))}
                for s in cfg.seeds]
        variants.append({"variant": v.name, "preset": v.preset, "overrides": dict(v.overrides),
                         **inst.variants[v.name], "runs": runs})
    return {"symbol": ev.symbol, "interval": ev.interval, "source": ev.source, "first": ev.first, "last": ev.last,
            "bars": ev.n_bars, "periods_per_year": ev.periods_per_year, "dsr_variance": ev.dsr_variance,
            "variants": variants, "paired": inst.paired, "snooping": inst.snooping, "depth": inst.depth,
            "baselines": [{"name": r.name, "description": r.description, "statistics": run_stats(r, None),
                           "metrics": r.metrics} for r in ev.runs if r.kind == "rule baseline"]}


def to_json(result: WalkForwardResult) -> dict:
    """Everything the report shows and more, JSON-safe (keys: JSON_KEYS)."""
    c, s = result.config, result.settings
    payload = {
        "protocol": protocol_lines(result),
        "config": {**asdict(c), "variants": [v._asdict() for v in c.variants], "work_dir": str(c.work_path()),
                   "first_train_year": result.first_train_year, "validation_years": VALIDATION_YEARS},
        "settings": {"commission_bps": s.costs.commission_bps, "slippage_bps": s.costs.slippage_bps,
                     "execution": s.costs.execution, "execution_text": execution_text(s.costs.execution),
                     "risk": asdict(s.risk)},
        "period": {"start": result.period.start, "end": result.period.end, "label": result.period.label},
        "trials": {"N": result.n_trials, "source": result.trials_source},
        "instruments": [_instrument_json(i, c) for i in result.instruments],
        "folds": [_fold_summary(f) for f in result.folds],
        "compute": _compute(result),
        "command": result.command,
        "created": result.created,
    }
    return json_safe(payload)


def _fold_summary(fold: dict) -> dict:
    """A fold as the docs keep it: the chosen position rule without every candidate tried (those stay in the
    fold's cached record and its checkpoint card), and no machine-local checkpoint path."""
    validation = dict(fold.get("validation") or {})
    if isinstance(validation.get("decision"), dict):
        validation["decision"] = {k: v for k, v in validation["decision"].items() if k != "candidates"}
    return {**{k: v for k, v in fold.items() if k != "checkpoint"}, "validation": validation}


def _num(x: float, spec: str) -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(x, spec).replace("-", "−")


def _cell(mean: Mapping, sd: Mapping | None, key: str, spec: str, ci: bool = False, unit: str = "") -> str:
    text = _num(mean[key], spec) + (f" ± {_num(sd[key], spec)}" if sd is not None and np.isfinite(sd[key]) else "")
    if ci:
        text += f" [{_num(mean[f'{key} CI {CI_LEVEL}% low'], spec)}, {_num(mean[f'{key} CI {CI_LEVEL}% high'], spec)}]"
    return text + unit


def _table_row(label: str, seeds: str, mean: Mapping, sd: Mapping | None) -> str:
    cells = [label, seeds, _cell(mean, sd, "Sharpe", ".2f", ci=True), _cell(mean, sd, "PSR (SR*=0)", ".2f"),
             _cell(mean, sd, "DSR", ".2f") if np.isfinite(mean["DSR"]) else "—",
             _cell(mean, sd, "Max drawdown [%]", ".1f", unit=" %"),
             _cell(mean, sd, LL_KEY, ".4f", ci=True) if np.isfinite(mean[LL_KEY]) else "—"]
    return "| " + " | ".join(cells) + " |"


def render_markdown(result: WalkForwardResult) -> str:
    """The docs/results.md "walk-forward" section: protocol, a table per instrument, paired comparisons, compute."""
    c, costs = result.config, result.settings.costs
    L = [f"## Walk-forward out-of-sample evaluation ({c.years[0]}-{c.years[1]})", "", *protocol_lines(result), ""]
    for inst in result.instruments:
        ev = inst.evaluation
        L += [f"### {ev.symbol} {ev.interval}: {ev.first:%Y-%m-%d} .. {ev.last:%Y-%m-%d} ({ev.n_bars:,} bars, "
              f"{ev.source})", "",
              f"| strategy | seeds | net Sharpe [{CI_LEVEL} % CI] | PSR | DSR (N = {result.n_trials}) | max drawdown | "
              f"log-loss − null [{CI_LEVEL} % CI] |", "|---|---|---|---|---|---|---|"]
        for v in c.variants:
            s = inst.variants[v.name]
            L.append(_table_row(v.name, str(s["n_seeds"]), s["mean"], s["sd"] if s["n_seeds"] > 1 else None))
        L += [_table_row(r.name, "—", run_stats(r, None), None) for r in ev.runs if r.kind == "rule baseline"]
        L += ["", f"Variant rows: mean ± sd over seeds; brackets: the mean over seeds of each run's {CI_LEVEL} % "
                  f"stationary-bootstrap interval. DSR: {dsr_variance_text(ev)}.", "",
              f"**Every trial counted.** {snooping_sentence(inst.snooping, result.n_trials)}", ""]
    paired = [(inst.symbol, p) for inst in result.instruments for p in inst.paired]
    if paired:
        L += [f"### Paired with {REFERENCE} (same days, same windows)", "",
              f"| instrument | variant | Δ net Sharpe [{CI_LEVEL} % CI] | Δ log-loss per window [{CI_LEVEL} % CI] | "
              "days | windows |", "|---|---|---|---|---|---|"]
        for sym, p in paired:
            sharpe = f"{_num(p['sharpe_diff'], '+.2f')} [{', '.join(_num(x, '+.2f') for x in p['sharpe_diff_ci'])}]"
            ll = f"{_num(p['logloss_diff'], '+.4f')} [{', '.join(_num(x, '+.4f') for x in p['logloss_diff_ci'])}]"
            L.append(f"| {sym} | {p['variant']} | {sharpe} | {ll} | {p['days']:,} | {p['windows']:,} |")
        L += ["", "Δ = variant − default, mean over seeds; one set of stationary-bootstrap indices resamples the "
                  "days (windows) of both sides, so their shared market moves cancel.", ""]
    L += depth_lines(result)
    comp = _compute(result)
    secs = pd.DataFrame([{"variant": f["variant"], "year": f["year"], "s": f.get("train_seconds")}
                         for f in result.folds]).pivot_table(index="variant", columns="year", values="s",
                                                             aggfunc="mean", sort=False)
    L += ["### Compute", "",
          f"Total wall time {comp['wall_seconds']:,.0f} s for {comp['folds']} folds ({comp['trained']} trained, "
          f"{comp['from_checkpoint']} from saved checkpoints, {comp['cached']} cached) on {comp['backend']}; "
          f"training time summed over all folds {comp['train_seconds_total']:,.0f} s. Costs "
          f"{costs.total_bps:g} bps per unit of turnover; fills: {execution_text(costs.execution)}.", "",
          "Train seconds per fold (mean over seeds):", "",
          "| variant | " + " | ".join(map(str, secs.columns)) + " |", "|---" * (len(secs.columns) + 1) + "|"]
    L += ["| " + " | ".join([str(name), *(_num(x, ".0f") for x in row)]) + " |" for name, row in secs.iterrows()]
    L += ["", f"Command: `{result.command}`", ""]
    return "\n".join(L)


def depth_lines(result: WalkForwardResult) -> list[str]:
    """The reference model's reasoning depth over the walk-forward years, one row per instrument."""
    rows = [(inst.symbol, inst.depth) for inst in result.instruments if inst.depth]
    if not rows:
        return []
    L = [f"### Reasoning depth of {REFERENCE} over the years", "",
         "| instrument | inference mode(s) | segments 1 / 2 / ... (all seeds) | depth-volatility rho [95 % CI] | "
         "log-loss as run / depth 1 / max depth | max depth − depth 1 [95 % CI] | as run − max depth [95 % CI] | "
         "same action as max depth |", "|---|---|---|---|---|---|---|---|"]
    for sym, d in rows:
        corr = d["depth_volatility_corr"]
        rho = (f"{_num(corr['value'], '+.2f')} [{', '.join(_num(x, '+.2f') for x in corr['ci'])}]"
               if np.isfinite(corr["value"]) else f"undefined ({corr.get('note') or 'depth constant'})")
        ll = " / ".join(_num(d["logloss"][k], ".4f") for k in ("as_run", "depth_1", "max_depth"))
        diff = lambda k: (f"{_num(d['differences'][k]['mean'], '+.4f')} "  # noqa: E731
                          f"[{', '.join(_num(x, '+.4f') for x in d['differences'][k]['ci'])}]")
        L.append(f"| {sym} | {', '.join(d['inference_modes'])} | "
                 f"{' / '.join(str(v) for v in d['segments_histogram'].values())} | {rho} | {ll} | "
                 f"{diff('max_depth_minus_depth_1')} | {diff('as_run_minus_max_depth')} | "
                 f"{100 * d['action_agreement']:.1f} % |")
    L += ["", f"Each fold's inference mode is chosen on its own validation years; {rows[0][1]['note']}.", ""]
    return L


def write_docs(result: WalkForwardResult, md_path: str | Path = "docs/results.md",
               json_path: str | Path | None = None) -> tuple[Path, Path]:
    """The "walk-forward" section of md_path (other sections kept) and its JSON (default: walkforward.json beside)."""
    md = update_section(md_path, SECTION, render_markdown(result))
    js = Path(json_path) if json_path is not None else md.parent / "walkforward.json"
    js.write_text(json.dumps(to_json(result), indent=2, allow_nan=False))
    return md, js


__all__ = ["DEFAULT_VARIANTS", "FoldJob", "InstrumentWalkForward", "JSON_KEYS", "MODEL_SIZES", "REFERENCE", "SECTION",
           "STAT_KEYS", "Variant", "WalkForwardConfig", "WalkForwardError", "WalkForwardResult", "command_for",
           "fold_key", "fold_periods", "paired_logloss_difference", "paired_sharpe_difference", "plan_folds",
           "read_fold", "render_markdown", "compute_fold", "run_fold", "store_fold", "run_walk_forward",
           "select_variants", "sized", "to_json", "write_docs"]
