"""User settings: defaults in code, overridden by `hrm.toml` at the project root (or $HRM_SETTINGS)."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class DataSettings:
    cache_db: str = "data_cache/market.db"
    sample_dir: str = "data_cache/sample"
    models_dir: str = "models"
    max_age_hours: float = 12.0
    default_symbols: tuple[str, ...] = ("^GSPC", "^IXIC")
    default_interval: str = "1d"

    def path(self, name: str) -> Path:
        """Resolve a path setting relative to the project root (absolute paths pass through)."""
        p = Path(getattr(self, name))
        return p if p.is_absolute() else PROJECT_ROOT / p


@dataclass(frozen=True)
class CostSettings:
    commission_bps: float = 1.0  # per unit of turnover
    slippage_bps: float = 2.0

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


@dataclass(frozen=True)
class Settings:
    data: DataSettings = field(default_factory=DataSettings)
    costs: CostSettings = field(default_factory=CostSettings)
    risk: RiskSettings = field(default_factory=RiskSettings)
    source: str = "defaults"  # which file the values came from, shown in the UI


def _section(cls, values: dict):
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)} in [{cls.__name__}]; known: {sorted(known)}")
    cleaned = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return replace(cls(), **cleaned)


def load_settings(path: str | os.PathLike | None = None) -> Settings:
    """Read settings from `path`, $HRM_SETTINGS, or ./hrm.toml; missing file -> defaults."""
    path = Path(path or os.environ.get("HRM_SETTINGS") or PROJECT_ROOT / "hrm.toml")
    if not path.exists():
        return Settings()
    with open(path, "rb") as fh:
        raw = tomllib.load(fh)
    return Settings(
        data=_section(DataSettings, raw.get("data", {})),
        costs=_section(CostSettings, raw.get("costs", {})),
        risk=_section(RiskSettings, raw.get("risk", {})),
        source=str(path),
    )
