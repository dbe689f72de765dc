"""One lock per model object: Captum hooks the model's shared taps, so attributions of one model take turns
(the dashboard shares one model object across sessions)."""
from __future__ import annotations

import threading
import weakref

import torch

_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: torch.nn.Module) -> threading.RLock:
    """The lock of this model object (created on first use, dropped with the model)."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


__all__ = ["model_lock"]
