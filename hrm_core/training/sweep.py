"""One training run as a job for `hrm_core.compute.executors`: the multi-seed training of the shipped variants
and the label experiments submit these, locally or to a Dask cluster.

A job carries its bars and settings (a worker needs only the installed package) and returns the run's
metrics and, if asked, its checkpoint's files: the caller writes them, so workers need no shared disk.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import pandas as pd

from hrm_core.settings import Settings
from hrm_core.training.train import TrainConfig


@dataclass(frozen=True)
class TrainJob:
    config: TrainConfig
    name: str  # the checkpoint's name (and folder)
    bars: Mapping[tuple[str, str], pd.DataFrame]  # (SYMBOL, interval) -> bars; training cuts them at val_end
    settings: Settings
    keep_checkpoint: bool = True  # False: metrics only (experiments that ship nothing)


def run_train_job(job: TrainJob) -> dict:
    """On a worker: {"name", "metrics", "files"} with files = {file name: bytes} of the checkpoint, or None."""
    from hrm_core.compute.executors import one_job_at_a_time
    from hrm_core.runtime import configure_threads
    from hrm_core.training.train import train, train_and_save

    configure_threads(1)  # one torch thread per job: jobs are the parallelism
    with one_job_at_a_time():  # training seeds torch's process-global RNG
        if not job.keep_checkpoint:
            return {"name": job.name, "metrics": train(job.config, settings=job.settings, bars=job.bars).metrics,
                    "files": None}
        with tempfile.TemporaryDirectory(prefix="hrm-train-") as tmp:
            result, saved = train_and_save(job.config, job.name, models_dir=tmp, settings=job.settings,
                                           overwrite=True, bars=job.bars)
            files = {p.name: p.read_bytes() for p in saved.parent.iterdir() if p.is_file()}
    return {"name": job.name, "metrics": result.metrics, "files": files}


def write_checkpoint(files: Mapping[str, bytes], folder: str | Path) -> Path:
    """The returned checkpoint files, written into `folder` (created); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        (folder / name).write_bytes(blob)
    return folder


__all__ = ["TrainJob", "run_train_job", "write_checkpoint"]
