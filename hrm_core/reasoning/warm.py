"""Fill the engine's persistent stores before anyone asks: the signal cache of every checkpoint in models/ on
the default instruments (Signals, Performance and the DSR's trials read it) and the default model's period
diagnostics (results.db). Each result is keyed by model fingerprint and data hash, so a filled store survives
restarts and a changed model or data set simply computes again; every computation goes through single flight,
so a page asking meanwhile waits for it instead of repeating it.

Run by `hrm warm` (the dashboard's `make run` does it before serving) and by the dashboard's start-up thread.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from hrm_core.errors import HRMError
from hrm_core.settings import Settings


@dataclass
class WarmProgress:
    done: int = 0
    total: int = 0
    current: str = "starting"
    finished: bool = False
    seconds: float = 0.0
    filled: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def line(self) -> str | None:
        if self.finished:
            return None
        return f"Preparing results in the background: {self.done} of {self.total or '...'} ({self.current})"

    def to_dict(self) -> dict:
        return {"done": self.done, "total": self.total, "seconds": round(self.seconds, 1), "filled": self.filled,
                "problems": self.problems}


def warm_stores(settings: Settings, progress: WarmProgress | None = None,
                symbols: tuple[str, ...] | None = None) -> WarmProgress:
    """Fill the stores for `symbols` (default: the settings' default instruments); never raises a data or model
    error (it is kept in `problems`: a warm-up only saves time)."""
    from hrm_core.data.market import load_bars
    from hrm_core.model.checkpoint import list_checkpoints, load_checkpoint
    from hrm_core.reasoning.diagnostics import diagnose_period
    from hrm_core.storage.results import ResultStore, results_db_path
    from hrm_core.trading.signals import generate_signals, signals_db_path

    progress = progress or WarmProgress()
    t0 = time.perf_counter()
    try:
        cards = list_checkpoints(settings.data.path("models_dir"))
        symbols, interval = tuple(symbols or settings.data.default_symbols), settings.data.default_interval
        progress.total = len(symbols) * (len(cards) + 1) if cards else 0
        for symbol in symbols:
            bars = load_bars(symbol, interval, settings=settings).bars
            for i, card in enumerate(cards):
                progress.current = f"{card.name} signals on {symbol}"
                loaded = load_checkpoint(card.path)
                generate_signals(loaded, bars, symbol=symbol, interval=interval, cache=signals_db_path(settings))
                progress.filled.append(progress.current)
                progress.done += 1
                if i == 0:  # the default model (the sidebar's first): its diagnostics too
                    progress.current = f"{card.name} diagnostics on {symbol}"
                    diagnose_period(loaded, bars, symbol=symbol, interval=interval, settings=settings,
                                    store=ResultStore(results_db_path(settings)))
                    progress.filled.append(progress.current)
                    progress.done += 1
    except (HRMError, OSError, ValueError) as exc:
        progress.problems.append(str(exc))
    finally:
        progress.seconds = time.perf_counter() - t0
        progress.finished = True
    return progress


__all__ = ["WarmProgress", "warm_stores"]
