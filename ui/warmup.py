"""Start-up warm-up: once per server process, after the first page has painted, fill the engine's persistent
stores for the shipped models on the default instruments, so first visits read instead of compute.

What it fills (each keyed by model fingerprint and data hash, so a restart does not recompute): the signal
cache (every checkpoint in models/: Signals, Performance and the DSR's trials read it) and the period
diagnostics of the default model (results.db). Both go through single flight: a page that asks for the same
result meanwhile waits for this computation instead of running its own. Progress is shared for the sidebar.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

ENV = "HRM_WARM_UP"  # "0": import only, fill no store (the in-process test suite sets it)


@dataclass
class Progress:
    done: int = 0
    total: int = 0
    current: str = "starting"
    finished: bool = False
    problems: list[str] = field(default_factory=list)

    def line(self) -> str | None:
        if self.finished:
            return None
        return f"Preparing results in the background: {self.done} of {self.total or '...'} ({self.current})"


def warm(progress: Progress) -> None:
    """Import what the other pages need, then fill the stores; errors are kept, never raised (a warm-up only)."""
    import explain  # noqa: F401  (about 1.5 s of imports the first switch would otherwise pay)
    import hrm_core.evaluation.evaluate  # noqa: F401
    import hrm_core.live.monitor  # noqa: F401
    import hrm_core.training.train  # noqa: F401
    from hrm_core.data.market import load_bars
    from hrm_core.errors import HRMError
    from hrm_core.model.checkpoint import list_checkpoints, load_checkpoint
    from hrm_core.reasoning.diagnostics import diagnose_period
    from hrm_core.settings import load_settings
    from hrm_core.storage.results import ResultStore, results_db_path
    from hrm_core.trading.signals import generate_signals, signals_db_path

    try:
        if os.environ.get(ENV, "1") == "0":  # imports only (in-process tests)
            return
        s = load_settings()
        cards = list_checkpoints(s.data.path("models_dir"))
        symbols, interval = s.data.default_symbols, s.data.default_interval
        progress.total = len(symbols) * (len(cards) + 1) if cards else 0
        for symbol in symbols:
            bars = load_bars(symbol, interval, settings=s).bars
            for i, card in enumerate(cards):
                progress.current = f"{card.name} signals on {symbol}"
                loaded = load_checkpoint(card.path)
                generate_signals(loaded, bars, symbol=symbol, interval=interval, cache=signals_db_path(s))
                progress.done += 1
                if i == 0:  # the sidebar's default model: its diagnostics too
                    progress.current = f"{card.name} diagnostics on {symbol}"
                    diagnose_period(loaded, bars, symbol=symbol, interval=interval, settings=s,
                                    store=ResultStore(results_db_path(s)))
                    progress.done += 1
    except (HRMError, OSError, ValueError) as exc:
        progress.problems.append(str(exc))
    finally:
        progress.finished = True


def start() -> tuple[threading.Thread, Progress]:
    progress = Progress()
    thread = threading.Thread(target=warm, args=(progress,), name="hrm-warm-up", daemon=True)
    thread.start()
    return thread, progress
