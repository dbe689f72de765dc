"""Process-wide runtime set-up shared by the dashboard and the CLI: torch's intra-op thread count, single
flight (one computation per key however many sessions ask at once), and the code's fingerprint (stored results
of other code are never reused)."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import threading
from pathlib import Path
from typing import Iterator

# Inference here is batch-1 (live, explain, one decision) or small batches (signals: 256 windows of a
# ~1 M-parameter model). Measured on the 2-core machine (/tmp script in the issue-13 report, shipped
# hrm-default, 2,500 synthetic daily bars):
#                                       1 thread     2 threads
#   quiet   signals, ms per decision      0.27         0.19
#   quiet   batch-1 infer p50, ms         1.31         1.43
#   loaded  signals, ms per decision      0.49-0.54    2.2-5.0     (one other busy process on a core)
#   loaded  batch-1 infer p50, ms         1.30         1.6-5.2
# (the issue's own figure: 8.0 ms vs 1.1 ms per decision). A second thread gains at most 1.4x when the
# machine is idle and loses 4-10x when anything else runs, because OpenMP workers spin-wait for a core
# that is busy; the dashboard shares its cores with the browser and the server. So: one thread.
# Training (large batches, one job at a time) keeps torch's default; HRM_TORCH_THREADS overrides both.
INFERENCE_THREADS = 1
ENV = "HRM_TORCH_THREADS"


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (argument, else $HRM_TORCH_THREADS, else INFERENCE_THREADS); return it.

    Imports torch, so call it where torch will be needed anyway (the CLI's main, a warm-up thread).
    """
    import torch

    if threads is None:
        env = os.environ.get(ENV, "").strip()
        threads = int(env) if env.isdigit() and int(env) > 0 else INFERENCE_THREADS
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


# Single flight: the same expensive computation requested by several sessions (threads) at once runs once; the
# others wait for it and then read its stored result. One lock per key, dropped when nobody holds or waits on it.
_FLIGHTS: dict[object, list] = {}  # key -> [lock, holders and waiters]
_FLIGHTS_LOCK = threading.Lock()


@contextlib.contextmanager
def single_flight(key: object) -> Iterator[None]:
    """Hold the lock of `key` (hashable): check the store again inside it, compute only if still missing."""
    with _FLIGHTS_LOCK:
        entry = _FLIGHTS.setdefault(key, [threading.Lock(), 0])
        entry[1] += 1
    try:
        with entry[0]:
            yield
    finally:
        with _FLIGHTS_LOCK:
            entry[1] -= 1
            if entry[1] == 0:
                _FLIGHTS.pop(key, None)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over the source of the engine (hrm_core/) and explain/: any edit makes every stored result stale."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for package in (root, root.parent / "explain"):
        for f in sorted(package.rglob("*.py")):
            h.update(str(f.relative_to(root.parent)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]
