"""User settings: defaults in code, overridden by `hrm.toml` at the project root (or $HRM_SETTINGS).

Every section of `Settings` is a dataclass; `load_settings` checks the file against their
field annotations generically (a new section needs no new parsing code): an unknown
section or key, a wrong type (`max_age_hours = "twelve"`, `vol_lookback = 2.5`,
`default_symbols = "^GSPC"` where a list is expected) or invalid TOML raises
SettingsError naming the file, the key, the expected type and the value found. A file
named by `--settings` or $HRM_SETTINGS must exist; only the implicit ./hrm.toml may be missing.
"""
from __future__ import annotations

import dataclasses
import math
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from hrm_core.errors import HRMError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(HRMError, ValueError):
    """The settings file is missing, not TOML, or holds an unknown key or a value of the wrong type."""


@dataclass(frozen=True)
class DataSettings:
    cache_db: str = "data_cache/market.db"
    sample_dir: str = "data_cache/sample"
    models_dir: str = "models"
    trials_file: str = "docs/trials.json"  # the trial registry every deflated Sharpe ratio reads (hrm_core/evaluation/trials.py)
    max_age_hours: float = 12.0
    default_symbols: tuple[str, ...] = ("^GSPC", "^IXIC")
    default_interval: str = "1d"
    cache_timeout_s: float = 10.0  # how long to wait for a cache another process holds; paid at most once per load

    def __post_init__(self) -> None:
        if not 0.0 <= self.cache_timeout_s <= 600.0:  # a huge wait would make a locked cache hang every command
            raise SettingsError(f"cache_timeout_s must be between 0 and 600 seconds, got {self.cache_timeout_s!r}")
        _at_least(self, 0.0, "max_age_hours")

    def path(self, name: str) -> Path:
        """Resolve a path setting relative to the project root (absolute paths pass through)."""
        p = Path(getattr(self, name))
        return p if p.is_absolute() else PROJECT_ROOT / p


@dataclass(frozen=True)
class CostSettings:
    commission_bps: float = 1.0  # per unit of turnover
    slippage_bps: float = 2.0
    # Where a target decided at the close of bar t is filled (hrm_core.trading.backtest): "next_open" = the open
    # of bar t+1 (default, realistic for a daily model), "close" = market-on-close at the close it read.
    # One setting for backtest, evaluation, reports, the risk layer's brake and the live path.
    execution: str = "next_open"

    def __post_init__(self) -> None:
        if self.execution not in ("next_open", "close"):
            raise SettingsError(f"[costs] execution must be \"next_open\" or \"close\", got {self.execution!r}")
        _at_least(self, 0.0, "commission_bps", "slippage_bps")  # a negative cost would pay the strategy to trade

    @property
    def total_bps(self) -> float:
        return self.commission_bps + self.slippage_bps


@dataclass(frozen=True)
class RiskSettings:
    max_abs_position: float = 1.0
    vol_target_annual: float = 0.0  # 0 = off
    vol_lookback: int = 20
    drawdown_brake: float = 0.0  # 0 = off
    drawdown_brake_scale: float = 0.5

    def __post_init__(self) -> None:  # the risk layer's own limits (hrm_core.trading.risk), checked when the settings are read
        if not 0 < self.max_abs_position <= 1:
            raise SettingsError(f"max_abs_position must be in (0, 1], got {self.max_abs_position!r}: positions are "
                                "fractions of equity and the backtest allows no leverage")
        if self.vol_target_annual < 0 or self.vol_lookback < 2:
            raise SettingsError(f"vol_target_annual must be >= 0 (0 = off) and vol_lookback >= 2 bars, got "
                                f"{self.vol_target_annual!r} and {self.vol_lookback!r}")
        if not 0 <= self.drawdown_brake < 1:
            raise SettingsError(f"drawdown_brake must be in [0, 1) (0 = off), e.g. 0.15 for -15 %; got "
                                f"{self.drawdown_brake!r}")
        if not 0 <= self.drawdown_brake_scale <= 1 or (self.drawdown_brake > 0 and self.drawdown_brake_scale == 0):
            raise SettingsError(f"drawdown_brake_scale must be in (0, 1] when the brake is on, got "
                                f"{self.drawdown_brake_scale!r}: at 0 the book goes flat and its equity can never "
                                "recover to release the brake")


