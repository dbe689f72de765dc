"""The trial registry: how many strategies were tried on an evaluation period, in one file.

The deflated Sharpe ratio (REFERENCE "Deflated Sharpe Ratio") needs N, the number of
configurations tried on the period before one was shown. N lives in one committed file,
`docs/trials.json` (setting `[data] trials_file`), one entry per strategy tried per period:

    {"strategy": "hrm-default", "kind": "model", "configurations": 1,
     "instruments": ["^GSPC", "^IXIC"], "interval": "1d",
     "start": "2016-01-01", "end": "2018-12-31", "note": "..."}

An entry counts configurations x len(instruments) trials (each backtest of each
configuration on each instrument is one trial, as the report always counted them). Every DSR
(`hrm evaluate` / docs/results.md, `hrm backtest`, the Performance page) takes
N = max(registered N for the period, strategies evaluated in the call + declared extras), so
the same period gives the same N wherever it is shown. An entry counts for every evaluated
period that OVERLAPS its own (same interval): a sub-period of a registered test period (e.g.
from the first actual bar, or any From/To inside it) was searched over just as much, so it
keeps the deflation. A period overlapping no entry counts only what the call evaluates, and
the evaluation says so.

Entries of kind "synthetic" (the known-answer runs of `benchmarks.edge_power`, on generated series whose
dates overlap real test periods) are registered like any trial but never counted for real data.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from hrm_core.errors import HRMError

KEYS = ("strategy", "kind", "configurations", "instruments", "interval", "start", "end")
SYNTHETIC_KIND = "synthetic"  # trials on generated data: registered, never deflating a real-data Sharpe


class TrialRegistryError(HRMError, ValueError):
    """The trial registry is not valid JSON or an entry misses a key or has a wrong value."""


@dataclass(frozen=True)
class TrialEntry:
    strategy: str
    kind: str
    configurations: int
    instruments: tuple[str, ...]
    interval: str
    start: str
    end: str
    note: str = ""

    @property
    def trials(self) -> int:
        """Backtests this entry stands for: each configuration on each instrument."""
        return self.configurations * len(self.instruments)


@dataclass(frozen=True)
class TrialCount:
    n: int  # registered trials on the period (0 when the period is not registered)
    entries: tuple[TrialEntry, ...]
    source: str  # the registry file

    @property
    def registered(self) -> bool:
        return self.n > 0

    @property
    def instruments(self) -> tuple[str, ...]:
        """The instruments the counted entries cover (sorted, each once)."""
        return tuple(sorted({i for e in self.entries for i in e.instruments}))


def _entry(raw: dict, i: int, path: Path) -> TrialEntry:
    missing = [k for k in KEYS if k not in raw]
    if missing:
        raise TrialRegistryError(f"{path}: trial #{i + 1} misses {missing}; every entry needs {list(KEYS)}")
    conf = raw["configurations"]
    if not isinstance(conf, int) or conf < 1 or not raw["instruments"]:
        raise TrialRegistryError(f"{path}: trial #{i + 1} ({raw['strategy']}) needs configurations >= 1 and at least "
                                 "one instrument")
    return TrialEntry(strategy=str(raw["strategy"]), kind=str(raw["kind"]), configurations=conf,
                      instruments=tuple(map(str, raw["instruments"])), interval=str(raw["interval"]),
                      start=str(raw["start"]), end=str(raw["end"]), note=str(raw.get("note", "")))


def load_registry(path: str | Path) -> list[TrialEntry]:
    """Every entry of the registry file; a missing file is an empty registry."""
    p = Path(path)
    if not p.exists():
        return []
    try:
        data = json.loads(p.read_text())
    except (json.JSONDecodeError, OSError) as exc:
        raise TrialRegistryError(f"cannot read the trial registry {p}: {exc}") from exc
    return [_entry(raw, i, p) for i, raw in enumerate(data.get("trials", []))]


def _day(v, default: pd.Timestamp) -> pd.Timestamp:
    return default if v is None or (isinstance(v, str) and not v.strip()) else pd.Timestamp(v).normalize()


def overlaps(entry: TrialEntry, start: str | None, end: str | None) -> bool:
    """True if the entry's inclusive [start, end] dates and the evaluated [start, end] share a day
    (None = open end)."""
    lo, hi = _day(start, pd.Timestamp.min), _day(end, pd.Timestamp.max)
    return pd.Timestamp(entry.start).normalize() <= hi and pd.Timestamp(entry.end).normalize() >= lo


def trials_for(path: str | Path, *, interval: str, start: str | None, end: str | None) -> TrialCount:
    """The registered real-data trials on this period: every entry of the same interval whose period
    overlaps the evaluated [start, end] (inclusive dates, None = open), each counting configurations x
    instruments; synthetic entries never count."""
    hits = tuple(e for e in load_registry(path)
                 if e.kind != SYNTHETIC_KIND and e.interval == interval and overlaps(e, start, end))
    return TrialCount(n=sum(e.trials for e in hits), entries=hits, source=str(path))


def register(path: str | Path, entries: list[dict]) -> Path:
    """Add `entries` to the registry file, each replacing an entry of the same strategy name (a rerun)."""
    p = Path(path)
    for i, raw in enumerate(entries):
        _entry(raw, i, p)  # refuse a malformed entry before touching the file
    data = json.loads(p.read_text()) if p.exists() else {"trials": []}
    names = {e["strategy"] for e in entries}
    data["trials"] = [t for t in data.get("trials", []) if t.get("strategy") not in names] + list(entries)
    head = "".join(f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)},\n" for k, v in data.items() if k != "trials")
    rows = ",\n".join(f"    {json.dumps(t, ensure_ascii=False)}" for t in data["trials"])  # one line per entry
    tmp = p.with_suffix(".tmp")
    tmp.write_text("{\n" + head + '  "trials": [\n' + rows + "\n  ]\n}\n")
    tmp.replace(p)  # atomic: a crash leaves the old registry whole
    return p


def registry_path(settings) -> Path:
    return settings.data.path("trials_file")


__all__ = ["SYNTHETIC_KIND", "TrialCount", "TrialEntry", "TrialRegistryError", "load_registry", "overlaps", "register",
           "registry_path", "trials_for"]
