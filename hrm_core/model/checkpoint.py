"""Checkpoints: weights + everything needed to rebuild inputs, with a model card beside each.

Layout: `models/NAME/model.pt` (a plain dict of tensors and JSON-safe values written with
torch.save) and `models/NAME/model_card.md` + `model_card.json`. Loading uses
`torch.load(..., weights_only=True)`: a file holding any pickled object other than
tensors and plain containers is refused with CheckpointError, never executed. A corrupt
file, a config that does not fit the weights, or a feature spec / scaler made with other
features than this code computes also raise CheckpointError, with the fix.

    m = load_checkpoint(default_model_path())       # LoadedModel: model (eval), config, scaler, ...
    cards = list_checkpoints("models")              # the shipped default first
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from hrm_core.model.cards import CHECKPOINT_FILE, _checkpoint_file, _fmt, card_paths, card_summary
from hrm_core.model.config import TIMEFRAMES, ModelConfig
from hrm_core.model.position_rule import MAX_ONE_ACTION_SHARE as ONE_ACTION_SHARE, DecisionRule, rule_of
from hrm_core.errors import CheckpointError, ModelError
from hrm_core.data.features import FeatureSpec, Scaler
from hrm_core.data.identity import instrument_ids
from hrm_core.model.networks import build_model, describe_model

FORMAT = "hrm-trader-checkpoint"
FORMAT_VERSION = 1

LOSS_DOC = ("policy cross-entropy on the 3-class direction label + Huber on the forward return (scaled by the "
            "training std) + a sizing term (minus the mean-variance utility, risk aversion 3, of position = "
            "sign(p_long - p_short) x size held one horizon, net of round-trip cost) + with ACT on only, the Q-head "
            "BCE (halt target: the current decision is right; continue target: the next segment's best Q); batches "
            "kept full by swapping halted samples for fresh ones; AdamW, warmup + cosine decay, gradient clipping, "
            "early stopping on a validation figure; see hrm_core/training/train.py")


def package_version() -> str:
    """Installed version of hrm-trader (pyproject), or 'unknown' when run from a bare checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hrm-trader")
    except PackageNotFoundError:
        return "unknown"


def _plain(obj: Any) -> Any:
    """JSON-safe copy: numpy scalars -> Python, tuples -> lists, NaN -> None (weights_only and JSON accept it)."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if obj is None:
        return None
    return str(obj)  # also turns str subclasses (torch's TorchVersion) into plain str, which a safe load accepts


# ----------------------------------------------------------------------------- saving

def save_checkpoint(path: str | os.PathLike, model: nn.Module, *, feature_spec: FeatureSpec, scaler: Scaler,
                    instruments: Mapping[str, int], intervals, periods: Mapping, metrics: Mapping,
                    data_hash: str, name: str | None = None, train_config: Mapping | None = None,
                    history: list | None = None, command: str | None = None, overwrite: bool = True) -> Path:
    """Write the checkpoint (atomically) and its model card; returns the .pt path.

    `path` is a model directory (models/NAME -> models/NAME/model.pt) or a .pt file."""
    f = _checkpoint_file(path)
    if f.exists() and not overwrite:
        raise CheckpointError(f"{f} exists: choose another name or allow overwriting")
    f.parent.mkdir(parents=True, exist_ok=True)
    config: ModelConfig = model.config
    name = name or (f.parent.name if f.name == CHECKPOINT_FILE else f.stem)
    meta = _plain({
        "name": name, "config": config.to_dict(), "feature_spec": feature_spec.to_dict(),
        "scaler": scaler.to_dict(), "instruments": dict(instruments), "intervals": list(intervals),
        "periods": dict(periods), "metrics": dict(metrics), "data_hash": data_hash,
        "package_version": package_version(), "torch_version": torch.__version__,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "train_config": dict(train_config or {}), "history": list(history or []), "command": command,
    })
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION,
               "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, **meta}
    tmp = f.with_name(f.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, f)
    write_model_card(f, {**meta, "parameters": sum(p.numel() for p in model.parameters()),
                         "describe": describe_model(model)})
    return f


def update_metrics(path: str | os.PathLike, extra: Mapping) -> Path:
    """Add `extra` to a checkpoint's metrics (e.g. the seeds it was chosen from) and rewrite its card, atomically."""
    f = _checkpoint_file(path)
    payload = _read(f)
    payload["metrics"] = {**(payload.get("metrics") or {}), **_plain(dict(extra))}
    tmp = f.with_name(f.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, f)
    model = load_checkpoint(f).model
    info = {k: v for k, v in payload.items() if k not in ("state_dict", "format", "format_version")}
    write_model_card(f, {**info, "parameters": sum(p.numel() for p in model.parameters()),
                         "describe": describe_model(model)})
    return f


