"""Torch's intra-op threads are capped for inference (hrm_core/runtime.py), by default and on request."""
import subprocess
import sys
from pathlib import Path

import torch

from hrm_core.runtime import INFERENCE_THREADS, configure_threads

ROOT = Path(__file__).resolve().parent.parent


def test_threads_default_to_the_inference_setting_and_follow_the_environment(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.delenv("HRM_TORCH_THREADS", raising=False)
        assert configure_threads() == INFERENCE_THREADS == torch.get_num_threads() == 1
        monkeypatch.setenv("HRM_TORCH_THREADS", "2")
        assert configure_threads() == 2 == torch.get_num_threads()
        monkeypatch.setenv("HRM_TORCH_THREADS", "lots")  # not a number: the default
        assert configure_threads() == 1
    finally:
        torch.set_num_threads(before)


def _threads_after_cli(*argv: str) -> str:
    """torch's thread count after `hrm ARGV` ran in a fresh interpreter that started with 2."""
    code = ("import sys, torch; from hrm_cli import main; torch.set_num_threads(2); "
            "main(sys.argv[1:]); print(torch.get_num_threads())")
    done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, cwd=ROOT,
                          env={"HRM_OFFLINE": "1", "PATH": ""}, timeout=120)
    return done.stdout.split()[-1]


def test_the_cli_caps_threads_for_inference_verbs_only():
    run = _threads_after_cli
    assert run("model", "info", "--preset", "tiny", "--json") == "1"
    assert run("data", "list", "--json") == "2"  # no torch work: left alone
