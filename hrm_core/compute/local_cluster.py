"""A real Dask cluster on this machine, from distributed's own command-line entry points: `dask scheduler`
and N `dask worker` processes on 127.0.0.1. The cluster tests and `benchmarks.walkforward` use it; a user
can too, to try `--cluster` before pointing it at real nodes (README "Sweeps on a cluster")."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from hrm_core.compute.executors import ComputeError


@dataclass
class LocalCluster:
    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]
    log_dir: Path

    def kill_worker(self, i: int = 0) -> None:
        """SIGKILL worker i (no clean shutdown: what a crashed node looks like to the scheduler)."""
        self.workers[i].send_signal(signal.SIGKILL)
        self.workers[i].wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dask() -> list[str]:
    """distributed's CLI in this interpreter's environment (the `dask` script beside python, else -m)."""
    script = Path(sys.executable).with_name("dask")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dask"]


@contextlib.contextmanager
def local_cluster(n_workers: int, log_dir: str | os.PathLike, *, timeout_s: float = 90.0) -> Iterator[LocalCluster]:
    """Start `dask scheduler` and `n_workers` single-threaded `dask worker` processes (no nanny, so a killed
    worker stays dead); wait until all workers joined; stop every process on exit."""
    from distributed import Client

    log_dir = Path(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs: list[subprocess.Popen] = []

    def start(args: list[str], name: str) -> subprocess.Popen:
        log = open(log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen([*_dask(), *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=log_dir)
        log.close()
        procs.append(proc)
        return proc

    try:
        scheduler = start(["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], "scheduler")
        workers = [start(["worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{i}",
                          "--local-directory", str(log_dir / f"w{i}")], f"worker{i}") for i in range(n_workers)]
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with Client(address, timeout="5s", set_as_default=False) as client:
                    client.wait_for_workers(n_workers, timeout=max(1.0, deadline - time.monotonic()))
                break
            except (OSError, TimeoutError) as exc:
                if time.monotonic() > deadline or scheduler.poll() is not None:
                    raise ComputeError(f"local Dask cluster did not start in {timeout_s:g} s ({exc}); logs in "
                                       f"{log_dir}") from None
                time.sleep(0.5)
        yield LocalCluster(address, scheduler, workers, log_dir)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


__all__ = ["LocalCluster", "local_cluster"]