def write_model_card(checkpoint: str | os.PathLike, info: Mapping) -> tuple[Path, Path]:
    """Markdown + JSON model card beside the checkpoint: what it is, data, periods, figures, how to rebuild."""
    md_path, json_path = card_paths(checkpoint)
    card = _plain({**info, "checkpoint": _checkpoint_file(checkpoint).name, "loss": LOSS_DOC,
                   "summary": card_summary(info)})
    card.pop("state_dict", None)
    json_path.write_text(json.dumps(card, indent=2) + "\n")

    cfg, m, p = card.get("config") or {}, card.get("metrics") or {}, card.get("periods") or {}
    tc = card.get("train_config") or {}
    desc = card.get("describe") or {}
    lines = [
        f"# Model card: {card.get('name')}",
        "",
        f"{card['summary']}. Architecture `{cfg.get('arch')}` (preset `{tc.get('preset', '?')}`), "
        f"{_fmt(card.get('parameters'), ',d')} parameters; hierarchical cycles N = {cfg.get('h_cycles')}, "
        f"T = {cfg.get('l_cycles')}, up to M = {cfg.get('max_segments')} segments, ACT {'on' if cfg.get('act') else 'off'}.",
        "",
        "## Intended use",
        "",
        "Research and demonstration: per-bar direction (short / flat / long), position size and expected "
        "forward return for the instruments below. Not investment advice. Validation figures are in-sample for "
        "model selection; judge the model only on the untouched test period (`hrm evaluate`).",
        "",
        "## Data",
        "",
        f"- Instruments (vocab, 0 = unknown): {card.get('instruments')}",
        f"- Intervals: {card.get('intervals')}",
        f"- Train: {' .. '.join(p.get('train', []))}; validation: {' .. '.join(p.get('validation', []))}; "
        f"test (never used in training or selection): {' .. '.join(p.get('test', []))}",
        f"- Purge gap: {p.get('purge_bars')} bars before each boundary (label horizon {p.get('horizon')} bars)",
        f"- Data hash (sha256 of the bars used): `{card.get('data_hash')}`",
        f"- Windows: {_fmt(m.get('train_windows'), 'd')} training, {_fmt(m.get('val_windows'), 'd')} validation",
        f"- Features: {len((card.get('feature_spec') or {}).get('names', []))} "
        f"(version {(card.get('feature_spec') or {}).get('version')}), window {(card.get('feature_spec') or {}).get('window')} bars",
        "",
        "## Validation figures (epoch kept by early stopping)",
        "",
        "The epoch and the position rule were chosen on these windows, so these figures flatter the model; "
        "only the test period (`hrm evaluate`) and the walk-forward years are out-of-sample.",
        "",
        "| figure | value |",
        "| --- | --- |",
        f"| kept epoch / epochs run | {m.get('epoch')} / {m.get('epochs_run')} |",
        f"| accuracy (3 classes) | {_fmt(m.get('val_accuracy'))} |",
        f"| majority-class rate | {_fmt(m.get('val_majority_rate'))} |",
        f"| log-loss | {_fmt(m.get('val_logloss'), '.4f')} |",
        f"| net Sharpe of the sized signal (annualised, {_fmt(m.get('cost_bps'), '.1f')} bps per unit turnover) "
        f"| {_fmt(m.get('val_net_sharpe'), '.2f')} |",
        f"| exposure (mean abs position) | {_fmt(m.get('val_exposure'))} |",
        f"| mean reasoning segments | {_fmt(m.get('val_mean_steps'), '.2f')} |",
        *_depth_rows(m.get("act_depth") or {}, m.get("depth_choice")),
        *_skill_rows(m.get("skill") or {}),
        f"| early stopping on | {m.get('early_stop')} |",
        f"| training time | {_fmt(m.get('train_seconds'), '.0f')} s on {m.get('world_size')} x {m.get('device')} |",
        "",
        *_decision_lines(m),
        "## Training",
        "",
        f"Loss: {LOSS_DOC}.",
        *_seed_lines(m.get("seeds") or {}),
        "",
        f"Reproduce: `{card.get('command') or 'n/a'}` (the shipped models: `.venv/bin/python "
        "scripts/train_shipped_models.py`, which trains each variant with 5 seeds offline on the bundled sample "
        "only and ships the median seed by validation log-loss).",
        "",
        f"Package {card.get('package_version')}, torch {card.get('torch_version')}, created {card.get('created')}. "
        f"FLOPs per decision: {_fmt(desc.get('flops_per_decision_min'), ',d')} .. "
        f"{_fmt(desc.get('flops_per_decision_max'), ',d')}.",
        "",
    ]
    md_path.write_text("\n".join(lines))
    return md_path, json_path


