"""Model cards and where checkpoints live, without loading weights (so without torch).

The sidebar's model picker, a card's periods and skill note, and the file digest that keys stored results
(`checkpoint_digest`) read only the JSON card and the file's bytes: a page whose results are stored paints
before torch is imported (issue 22). hrm_core.model.checkpoint loads and saves the weights.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from hrm_core.errors import CheckpointError
from hrm_core.settings import Settings, load_settings
from hrm_core.storage.results import files_digest

CHECKPOINT_FILE = "model.pt"
DEFAULT_MODEL_NAME = "hrm-default"


def _checkpoint_file(path: str | os.PathLike) -> Path:
    """A model directory or a .pt file -> the .pt file."""
    p = Path(path)
    return p / CHECKPOINT_FILE if p.is_dir() or not p.suffix else p


def card_paths(checkpoint: str | os.PathLike) -> tuple[Path, Path]:
    """(markdown, json) card paths beside a checkpoint file: model.pt -> model_card.md, model_card.json."""
    f = _checkpoint_file(checkpoint)
    return f.with_name(f.stem + "_card.md"), f.with_name(f.stem + "_card.json")


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "n/a" if v is None else format(v, spec) if isinstance(v, (int, float)) else str(v)


def card_summary(card: Mapping) -> str:
    """Short line for pickers: 'default, val Sharpe 0.41, trained 1999-2012'."""
    preset = (card.get("train_config") or {}).get("preset") or (card.get("config") or {}).get("arch", "?")
    sharpe = (card.get("metrics") or {}).get("val_net_sharpe")
    train = (card.get("periods") or {}).get("train") or ["?", "?"]
    return f"{preset}, val Sharpe {_fmt(sharpe, '.2f')}, trained {str(train[0])[:4]}-{str(train[1])[:4]}"


# ----------------------------------------------------------------------------- listing

@dataclass(frozen=True)
class ModelCard:
    """One entry of the model picker: read from the JSON card, without loading weights."""

    name: str
    path: str  # the .pt file
    summary: str
    card: dict = field(default_factory=dict, compare=False, hash=False)


def skill_note(card: Mapping) -> tuple[str, bool] | None:
    """(One line on the model's validation skill and action mix, True if it shows skill), or None for cards
    that predate the measurement. The dashboard shows it next to the model picker."""
    m = card.get("metrics") if isinstance(card.get("metrics"), Mapping) else {}
    k, shares = m.get("skill"), m.get("val_action_shares")
    try:
        diff, (lo, hi) = float(k["logloss_diff"]), map(float, k["logloss_diff_ci"])
    except (TypeError, KeyError, ValueError):  # an older or hand-edited card: say nothing rather than fail
        return None
    line = (f"Validation (the selection set: epoch and position rule were chosen on it) {k.get('verdict')}: "
            f"log-loss {diff:+.4f} [{lo:+.4f}, {hi:+.4f}] vs the constant class-frequency predictor.")
    if isinstance(shares, Mapping) and shares:
        action, share = max(shares.items(), key=lambda kv: float(kv[1]))
        line += f" {str(action).capitalize()} on {float(share):.0%} of validation windows."
    return line, hi < 0


def read_card(checkpoint: str | os.PathLike) -> dict:
    """The JSON model card beside a checkpoint ({} when missing or unreadable)."""
    _, json_path = card_paths(checkpoint)
    try:
        return json.loads(json_path.read_text())
    except (OSError, ValueError):
        return {}


def list_checkpoints(models_dir: str | os.PathLike | None = None) -> list[ModelCard]:
    """Checkpoints under models_dir (NAME/model.pt and loose *.pt), the shipped default first."""
    root = Path(models_dir) if models_dir is not None else load_settings().data.path("models_dir")
    if not root.is_dir():
        return []
    files = sorted(set(root.glob(f"*/{CHECKPOINT_FILE}")) | set(root.glob("*.pt")))
    cards = []
    for f in files:
        card = read_card(f)
        name = str(card.get("name") or (f.parent.name if f.name == CHECKPOINT_FILE else f.stem))
        summary = card.get("summary") or (card_summary(card) if card else "no model card")
        cards.append(ModelCard(name=name, path=str(f), summary=summary, card=card))
    return sorted(cards, key=lambda c: (c.name != DEFAULT_MODEL_NAME, c.name))


def default_model_path(settings: Settings | None = None) -> Path | None:
    """models/hrm-default/model.pt (the shipped model) if present, else None."""
    settings = settings or load_settings()
    f = settings.data.path("models_dir") / DEFAULT_MODEL_NAME / CHECKPOINT_FILE
    return f if f.exists() else None


def resolve_model(model: str | os.PathLike | None, settings: Settings | None = None) -> Path:
    """A model argument (path, directory, or a name under models/) -> checkpoint file; None -> the default."""
    settings = settings or load_settings()
    if model is None:
        f = default_model_path(settings)
        if f is None:
            raise CheckpointError(f"no model chosen and no shipped default in {settings.data.path('models_dir')}: "
                                  "run scripts/train_shipped_models.py or `hrm train`")
        return f
    p = Path(model)
    root = settings.data.path("models_dir")
    if not p.exists() and (root / p).exists():
        p = root / p
    f = _checkpoint_file(p)
    if not f.exists():
        inside = f" (it has no {CHECKPOINT_FILE})" if p.is_dir() else ""
        names = ", ".join(c.name for c in list_checkpoints(root)) or "none"
        raise CheckpointError(f"no checkpoint at {str(model)!r}{inside}: give a .pt file, a folder with "
                              f"{CHECKPOINT_FILE}, or a model name in {root} (have: {names})")
    return f


def card_rule(checkpoint: str | os.PathLike):
    """The position rule the checkpoint's card records (what `load_checkpoint(...).rule` gives), or None when the
    card has no metrics: read without torch."""
    from hrm_core.model.position_rule import rule_of

    metrics = read_card(checkpoint).get("metrics")
    return rule_of(metrics) if metrics is not None else None


def checkpoint_digest(checkpoint: str | os.PathLike) -> str:
    """sha256 of the checkpoint file and its JSON card (the card holds the position rule): equal digests mean
    the same model deciding the same way. A missing file digests as such, so its results are never reused."""
    f = _checkpoint_file(checkpoint)
    return files_digest(f, card_paths(f)[1])


__all__ = ["CHECKPOINT_FILE", "DEFAULT_MODEL_NAME", "ModelCard", "card_paths", "card_rule", "card_summary",
           "checkpoint_digest", "default_model_path", "list_checkpoints", "read_card", "resolve_model", "skill_note"]
