"""Fill the engine's persistent stores before anyone asks, on the default instruments: the signals of every
checkpoint in models/ (Signals, Performance and the DSR's trials read them), and for the default model what
each page opens with: its period diagnostics, its backtest with the baselines at equal risk and as traded, the
"at full depth" column of the newest decisions and the explanation of the newest decision (results.py). Each
result is keyed by model file, data, settings and code, so a filled store survives restarts and anything changed
simply computes again; every computation goes through single flight, so a page asking meanwhile waits for it
instead of repeating it.

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
    from explain.words import DEFAULT_BASELINE, offered_targets
    from hrm_core.data.market import load_bars
    from hrm_core.model.cards import card_rule, list_checkpoints, read_card
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.served import results

    progress = progress or WarmProgress()
    t0 = time.perf_counter()
    models: dict[str, object] = {}

    def load(path: str):
        if path not in models:
            models[path] = load_checkpoint(path)
        return models[path]

    def step(what: str, fill) -> None:
        progress.current = what
        fill()
        progress.filled.append(what)
        progress.done += 1

    try:
        cards = list_checkpoints(settings.data.path("models_dir"))
        symbols, interval = tuple(symbols or settings.data.default_symbols), settings.data.default_interval
        progress.total = len(symbols) * (len(cards) + 3) if cards else 0
        for symbol in symbols:
            res = load_bars(symbol, interval, settings=settings)
            bars, on = res.bars, {"symbol": symbol, "interval": interval}
            for card in cards:
                step(f"{card.name} signals on {symbol}", lambda: results.signals(settings, card.path, bars, **on,
                                                                                  load=load))
            if not cards:
                continue
            default = cards[0].path  # the sidebar's first model: what every page opens with
            table = results.signals(settings, default, bars, **on, load=load).table
            test = (read_card(default).get("periods") or {}).get("test") or (None, None)
            period = tuple(None if t is None else str(t) for t in test)  # what Diagnostics opens on
            step(f"{cards[0].name} diagnostics on {symbol}", lambda: results.diagnostics(
                settings, default, bars, **on, start=period[0], end=period[1], load=load))
            step(f"{cards[0].name} backtests on {symbol}", lambda: (
                results.performance_verdict(settings, default, bars, **on, source=res.badge(), load=load),
                results.performance_tables(settings, default, bars, **on, source=res.badge(), load=load),
                results.full_depth(settings, default, bars, tuple(table.index[-20:]), **on, load=load)))
            decided = table.index[table["status"] == "ok"]
            if len(decided):
                target = offered_targets(card_rule(default) or load(default).rule)[0]
                step(f"{cards[0].name} explanation of {decided[-1]:%Y-%m-%d} on {symbol}", lambda: results.explanation(
                    settings, default, bars, decided[-1].isoformat(), **on, target=target, baseline=DEFAULT_BASELINE,
                    load=load))
    except (HRMError, OSError, ValueError) as exc:
        progress.problems.append(str(exc))
    finally:
        progress.seconds = time.perf_counter() - t0
        progress.finished = True
    return progress


__all__ = ["WarmProgress", "warm_stores"]