def _depth_rows(d: Mapping, choice: Mapping | None = None) -> list[str]:
    if not d:
        return []
    chose = "" if not choice else (
        " (chosen on validation log-loss: " + ", ".join(f"{k} {v:.4f}" for k, v in choice["val_logloss"].items())
        + ")")
    dist = ", ".join(f"{k}: {v:.0%}" for k, v in (d.get("distribution") or {}).items())
    mode = d.get("inference_mode", "adaptive")
    rows = [f"| halting objective / inference mode | {d.get('objective', 'q_learning')} / {mode}"
            f"{' (' + str(d.get('fixed_depth')) + ' segments)' if mode == 'fixed' else ''}{chose} |",
            f"| ACT depth on validation (segments: share) | {dist}; {d.get('statement')} |",
            f"| log-loss as run / at depth 1 / at full depth | {_fmt(d.get('logloss_as_run'), '.4f')} / "
            f"{_fmt(d.get('logloss_depth_1'), '.4f')} / {_fmt(d.get('logloss_full_depth'), '.4f')} |"]
    pays = d.get("depth_pays")
    if pays:
        lo, hi = pays.get("ci") or [None, None]
        rows.append(f"| does depth pay? full depth minus depth 1, log-loss per window [95 % CI] | "
                    f"{_fmt(pays.get('mean'), '+.4f')} [{_fmt(lo, '+.4f')}, {_fmt(hi, '+.4f')}]: "
                    f"{_pays_word(lo, hi)} |")
    return rows


def _pays_word(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return "not measured"
    return "yes, deeper predicts better" if hi < 0 else "no, deeper predicts worse" if lo > 0 else \
        "not shown (the interval includes 0)"


def _skill_rows(k: Mapping) -> list[str]:
    if not k:
        return []
    lo, hi = k.get("logloss_diff_ci") or [None, None]
    return [f"| log-loss minus the constant class-frequency predictor's [95 % CI] | "
            f"{_fmt(k.get('logloss_diff'), '+.4f')} [{_fmt(lo, '+.4f')}, {_fmt(hi, '+.4f')}] |",
            f"| skill verdict | **{k.get('verdict')}** |"]


def _decision_lines(m: Mapping) -> list[str]:
    d, shares = m.get("decision") or {}, m.get("val_action_shares") or {}
    if not d:
        return ["Position rule: argmax (this checkpoint predates the validation-chosen rule).", ""]
    rule = rule_of(m)
    one_sided = max(shares.values(), default=0.0) > ONE_ACTION_SHARE
    lines = [f"Position rule ({d.get('chosen_on', 'validation')}): {rule.describe()}. Actions on validation: "
             + ", ".join(f"{k} {v:.0%}" for k, v in shares.items()) + "."]
    if one_sided:
        lines.append(f"It takes one action on more than {ONE_ACTION_SHARE:.0%} of validation windows: "
                     f"{(m.get('skill') or {}).get('verdict', 'skill not measured')}.")
    return [*lines, ""]


def _seed_lines(seeds: Mapping) -> list[str]:
    if not seeds:
        return []
    runs = seeds.get("runs") or []
    ll = ", ".join(f"seed {r['seed']}: {r['val_logloss']:.4f}" for r in runs)
    return ["", f"Shipped seed {seeds.get('chosen_seed')} of {len(runs)} ({seeds.get('rule')}); validation "
                f"log-loss per seed: {ll}."]


# ----------------------------------------------------------------------------- loading

@dataclass
class LoadedModel:
    """A checkpoint ready to run: the model (eval mode) and what it needs to build its inputs."""

    model: nn.Module
    config: ModelConfig
    feature_spec: FeatureSpec
    scaler: Scaler
    instruments: dict[str, int]
    intervals: tuple[str, ...]
    periods: dict
    metrics: dict
    data_hash: str
    package_version: str
    name: str
    path: str
    train_config: dict = field(default_factory=dict)
    command: str | None = None

    @property
    def rule(self) -> DecisionRule:
        """The position rule chosen on validation at training (hrm_core.trading.decision)."""
        return rule_of(self.metrics)

    def instrument_ids(self, symbols) -> torch.Tensor:
        """LongTensor of vocab ids; unknown symbols get 0 (the shared unknown embedding)."""
        return instrument_ids(symbols, self.instruments)

    @staticmethod
    def timeframe_id(interval: str) -> int:
        if interval not in TIMEFRAMES:
            raise ModelError(f"unknown interval {interval!r}; the model knows {sorted(TIMEFRAMES)}")
        return TIMEFRAMES[interval]


def _read(f: Path) -> dict:
    if not f.exists():
        raise CheckpointError(f"no checkpoint at {f}: train one with `hrm train` or pick a model in models/")
    if not zipfile.is_zipfile(f):  # torch.save writes a zip archive; anything else is damaged or foreign
        raise CheckpointError(f"{f} is not a readable checkpoint (not a torch archive: corrupt, truncated or "
                              "not made by `hrm train`); re-download or retrain it")
    try:
        payload = torch.load(f, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if "global" in ln.lower()] or [type(exc).__name__]
        raise CheckpointError(
            f"{f} holds pickled Python objects that a safe load refuses ({lines[0][:200]}); it was not made by "
            "`hrm train` or was tampered with. Only load checkpoints you trust, and retrain if unsure") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointError(f"{f} is not a readable checkpoint (corrupt or truncated: "
                              f"{type(exc).__name__}: {str(exc)[:200]}); re-download or retrain it") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{f} is not an HRM Trader checkpoint (no '{FORMAT}' marker)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{f} has checkpoint format {payload.get('format_version')}, this code reads "
                              f"{FORMAT_VERSION}: retrain with this version")
    return payload


