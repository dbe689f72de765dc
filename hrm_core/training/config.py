"""A training run's configuration: the fields stored in checkpoints and cards, their checks, and the command
line that reproduces them. No torch here: the Train page builds its form from it before anything trains."""
from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, fields
from typing import Mapping

import pandas as pd

from hrm_core.data.features import FEATURE_NAMES
from hrm_core.errors import ModelError
from hrm_core.model.config import TIMEFRAMES, ModelConfig, get_preset

EARLY_STOP_METRICS = ("val_logloss", "val_net_sharpe")
CLASS_WEIGHTINGS = ("none", "balanced")


class TrainingError(ModelError):
    """A training run cannot start: bad periods, too little data, an unknown option."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; stored in the checkpoint and its card."""

    preset: str = "default"
    overrides: tuple[tuple[str, object], ...] = ()  # ModelConfig field overrides, e.g. (("act", False),)
    symbols: tuple[str, ...] = ("^GSPC", "^IXIC")
    intervals: tuple[str, ...] = ("1d",)
    train_start: str = "1999-01-01"
    train_end: str = "2012-12-31"
    val_start: str = "2013-01-01"
    val_end: str = "2015-12-31"
    test_start: str = "2016-01-01"
    test_end: str = "2018-12-31"
    horizon: int = 1  # label horizon in bars (1: chosen on validation, scripts/label_experiments.py)
    threshold_k: float = 0.5  # flat band: |fwd| <= k * sigma * sqrt(horizon) is "flat"; 0 makes labels 2-class
    vol_lookback: int = 20
    purge_bars: int | None = None  # bars dropped before each boundary; None = horizon; must be >= horizon
    stride: int = 1  # keep every stride-th training window (1 = all; larger = faster, for smoke runs)
    epochs: int = 12
    batch_size: int = 128
    lr: float = 1e-3
    min_lr_frac: float = 0.1  # cosine decays to lr * min_lr_frac
    warmup_frac: float = 0.05  # share of all batches spent warming up linearly
    weight_decay: float = 0.05
    grad_clip: float = 1.0
    w_policy: float = 1.0
    w_value: float = 0.5
    w_sizing: float = 0.2
    risk_aversion: float = 3.0  # gamma of the sizing utility mean(pnl) - gamma/2 var(pnl)
    w_q: float = 0.5
    cost_bps: float | None = None  # per unit of turnover; None = settings commission + slippage
    class_weighting: str = "none"  # "balanced": cross-entropy weights n / (3 n_class) from the training labels
    soft_direction: bool = False  # sizing utility on (p_long - p_short) x size, its gradient reaching the policy
    early_stop: str = "val_logloss"  # or "val_net_sharpe"
    select_depth: bool = False  # choose the shipped inference mode (adaptive / fixed k / max) on validation log-loss
    unroll_segments: bool = False  # one optimiser step per batch through all its segments (carry graph kept)
    patience: int = 3  # epochs without improvement before stopping
    seed: int = 0
    device: str = "auto"  # "auto" (cuda if present), "cpu", "cuda"

    def __post_init__(self) -> None:
        object.__setattr__(self, "symbols", tuple(s.strip().upper() for s in self.symbols))
        object.__setattr__(self, "intervals", tuple(self.intervals))
        object.__setattr__(self, "overrides", tuple((str(k), v) for k, v in dict(self.overrides).items()))
        if not self.symbols or not self.intervals:
            raise TrainingError("choose at least one instrument and one interval")
        bad = [iv for iv in self.intervals if iv not in TIMEFRAMES]
        if bad:
            raise TrainingError(f"unknown interval(s) {bad}; use {sorted(TIMEFRAMES)}")
        if self.horizon < 1:
            raise TrainingError(f"horizon must be >= 1 bar, got {self.horizon}")
        if self.purge_bars is not None and self.purge_bars < self.horizon:
            raise TrainingError(f"purge_bars ({self.purge_bars}) must be >= the label horizon ({self.horizon}): "
                                "a shorter gap lets training labels see validation prices")
        for name in ("epochs", "batch_size", "stride", "patience"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.class_weighting not in CLASS_WEIGHTINGS:
            raise TrainingError(f"class_weighting must be one of {CLASS_WEIGHTINGS}, got {self.class_weighting!r}")
        if self.early_stop not in EARLY_STOP_METRICS:
            raise TrainingError(f"early_stop must be one of {EARLY_STOP_METRICS}, got {self.early_stop!r}")
        try:
            b = [pd.Timestamp(getattr(self, k)) for k in
                 ("train_start", "train_end", "val_start", "val_end", "test_start", "test_end")]
        except (ValueError, TypeError) as exc:
            raise TrainingError(f"cannot read a period date ({exc}); use dates like 2012-12-31") from None
        if not (b[0] <= b[1] < b[2] <= b[3] < b[4] <= b[5]):
            raise TrainingError("periods must be ordered: train_start <= train_end < val_start <= val_end "
                                f"< test_start <= test_end, got {self.periods()}")

    @property
    def purge(self) -> int:
        return self.horizon if self.purge_bars is None else self.purge_bars

    def periods(self) -> dict:
        """JSON-ready periods; the evaluation backtests exactly `test`."""
        return {"train": [self.train_start, self.train_end], "validation": [self.val_start, self.val_end],
                "test": [self.test_start, self.test_end], "purge_bars": self.purge, "horizon": self.horizon}

    def model_config(self) -> ModelConfig:
        """The preset with n_features set to this code's features and the overrides applied."""
        return get_preset(self.preset, **{"n_features": len(FEATURE_NAMES), **dict(self.overrides)})

    def to_dict(self) -> dict:
        d = asdict(self)
        for flag in ("select_depth", "unroll_segments"):  # absent at their defaults: runs keyed before the
            if not getattr(self, flag):                  # fields existed keep their keys
                d.pop(flag)
        d["overrides"] = {k: v for k, v in self.overrides}
        d["symbols"], d["intervals"] = list(self.symbols), list(self.intervals)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if "overrides" in d:
            d["overrides"] = tuple(dict(d["overrides"]).items())
        return cls(**d)


def parse_overrides(items: list[str] | tuple[str, ...]) -> dict[str, object]:
    """['h_cycles=1', 'act=False'] -> {'h_cycles': 1, 'act': False}, typed like the ModelConfig field."""
    defaults = {f.name: f.default for f in fields(ModelConfig)}
    out: dict[str, object] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or key not in defaults:
            raise TrainingError(f"bad override {item!r}: use key=value with a ModelConfig key from {sorted(defaults)}")
        kind = type(defaults[key])
        if kind is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise TrainingError(f"override {key} needs true or false, got {raw!r}")
            out[key] = raw.lower() in ("true", "1")
        else:
            try:
                out[key] = kind(raw)
            except ValueError:
                raise TrainingError(f"override {key} needs a {kind.__name__}, got {raw!r}") from None
    return out


def train_command(cfg: TrainConfig, name: str | None = None) -> str:
    """The `hrm train` command line that reproduces this configuration (written into model cards)."""
    base = TrainConfig()
    parts = ["hrm", "train", "--preset", cfg.preset, "--symbols", *cfg.symbols, "--interval", *cfg.intervals]
    flags = {"epochs": "--epochs", "train_start": "--train-start", "train_end": "--train-end",
             "val_start": "--val-start", "val_end": "--val-end", "test_start": "--test-start",
             "test_end": "--test-end", "horizon": "--horizon", "threshold_k": "--threshold-k",
             "purge_bars": "--purge-bars", "stride": "--stride", "batch_size": "--batch-size", "lr": "--lr",
             "seed": "--seed", "early_stop": "--early-stop", "patience": "--patience", "cost_bps": "--cost-bps",
             "class_weighting": "--class-weighting", "soft_direction": "--soft-direction"}
    for key, flag in flags.items():
        value = getattr(cfg, key)
        if key == "epochs" or value != getattr(base, key):
            parts += [flag] if value is True else [flag, str(value)]
    if cfg.overrides:
        parts += ["--override", *(f"{k}={v}" for k, v in cfg.overrides)]
    if name:
        parts += ["--out", name]
    return " ".join(shlex.quote(p) for p in parts)


def default_name(cfg: TrainConfig) -> str:
    """A model name when none is given: preset + UTC time, e.g. default-20250101-120000."""
    return f"{cfg.preset}-{pd.Timestamp.now(tz='UTC'):%Y%m%d-%H%M%S}"