@dataclass(frozen=True)
class HealthSettings:
    """Alert thresholds of `hrm health` (hrm_core.live.monitor); amber < red for each rule."""

    drift_amber_rate: float = 0.05  # family-wise false-alarm rate of an amber drift verdict on in-distribution data
    drift_red_rate: float = 0.01  # ... and of a red one (hrm_core.live.drift: calibrated nulls, weighted Bonferroni)
    drift_window: int = 250  # drift compares the newest this-many decisions with the reference
    min_drift_bars: int = 30  # fewer decisions than this: drift is reported but raises no alert
    perf_window: int = 60  # realised performance: the newest this-many decisions whose label has arrived
    min_perf_decisions: int = 20  # fewer matured decisions: performance is reported but raises no alert
    perf_amber_sd: float = 2.0  # realised log-loss / return per risk this many reference sd worse than usual
    perf_red_sd: float = 3.0
    latency_p95_amber_ms: float = 250.0  # decision latency (signal + risk + fill, no data load) p95 above this
    latency_p95_red_ms: float = 1000.0
    nonfinite_red_share: float = 0.05  # any non-finite model output is amber; this share of decisions is red
    fallback_red_share: float = 0.5  # live decisions served by the sample / a stale cache: any amber, this share red
    stale_amber_bars: int = 1  # live ledger: this many bars the trading calendar expects are missing -> amber
    stale_red_bars: int = 2
    stale_grace_minutes: float = 30.0  # a bar counts as expected this long after it completes (vendor delay)

    def __post_init__(self) -> None:
        _at_least(self, 0.0, "latency_p95_amber_ms", "latency_p95_red_ms", "stale_amber_bars", "stale_red_bars",
                  "min_drift_bars", "min_perf_decisions", "perf_amber_sd", "perf_red_sd", "stale_grace_minutes")
        _at_least(self, 1.0, "drift_window", "perf_window")
        _fractions(self, "drift_amber_rate", "drift_red_rate", "nonfinite_red_share", "fallback_red_share")
        for low, high in (("drift_red_rate", "drift_amber_rate"), ("perf_amber_sd", "perf_red_sd"),
                          ("latency_p95_amber_ms", "latency_p95_red_ms"), ("stale_amber_bars", "stale_red_bars")):
            if getattr(self, low) > getattr(self, high):
                raise SettingsError(f"{low} = {getattr(self, low)!r} is above {high} = {getattr(self, high)!r}: "
                                    f"{low} must be <= {high} (red is the rarer, stronger alarm)")


@dataclass(frozen=True)
class ComputeSettings:
    """Where sweeps run (hrm_core.compute.executors); the --cluster flag and $DASK_SCHEDULER_ADDRESS come first."""

    cluster: str = ""  # Dask scheduler address, e.g. "tcp://10.0.0.5:8786"; empty = local processes

    def __post_init__(self) -> None:
        if self.cluster and "://" not in self.cluster:
            raise SettingsError(f"cluster must be a scheduler address such as tcp://HOST:8786, got {self.cluster!r}")


@dataclass(frozen=True)
class AlertSettings:
    """Where `hrm health` (a verdict change) and `hrm live --loop` (a paper fill) send a message
    (hrm_core.live.alerts): a webhook taking a JSON POST (Slack / Discord incoming webhooks) and / or a command."""

    webhook: str = ""  # e.g. "https://hooks.slack.com/services/..."; empty = off
    command: str = ""  # run with the message on stdin and in $HRM_ALERT_TEXT, e.g. "notify-send HRM"; empty = off
    timeout_s: float = 5.0  # per attempt
    retries: int = 2  # further attempts after a failed one (1 s, 2 s, ... apart)

    def __post_init__(self) -> None:
        if self.webhook and not self.webhook.startswith(("http://", "https://")):
            raise SettingsError(f"webhook must be an http:// or https:// address, got {self.webhook!r}")
        if not 0 < self.timeout_s <= 60:
            raise SettingsError(f"timeout_s must be between 0 and 60 seconds, got {self.timeout_s!r}")
        if not 0 <= self.retries <= 10:
            raise SettingsError(f"retries must be between 0 and 10, got {self.retries!r}")


def _at_least(section: Any, low: float, *names: str) -> None:
    for name in names:
        if not getattr(section, name) >= low:
            raise SettingsError(f"{name} must be >= {low:g}, got {getattr(section, name)!r}")