def _build_and_fill(f: Path, config: ModelConfig, state_dict: Any) -> nn.Module:
    """Build the (bounded, already validated) config and load its weights; any failure is a CheckpointError."""
    try:
        model = build_model(config)
        model.load_state_dict(state_dict, strict=True)
    except MemoryError:
        raise CheckpointError(f"{f}: not enough memory to build its model ({config.hidden} hidden, "
                              f"{config.n_instruments} instruments); use a smaller model") from None
    except (RuntimeError, KeyError, TypeError, AttributeError, ValueError, ModelError) as exc:
        raise CheckpointError(f"{f}: weights do not fit the stored config ({str(exc).splitlines()[0][:300]}); "
                              "the file was edited or is from another model version: retrain") from None
    return model


def load_checkpoint(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> LoadedModel:
    """Load safely (weights_only) and check config, feature spec and scaler against this code."""
    f = _checkpoint_file(path)
    if not f.exists():  # name the path the user gave, not the model.pt we derived from it
        raise CheckpointError(f"no checkpoint at {str(path)!r}: train one with `hrm train` or pick a model in "
                              "models/ (a .pt file or a folder holding model.pt)")
    d = _read(f)
    try:
        config = ModelConfig.from_dict(d["config"])
        spec = FeatureSpec.from_dict(d["feature_spec"])
        spec.check_matches_code()
        scaler = Scaler.from_dict(d["scaler"], expected_names=spec.names)
    except KeyError as exc:
        raise CheckpointError(f"{f} lacks {exc}: not a complete HRM Trader checkpoint") from None
    except (ModelError, ValueError, TypeError) as exc:
        raise CheckpointError(f"{f} does not match this code: {exc}") from None
    if config.n_features != len(spec.names) or config.window != spec.window:
        raise CheckpointError(f"{f}: config (n_features {config.n_features}, window {config.window}) disagrees with "
                              f"its feature spec ({len(spec.names)} features, window {spec.window}): corrupt; retrain")
    instruments, intervals = _vocabularies(f, d)
    model = _build_and_fill(f, config, d["state_dict"])
    model.to(device).eval()
    metrics = dict(d.get("metrics") or {})
    try:
        rule_of(metrics)  # refuse a malformed position rule at load, not at the first decision
    except (ValueError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"{f} has a malformed position rule ({exc}): corrupt; retrain") from None
    return LoadedModel(
        model=model, config=config, feature_spec=spec, scaler=scaler, instruments=instruments, intervals=intervals,
        periods=dict(d.get("periods") or {}), metrics=metrics,
        data_hash=str(d.get("data_hash", "")), package_version=str(d.get("package_version", "unknown")),
        name=str(d.get("name") or f.parent.name), path=str(f), train_config=dict(d.get("train_config") or {}),
        command=d.get("command"))


def _vocabularies(f: Path, d: Mapping) -> tuple[dict[str, int], tuple[str, ...]]:
    """The trained instruments {symbol: id} and intervals, type-checked (a checkpoint is untrusted input)."""
    instruments, intervals = d.get("instruments") or {}, d.get("intervals") or []
    try:
        if not isinstance(instruments, Mapping) or not isinstance(intervals, (list, tuple)):
            raise TypeError("instruments must be a mapping and intervals a list")
        vocab = {str(k): int(v) for k, v in instruments.items()}
        ivs = tuple(str(i) for i in intervals)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{f} has a malformed vocabulary ({str(exc)[:200]}): corrupt or edited; "
                              "retrain") from None
    for m in (d.get("periods"), d.get("metrics"), d.get("train_config")):
        if m is not None and not isinstance(m, Mapping):
            raise CheckpointError(f"{f} has malformed metadata (periods/metrics/train_config): corrupt; retrain")
    return vocab, ivs
