"""One executor seam for sweeps (walk-forward folds, multi-seed training, label experiments).

Every sweep submits picklable jobs to a `concurrent.futures.Executor` and collects the results as
they complete; only the backend differs:

    in-process       jobs = 1, no cluster: each job runs inside `submit` (no pickling, easy to debug)
    local processes  jobs > 1: a "spawn" ProcessPoolExecutor (fork would copy torch's thread pools and locks)
    Dask distributed an address (`--cluster tcp://HOST:8786`, $DASK_SCHEDULER_ADDRESS, or [compute] cluster
                     in the settings file): `distributed.Client(address).get_executor()`; the scheduler
                     places the jobs, re-runs those of a worker that dies, and serves its dashboard.

Results travel back to the caller as return values: the caller writes its caches, so workers need no
shared disk. A job function that trains calls `one_job_at_a_time()` because torch's RNG is global to a
process: two folds training at once in one multi-threaded Dask worker would draw from one stream.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import socket
import threading
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

from hrm_core.errors import HRMError

ENV_ADDRESS = "DASK_SCHEDULER_ADDRESS"  # the variable Dask itself reads for its scheduler address


class ComputeError(HRMError, RuntimeError):
    """A compute backend cannot be used: the Dask scheduler is unreachable or distributed is not installed."""


class InlineExecutor(Executor):
    """Runs each job inside `submit`: the 1-job backend, with the Executor interface of the others."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # the caller sees it from future.result(), as with a pool
            future.set_exception(exc)
        return future


@dataclass(frozen=True)
class Backend:
    kind: str  # "inline", "processes" or "dask"
    workers: int  # job slots (Dask: the scheduler's total worker threads when connected)
    address: str | None = None  # Dask scheduler
    dashboard: str | None = None  # Dask dashboard URL

    def describe(self) -> str:
        if self.kind == "dask":
            board = f"; dashboard {self.dashboard}" if self.dashboard else ""
            return f"Dask cluster at {self.address} ({self.workers} worker thread(s){board})"
        return "this process" if self.kind == "inline" else f"{self.workers} local worker process(es)"


def cluster_address(explicit: str | None, settings=None) -> str | None:
    """The Dask scheduler to use: the flag, else $DASK_SCHEDULER_ADDRESS, else [compute] cluster; None = local."""
    for candidate in (explicit, os.environ.get(ENV_ADDRESS), getattr(getattr(settings, "compute", None),
                                                                      "cluster", None)):
        if candidate and str(candidate).strip():
            return str(candidate).strip()
    return None


@contextlib.contextmanager
def open_executor(jobs: int = 1, cluster: str | None = None, *,
                  connect_timeout_s: float = 5.0) -> Iterator[tuple[Executor, Backend]]:
    """(executor, backend) for `jobs` local slots, or the Dask cluster at `cluster`.

    Connecting happens here, before any job is submitted: an unreachable scheduler is one ComputeError
    naming the address, after at most `connect_timeout_s`."""
    if cluster:
        with _dask_executor(cluster, connect_timeout_s) as pair:
            yield pair
    elif jobs <= 1:
        yield InlineExecutor(), Backend("inline", 1)
    else:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool, Backend("processes", jobs)


@contextlib.contextmanager
def _dask_executor(address: str, timeout_s: float) -> Iterator[tuple[Executor, Backend]]:
    try:
        from distributed import Client
    except ImportError:
        raise ComputeError("--cluster needs the `distributed` package: pip install -r requirements.txt") from None
    unreachable = (f"cannot reach the Dask scheduler at {address}" + " ({}); start it with `dask scheduler` and its "
                   f"workers with `dask worker {address}`, or drop --cluster to run locally")
    try:
        _probe(address, timeout_s)
        client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ComputeError(unreachable.format(getattr(exc, "strerror", None) or type(exc).__name__)) from None
    try:
        threads = sum(client.nthreads().values())
        running = "dashboard" in client.scheduler_info().get("services", {})  # --no-dashboard: none to show
        backend = Backend("dask", threads, address, client.dashboard_link if running else None)
        with client.get_executor(pure=False) as executor:
            yield executor, backend
    finally:
        client.close()


def _probe(address: str, timeout_s: float) -> None:
    """Fail at once on a refused tcp:// address (distributed would retry until its timeout)."""
    if not address.startswith("tcp://"):
        return
    host, _, port = address[len("tcp://"):].rpartition(":")
    if not port.isdigit():
        raise ValueError(f"no port in {address}")
    socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout_s).close()


_ONE_JOB = threading.Lock()


@contextlib.contextmanager
def one_job_at_a_time() -> Iterator[None]:
    """Serialise jobs that seed torch's process-global RNG (module docstring)."""
    with _ONE_JOB:
        yield


def run_all(executor: Executor, fn: Callable, jobs, on_result: Callable[[object, object], None]) -> None:
    """Submit fn(job) for every job; call on_result(job, result) in the caller's thread as each completes.

    If anything fails (a job, on_result, Ctrl-C), the jobs not started are cancelled and the error is
    raised; results already handed to on_result stay with the caller (a rerun resumes from them)."""
    from concurrent.futures import as_completed

    futures = {executor.submit(fn, job): job for job in jobs}
    try:
        for fut in as_completed(futures):
            on_result(futures[fut], fut.result())
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise


__all__ = ["Backend", "ComputeError", "ENV_ADDRESS", "InlineExecutor", "cluster_address", "one_job_at_a_time",
           "open_executor", "run_all"]