def _fractions(section: Any, *names: str) -> None:
    for name in names:
        if not 0.0 <= getattr(section, name) <= 1.0:
            raise SettingsError(f"{name} is a fraction and must be between 0 and 1, got {getattr(section, name)!r}")


@dataclass(frozen=True)
class Settings:
    data: DataSettings = field(default_factory=DataSettings)
    costs: CostSettings = field(default_factory=CostSettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    compute: ComputeSettings = field(default_factory=ComputeSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    source: str = "defaults"  # which file the values came from, shown in the UI


# ----------------------------------------------------------------------------- typed parsing

def _type_name(tp: Any) -> str:
    """'a number', 'a list of strings', ... for messages."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return "true or false"
    if tp is int:
        return "a whole number"
    if tp is float:
        return "a number"
    if tp is str:
        return "a string"
    if origin in (tuple, list) and args:
        return f"a list of {_type_name(args[0]).removeprefix('a ').removeprefix('an ')}s"
    if origin is dict:
        return "a table"
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    return getattr(tp, "__name__", str(tp))


def _show(value: Any) -> str:
    """The value as the user wrote it, short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check `value` (from TOML) against annotation `tp`; return it in the field's type or raise SettingsError."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    fail = SettingsError(f"{where} must be {_type_name(tp)}, got {_show(value)} ({type(value).__name__})")
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, option, where)
            except SettingsError:
                continue
        raise fail
    if origin is typing.Literal:
        if value in args:
            return value
        raise fail
    if tp is bool or tp is str:
        if isinstance(value, tp):
            return value
        raise fail
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise fail
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
        raise fail
    if origin in (tuple, list):
        if not isinstance(value, list):  # a bare string would become a list of characters
            raise fail
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise fail
        kt, vt = args if args else (Any, Any)
        return {_coerce(k, kt, where): _coerce(v, vt, f"{where}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail
        return _section(tp, value, where)
    raise SettingsError(f"{where}: the code declares an unsupported setting type {tp!r}")  # a bug, said plainly


def _section(cls: type, values: dict, where: str) -> Any:
    """One [section] -> an instance of its dataclass, every key checked against the field's annotation."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SettingsError(f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    try:
        return cls(**kwargs)
    except (HRMError, ValueError, TypeError) as exc:  # a section's own range checks (__post_init__)
        raise SettingsError(f"{where}: {exc}") from None


def _sections() -> dict[str, type]:
    """Settings fields that are sections: {name: dataclass}, read from the annotations (new sections included)."""
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in fields(Settings) if dataclasses.is_dataclass(hints[f.name])}


def parse_settings(raw: dict, source: str) -> Settings:
    """A TOML document (as a dict) -> Settings; SettingsError naming `source`, the key, the type and the value."""
    sections = _sections()
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise SettingsError(f"{source}: unknown section(s) {', '.join(f'[{u}]' for u in unknown)}; "
                            f"known: {', '.join(f'[{s}]' for s in sections)}")
    parsed = {}
    for name, cls in sections.items():
        values = raw.get(name, {})
        if not isinstance(values, dict):
            raise SettingsError(f"{source}: {name} must be a [{name}] section, got {_show(values)}")
        parsed[name] = _section(cls, values, f"{source}: {name}")
    return Settings(**parsed, source=source)


def _settings_path(path: str | os.PathLike | None) -> tuple[Path, bool]:
    """(file, required): an explicit path or $HRM_SETTINGS must exist; the implicit ./hrm.toml may be missing."""
    if path:
        return Path(path), True
    env = os.environ.get("HRM_SETTINGS", "").strip()
    if env:
        return Path(env), True
    return PROJECT_ROOT / "hrm.toml", False


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read settings from `path`, $HRM_SETTINGS, or ./hrm.toml (that one may be missing: defaults)."""
    file, required = _settings_path(path)
    if not file.exists():
        if required:
            via = "--settings" if path else "$HRM_SETTINGS"
            raise SettingsError(f"settings file {file} (from {via}) does not exist; fix the path or unset it "
                                "to use ./hrm.toml and the defaults")
        return Settings()
    try:
        with open(file, "rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {file} is not valid TOML: {exc}; fix that line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read settings file {file}: {exc}") from None
    return parse_settings(raw, str(file))
