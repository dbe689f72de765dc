"""Training: data splits, the loss, one loop (CPU, GPU, torchrun DDP), and saving the result.

    cfg = TrainConfig(preset="default", symbols=("^GSPC", "^IXIC"), intervals=("1d",))
    result, path = train_and_save(cfg, name="my-model", progress=print)   # models/my-model/model.pt + cards

Splits are chronological and explicit dates: train, validation, test (defaults for the
bundled 1999-2018 daily sample: 1999-2012 / 2013-2015 / 2016-2018). Training loads bars
only up to the end of the validation period, so the test period is never read by
training, early stopping or model selection; the evaluation backtests exactly the
stored test period. The last `purge` bars (>= the label horizon) of train and of
validation are dropped, so no label's outcome crosses a boundary. The Scaler is fit on
training-period rows only. One model learns over all instruments x timeframes through
the instrument and timeframe embeddings (vocab {symbol: id}, ids from 1; 0 = unknown).

Batches stay full under ACT: a batch is a set of slots; after each segment (one optimiser
step, deep supervision) the slots whose sample halted get the next samples of the epoch with
a fresh state, as the reference HRM does, so no step is taken on a handful of samples. An
epoch ends when the remaining samples cannot refill the halted slots; the learning-rate
schedule and progress count samples drawn. With `unroll_segments` a batch instead runs all its
segments with the graph of every update kept (whatever grad_mode) and takes one step on their
mean loss, so a later segment's loss reaches the earlier updates (benchmarks.adaptive_depth:
what makes depth pay on its known-answer task). Loss, per segment, averaged over the batch:

    L = w_policy * CE(policy_logits, direction)                       3 classes short/flat/long
      + w_value  * Huber_s(value, fwd_return) / s                      Huber with delta s = std of train fwd returns
      + w_sizing * -(mean(pnl) - risk_aversion/2 * var(pnl)) / s       sizing objective (below)
      + w_q      * halting loss (ACT on only), by ModelConfig.halt_objective (hrm_core.model.halting):
                   q_learning: BCE(q_halt, argmax == direction) + BCE(q_continue, target)
                   ponder: S [lambda (CE_n - CE_n+1) + beta KL(Bern(lambda) || Bern(lambda_p))] (ModelConfig.ponder_*)
                   loss_improvement: BCE(q_halt, CE_n - CE_n+1 <= margin)

Sizing objective: position = direction x size, with direction = sign(p_long - p_short), the
side the position rule takes (held fixed: the policy is trained by CE) and size = the quantity head. Each
window is treated as a trade held for the label horizon, so its net P&L is
pnl = position * fwd_return - cost * 2 * |position| (in and out, cost = settings
commission + slippage per unit of turnover). The term is minus a mean-variance utility,
mean(pnl) - gamma/2 var(pnl) with gamma = `risk_aversion` (3: for an index's drift and
variance the optimum size is ~0.8, Merton's fraction), divided by s so that its batch
noise (~0.1) stays below the cross-entropy's scale (dividing by s^2 let it swamp the
policy). It pays the quantity head for sizing up where the policy is right and down
where it is wrong or the trade does not cover its cost, and, unlike a Sharpe term (blind
to scaling every size by a constant), it sets the overall level of exposure. (Sequential
turnover needs ordered batches; the round-trip charge is its upper bound for a position held one horizon.)

Optimiser: AdamW (decay on matrices only), linear warmup then cosine decay to
`min_lr_frac` x lr; gradients clipped to `grad_clip`; one optimiser step per segment
(deep supervision, as the original HRM). Early stopping on validation log-loss (default) or
validation net Sharpe; the best epoch's weights are kept, with the position rule fitted on
validation for them (hrm_core.trading.decision: centre, scale and no-trade band). The card then records, on
validation, the ACT depth distribution and the log-loss as run vs at full depth, skill
against the constant class-frequency predictor (hrm_core.training.skill) and the share of each action.
Validation net Sharpe is honest: positions in time order per series, each earns the
next bar's return, turnover |p_t - p_{t-1}| pays the cost, annualised per interval.

Scale out: under `torchrun --nproc_per_node=K` (WORLD_SIZE > 1) the same call joins
the process group (nccl on GPU, gloo on CPU), wraps the model in
DistributedDataParallel and shards batches with a DistributedSampler; only rank 0
saves. On CUDA the forward runs under bf16 autocast.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DistributedSampler

from hrm_core.model.cards import CHECKPOINT_FILE
from hrm_core.model.checkpoint import save_checkpoint
from hrm_core.model.config import ModelConfig
from hrm_core.trading.decision import DecisionRule, action_shares, choose_rule
from hrm_core.errors import DataError
from hrm_core.data.features import (
    DIRECTION_CLASSES,
    FeatureSpec,
    Scaler,
    compute_features,
)
from hrm_core.data.identity import check_model_name, data_hash, instrument_ids, instrument_vocab  # noqa: F401 (re-exported)
from hrm_core.trading.metrics import bootstrap_ci, periods_per_year, sharpe
from hrm_core.model.halting import halting_loss
from hrm_core.model.networks import build_model
from hrm_core.settings import Settings, load_settings
from hrm_core.training.config import (  # noqa: F401 (re-exported)
    TrainConfig, TrainingError, parse_overrides, train_command,
)
from hrm_core.training.skill import class_frequencies, skill_vs_null
from hrm_core.training.windows import WindowSet, in_period, make_windows_for_period, predict  # noqa: F401 (re-exported)

DEPTH_VARIES_BELOW = 0.95  # the card calls ACT depth adaptive when no depth covers this share of validation windows


# ----------------------------------------------------------------------------- data

def load_training_bars(cfg: TrainConfig, settings: Settings | None = None,
                       bars: Mapping[tuple[str, str], pd.DataFrame] | None = None,
                       ) -> tuple[dict[tuple[str, str], pd.DataFrame], dict[str, str]]:
    """Bars per (symbol, interval) cut at the end of the validation period (test bars are never loaded),
    and where each series came from ("sample", "cache", ...).

    `bars` (tests, your own files) replaces load_bars; it is cut the same way."""
    from hrm_core.data.market import load_bars

    out, sources = {}, {}
    for sym in cfg.symbols:
        for iv in cfg.intervals:
            if bars is not None:
                if (sym, iv) not in bars:
                    raise DataError(f"no bars given for {sym} {iv}")
                df, sources[f"{sym} {iv}"] = bars[(sym, iv)], "given"
            else:
                res = load_bars(sym, iv, None, cfg.val_end, settings=settings)
                df, sources[f"{sym} {iv}"] = res.bars, res.source
            out[(sym, iv)] = df[in_period(df.index, iv, None, cfg.val_end)]
    return out, sources


def fit_scaler(series: Mapping[tuple[str, str], pd.DataFrame], start: str, end: str) -> Scaler:
    """Scaler fit on the feature rows of bars inside [start, end] only, pooled over all series."""
    rows = [compute_features(df)[in_period(df.index, iv, start, end)] for (sym, iv), df in series.items()]
    return Scaler.fit(pd.concat(rows))


@dataclass
class PreparedData:
    series: dict[tuple[str, str], pd.DataFrame]
    vocab: dict[str, int]
    scaler: Scaler
    spec: FeatureSpec
    train: WindowSet
    val: WindowSet
    data_hash: str
    sources: dict[str, str] = field(default_factory=dict)


def prepare_data(cfg: TrainConfig, model_config: ModelConfig, *, settings: Settings | None = None,
                 bars: Mapping[tuple[str, str], pd.DataFrame] | None = None) -> PreparedData:
    """Load, cut at the end of validation, fit the scaler on train, build purged train / validation windows."""
    series, sources = load_training_bars(cfg, settings, bars)
    vocab = instrument_vocab(cfg.symbols)
    if max(vocab.values()) >= model_config.n_instruments:
        raise TrainingError(f"{len(vocab)} instruments need n_instruments > {len(vocab)} "
                            f"(preset has {model_config.n_instruments}): --override n_instruments={len(vocab) + 1}")
    spec = FeatureSpec(window=model_config.window, horizon=cfg.horizon, threshold_k=cfg.threshold_k,
                       vol_lookback=cfg.vol_lookback)
    try:
        scaler = fit_scaler(series, cfg.train_start, cfg.train_end)
    except ValueError as exc:
        raise TrainingError(f"no complete feature rows in the training period {cfg.train_start} .. "
                            f"{cfg.train_end}: {exc}") from None
    common = dict(vocab=vocab, scaler=scaler, spec=spec, purge=cfg.purge)
    train_ws = make_windows_for_period(series, start=cfg.train_start, end=cfg.train_end, stride=cfg.stride, **common)
    val_ws = make_windows_for_period(series, start=cfg.val_start, end=cfg.val_end, **common)
    for what, ws, (a, b) in (("training", train_ws, (cfg.train_start, cfg.train_end)),
                             ("validation", val_ws, (cfg.val_start, cfg.val_end))):
        if len(ws) < 2:
            raise TrainingError(f"the {what} period {a} .. {b} gives {len(ws)} labelled windows: widen it "
                                f"(each series needs {spec.min_bars} bars of history plus {cfg.purge} purged)")
    return PreparedData(series, vocab, scaler, spec, train_ws, val_ws, data_hash(series), sources)


# ----------------------------------------------------------------------------- loss

def sizing_pnl(policy_logits: torch.Tensor, quantity: torch.Tensor, fwd_return: torch.Tensor,
               cost: float, *, soft: bool = False) -> torch.Tensor:
    """Net P&L of position = direction x size held one horizon, paying `cost` on the way in and out.

    direction = sign(p_long - p_short), held fixed; soft: p_long - p_short itself, so the utility also trains
    the policy (a direct mean-variance objective on the position, as in Deep Momentum Networks)."""
    p = torch.softmax(policy_logits.float() if soft else policy_logits.detach().float(), -1)
    direction = (p[:, 2] - p[:, 0]) if soft else torch.sign(p[:, 2] - p[:, 0])  # the edge rule's side
    position = direction * quantity
    return position * fwd_return - cost * 2.0 * position.abs()


def loss_terms(out, direction: torch.Tensor, fwd_return: torch.Tensor, *, ret_scale: float, cost: float,
               cfg: TrainConfig, act: bool = True, halt: ModelConfig | None = None,
               class_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """The weighted training loss of one segment over the active samples, and each term for the log."""
    m = out.active.float() if out.active is not None else torch.ones_like(fwd_return)
    n = m.sum().clamp_min(1.0)
    logits = out.policy_logits.float()

    def mean(v: torch.Tensor) -> torch.Tensor:
        return (v * m).sum() / n

    policy = mean(F.cross_entropy(logits, direction, weight=class_weights, reduction="none"))
    # Huber with delta = s, divided by s: quadratic within one typical return, and a gradient bounded by 1
    # per sample, so an untrained value head (outputs ~1 against returns ~0.01) cannot swamp the trunk.
    value = mean(F.huber_loss(out.value.float(), fwd_return, reduction="none", delta=ret_scale)) / ret_scale
    pnl = sizing_pnl(logits, out.quantity.float(), fwd_return, cost, soft=cfg.soft_direction)
    mu = mean(pnl)
    utility = mu - 0.5 * cfg.risk_aversion * mean((pnl - mu) ** 2)
    sizing = -utility / ret_scale
    halt = halt or ModelConfig()  # the halting objective and its parameters
    objective = halt.halt_objective
    correct = (logits.detach().argmax(-1) == direction).float()
    q = torch.zeros((), device=logits.device)  # without ACT the halting head decides nothing: no loss for it
    if act and objective == "q_learning":  # halt target: the decision is already right
        q = mean(F.binary_cross_entropy_with_logits(out.q_halt.float(), correct, reduction="none"))
        if out.target_q_continue is not None:
            q = q + mean(F.binary_cross_entropy_with_logits(out.q_continue.float(), out.target_q_continue.float(),
                                                            reduction="none"))
    elif act and out.next_policy_logits is not None:
        q = mean(halting_loss(objective, q_halt=out.q_halt, logits=logits, next_logits=out.next_policy_logits,
                              direction=direction, survival=out.survival, last=out.last,
                              lambda_p=halt.ponder_lambda_p, beta=halt.ponder_beta, margin=halt.halt_margin))
    total = cfg.w_policy * policy + cfg.w_value * value + cfg.w_sizing * sizing + cfg.w_q * q
    terms = {"loss": total.item(), "policy": policy.item(), "value": value.item(), "sizing": sizing.item(),
             "q": q.item(), "accuracy": mean(correct).item()}
    return total, terms


# ----------------------------------------------------------------------------- evaluation

def net_sharpe(ws: WindowSet, position: np.ndarray, cost: float) -> dict[str, float]:
    """Annualised Sharpe per series of pos_t * r_{t+1} - cost * |pos_t - pos_{t-1}| (starting flat)."""
    out = {}
    for k, (sym, iv) in enumerate(ws.keys):
        rows = np.flatnonzero(ws.series == k)
        if len(rows) < 2:
            continue
        p = position[rows]
        turnover = np.abs(np.diff(p, prepend=0.0))
        pnl = p * ws.next_return[rows] - cost * turnover
        s = sharpe(pnl, periods_per_year=periods_per_year(iv))
        out[f"{sym} {iv}"] = 0.0 if not math.isfinite(s) else float(s)  # never in the market: Sharpe 0
    return out


def _mean_sharpe(per_series: dict[str, float]) -> float:
    return float(np.mean(list(per_series.values()))) if per_series else 0.0


def logloss(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)).mean())


def paired_logloss_difference(deep: np.ndarray, shallow: np.ndarray, y: np.ndarray, *, n_boot: int = 1000) -> dict:
    """Mean per-window log-loss of `deep` minus `shallow` on the same windows, with a 95 % stationary-bootstrap
    interval; `pays` is True when the interval lies below 0 (the deeper run predicts better)."""
    rows = np.arange(len(y))
    d = (-np.log(np.clip(deep[rows, y], 1e-12, 1.0))) - (-np.log(np.clip(shallow[rows, y], 1e-12, 1.0)))
    lo, hi = bootstrap_ci(d, lambda r: r.mean(axis=1), n_boot=n_boot, vectorized=True)
    return {"mean": float(d.mean()), "ci": [lo, hi], "pays": bool(hi < 0)}


def evaluate(model: nn.Module, ws: WindowSet, *, cost: float, device: torch.device | str = "cpu") -> dict:
    """Accuracy, log-loss, the position rule fitted on these windows (hrm_core.trading.decision) and the net Sharpe
    of its positions (mean over series, and each), exposure, mean ACT depth."""
    pred = predict(model, ws, device=device)
    probs, y = pred["probs"], ws.direction
    rule, tried = choose_rule(probs, pred["quantity"], lambda pos: _mean_sharpe(net_sharpe(ws, pos, cost)))
    pos = rule.positions(probs, pred["quantity"])
    per_series = net_sharpe(ws, pos, cost)
    counts = np.bincount(y, minlength=3)
    return {
        "accuracy": float((probs.argmax(-1) == y).mean()),
        "majority_rate": float(counts.max() / counts.sum()),  # accuracy of always guessing the commonest class
        "logloss": logloss(probs, y),
        "net_sharpe": _mean_sharpe(per_series),
        "net_sharpe_by_series": per_series,
        "exposure": float(np.abs(pos).mean()),
        "mean_steps": float(pred["steps"].mean()),
        "decision": {**rule.to_dict(), **tried},
        "n": int(len(y)),
    }


def choose_inference_mode(model: nn.Module, ws: WindowSet, *, device: torch.device | str = "cpu") -> tuple[ModelConfig, dict]:
    """The HRM's config with the inference mode of lowest validation log-loss among fixed depths 1..M-1, max
    depth and (ACT on) adaptive halting; ties go to the cheaper, earlier candidate. Returns it and every score."""
    cfg = model.config
    M = cfg.max_segments
    candidates = [("fixed", k) for k in range(1, M)] + [("max", M)] + ([("adaptive", None)] if cfg.act and M > 1 else [])
    scores: dict[str, float] = {}
    best, best_score = candidates[-1], math.inf
    for mode, k in candidates:
        trial = replace(cfg, inference_mode=mode, fixed_depth=k if mode == "fixed" else 1)
        model.config = trial
        score = logloss(predict(model, ws, device=device)["probs"], ws.direction)
        scores[mode if k is None or mode == "max" else f"fixed {k}"] = score
        if score < best_score:
            best, best_score = (mode, k), score
    mode, k = best
    chosen = replace(cfg, inference_mode=mode, fixed_depth=k if mode == "fixed" else 1)
    model.config = chosen
    return chosen, {"chosen": mode if mode != "fixed" else f"fixed {k}", "val_logloss": scores,
                    "rule": "lowest validation log-loss; ties to the cheaper mode"}


def validation_report(model: nn.Module, data: PreparedData, rule: DecisionRule, *, horizon: int,
                      device: torch.device | str = "cpu") -> dict:
    """What the model card states about the kept model on validation: ACT depth as run vs full depth,
    skill against the constant class-frequency predictor, and how often each action is taken."""
    ws = data.val
    used, full = predict(model, ws, device=device), predict(model, ws, device=device, halt=False)
    one = predict(model, ws, device=device, depth=1)
    depth = np.bincount(used["steps"].astype(int), minlength=int(used["steps"].max()) + 1)[1:] / len(ws)
    modal = float(depth.max())
    cfg = model.config
    shares = action_shares(rule.positions(used["probs"], used["quantity"]))
    skill = skill_vs_null(used["probs"], ws.direction, class_frequencies(data.train.direction), horizon=horizon,
                          n_boot=1000)
    return {
        "act_depth": {
            "distribution": {str(k + 1): float(v) for k, v in enumerate(depth)},
            "mean": float(used["steps"].mean()),
            "logloss_as_run": logloss(used["probs"], ws.direction),
            "logloss_full_depth": logloss(full["probs"], ws.direction),
            "logloss_depth_1": logloss(one["probs"], ws.direction),
            "depth_pays": paired_logloss_difference(full["probs"], one["probs"], ws.direction),
            "objective": cfg.halt_objective, "inference_mode": cfg.inference_mode,
            "fixed_depth": cfg.fixed_depth if cfg.inference_mode == "fixed" else None,
            "varies": modal < DEPTH_VARIES_BELOW,
            "statement": (f"depth varies with the input: the commonest depth covers {modal:.0%} of validation windows"
                          if modal < DEPTH_VARIES_BELOW else
                          f"depth does not adapt: {modal:.0%} of validation windows use the same number of segments"),
        },
        "skill": skill,
        "val_action_shares": dict(zip(DIRECTION_CLASSES, map(float, shares))),
    }


# ----------------------------------------------------------------------------- progress

@dataclass(frozen=True)
class TrainProgress:
    """One progress report; `kind` is "start", "batch", "epoch" or "done"."""

    kind: str
    epoch: int  # 1-based; 0 before the first
    epochs: int
    step: int  # samples drawn in the whole run (training), or a count of work units
    total_steps: int
    message: str = ""
    metrics: dict = field(default_factory=dict)

    @property
    def fraction(self) -> float:
        return 1.0 if self.kind == "done" else min(self.step / max(self.total_steps, 1), 1.0)


ProgressFn = Callable[[TrainProgress], None]


def format_epoch(h: dict) -> str:
    """One log line per epoch: each loss term, validation accuracy, log-loss and net Sharpe."""
    return (f"epoch {h['epoch']:>3}  loss {h['loss']:.4f} (policy {h['policy']:.4f} value {h['value']:.4f} "
            f"sizing {h['sizing']:+.3f} q {h['q']:.4f})  val acc {h['val_accuracy']:.3f} "
            f"logloss {h['val_logloss']:.4f} net Sharpe {h['val_net_sharpe']:+.2f} steps {h['val_mean_steps']:.2f}"
            f"  lr {h['lr']:.2e}{'  *' if h.get('best') else ''}")


# ----------------------------------------------------------------------------- the loop

@dataclass
class TrainResult:
    model: nn.Module  # the best epoch's weights, eval mode, on CPU
    model_config: ModelConfig
    train_config: TrainConfig
    feature_spec: FeatureSpec
    scaler: Scaler
    instruments: dict[str, int]
    intervals: tuple[str, ...]
    periods: dict
    metrics: dict  # validation figures of the kept epoch (never the test period)
    history: list[dict]
    data_hash: str
    seconds: float
    device: str
    rank: int = 0
    world_size: int = 1
    shard_indices: list[int] = field(default_factory=list)  # training rows this rank drew in the last epoch

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _setup_distributed(device_pref: str) -> tuple[int, int, torch.device, bool]:
    """Join torchrun's process group when WORLD_SIZE > 1; returns (rank, world, device, created)."""
    use_cuda = device_pref == "cuda" or (device_pref == "auto" and torch.cuda.is_available())
    if device_pref == "cuda" and not torch.cuda.is_available():
        raise TrainingError("device 'cuda' asked for but no GPU is visible: use --device cpu or auto")
    created = False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        created = True
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", rank % max(torch.cuda.device_count(), 1)))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local), created
    return rank, world, torch.device("cpu"), created


def _lr_lambda(total: int, warmup: int, min_frac: float) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        t = min((step - warmup) / max(total - warmup, 1), 1.0)
        return min_frac + (1 - min_frac) * 0.5 * (1 + math.cos(math.pi * t))
    return f


def _reduce_sums(sums: dict[str, float], world: int, device: torch.device) -> dict[str, float]:
    if world == 1:
        return sums
    keys = sorted(sums)
    t = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist()))


class _SampleStream:
    """A batch of `size` slots over one epoch's sample order; halted slots are refilled with the next samples."""

    def __init__(self, order: list[int], tensors: list[torch.Tensor], size: int, device: torch.device):
        self.order = torch.as_tensor(order, dtype=torch.long, device=device)
        self.tensors = tensors
        self.slots = self.order[:size].clone()
        self.next = size
        self.batch = [t[self.slots] for t in tensors]

    def can_refill(self, n: int) -> bool:
        return self.next + n <= len(self.order)

    def refill(self, rows: torch.Tensor) -> int:
        """Put the next samples into the slots `rows` (bool); returns how many were drawn."""
        n = int(rows.sum())
        if n:
            self.slots[rows] = self.order[self.next:self.next + n]
            self.next += n
            for b, t in zip(self.batch, self.tensors):
                b[rows] = t[self.slots[rows]]
        return n


def _stream_ends(stream: _SampleStream, halted: torch.Tensor, world: int, device: torch.device) -> tuple[bool, float]:
    """(True when the halted rows cannot all be refilled on some rank, the mean rows halted per rank).

    Every rank must stop at the same step, and must follow the same learning-rate schedule, so both are agreed."""
    n = int(halted.sum())
    t = torch.tensor([0.0 if stream.can_refill(n) else 1.0, float(n)], device=device)
    if world > 1:
        dist.all_reduce(t)
    return t[0].item() > 0, t[1].item() / world


def train(cfg: TrainConfig, *, settings: Settings | None = None, progress: ProgressFn | None = None,
          bars: Mapping[tuple[str, str], pd.DataFrame] | None = None) -> TrainResult:
    """Train a model as `cfg` says and return it with everything a checkpoint records.

    `progress` receives TrainProgress reports (rank 0 only). `bars` replaces market-data loading."""
    t0 = time.perf_counter()
    settings = settings or load_settings()
    cost = (settings.costs.total_bps if cfg.cost_bps is None else cfg.cost_bps) * 1e-4
    rank, world, device, created = _setup_distributed(cfg.device)
    if cfg.unroll_segments and world > 1:
        raise TrainingError("unroll_segments runs in one process: DDP expects one forward per backward")
    report = progress if (progress is not None and rank == 0) else (lambda _p: None)
    try:
        mcfg = cfg.model_config()
        report(TrainProgress("start", 0, cfg.epochs, 0, 1, "loading data and fitting the scaler"))
        data = prepare_data(cfg, mcfg, settings=settings, bars=bars)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        model = build_model(mcfg).to(device)
        if not mcfg.act:  # the Q-head decides nothing and gets no loss: frozen, so DDP expects no gradient for it
            model.heads.q.requires_grad_(False)
        net = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None) \
            if world > 1 else model

        dataset = data.train.tensors()
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
        tensors = [t.to(device) for t in dataset.tensors]  # a few MB: the stream gathers rows from them
        ret_scale = float(max(np.std(data.train.fwd_return), 1e-6))
        class_weights = None
        if cfg.class_weighting == "balanced":
            counts = np.bincount(data.train.direction, minlength=3).astype(np.float64)
            w = np.where(counts > 0, counts.sum() / (3 * np.maximum(counts, 1)), 0.0)
            class_weights = torch.tensor(w, dtype=torch.float32, device=device)

        decay = [p for p in model.parameters() if p.ndim >= 2]
        no_decay = [p for p in model.parameters() if p.ndim < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
        per_epoch = len(sampler)
        total = cfg.epochs * per_epoch  # progress and the LR schedule count samples drawn, not optimiser steps
        lr_at = _lr_lambda(total, max(1, int(cfg.warmup_frac * total)), cfg.min_lr_frac)
        amp = device.type == "cuda"

        history: list[dict] = []
        best_score, best_state, best_metrics, bad_epochs, drawn = -math.inf, None, {}, 0, 0
        shard: list[int] = []
        report(TrainProgress("start", 0, cfg.epochs, 0, total,
                             f"{len(data.train)} training / {len(data.val)} validation windows, "
                             f"{len(data.series)} series, {world} process(es) on {device.type}"))
        for epoch in range(1, cfg.epochs + 1):
            sampler.set_epoch(epoch)
            shard = list(iter(sampler))
            net.train()
            sums = {k: 0.0 for k in ("loss", "policy", "value", "sizing", "q", "accuracy", "n")}
            stream = _SampleStream(shard, tensors, min(cfg.batch_size, len(shard)), device)
            carry, pending, segments = None, 0.0, 0
            while True:
                for g in opt.param_groups:
                    g["lr"] = cfg.lr * lr_at(drawn)
                x, iid, tid, y, fwd = stream.batch
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                    out, carry = net(x, iid, tid, carry=carry, keep_graph=cfg.unroll_segments)
                loss, terms = loss_terms(out, y, fwd, ret_scale=ret_scale, cost=cost, cfg=cfg, act=mcfg.act,
                                         halt=mcfg, class_weights=class_weights)
                for k, v in terms.items():
                    sums[k] += v
                sums["n"] += 1
                if cfg.unroll_segments:  # sum the batch's segment losses; step once all its rows have halted
                    pending, segments = pending + loss, segments + 1
                    if not bool(carry.halted.all()):
                        continue
                    loss, pending, segments = pending / segments, 0.0, 0
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
                opt.step()
                # Halted rows get fresh samples (deep supervision on full batches, as the reference HRM);
                # the epoch ends when the stream cannot refill them (every rank at the same step under DDP).
                ends, mean_halted = _stream_ends(stream, carry.halted, world, device)
                if ends:
                    break
                fresh = carry.halted.clone()
                stream.refill(fresh)
                drawn += mean_halted  # the same on every rank: one learning-rate schedule for all
                carry = model.refill(carry, fresh)
                report(TrainProgress("batch", epoch, cfg.epochs, min(int(drawn), total), total,
                                     metrics={"loss": terms["loss"]}))
            drawn = epoch * per_epoch

            sums = _reduce_sums(sums, world, device)
            val = evaluate(model, data.val, cost=cost, device=device)
            score = -val["logloss"] if cfg.early_stop == "val_logloss" else val["net_sharpe"]
            if world > 1:  # rank 0 decides, so every rank keeps the same epoch and stops together
                t = torch.tensor([score], dtype=torch.float64, device=device)
                dist.broadcast(t, src=0)
                score = t.item()
            improved = score > best_score
            h = {"epoch": epoch, **{k: sums[k] / max(sums["n"], 1) for k in sums if k != "n"},
                 **{f"val_{k}": v for k, v in val.items() if k not in ("n", "decision")}, "lr": opt.param_groups[0]["lr"],
                 "best": improved, "seconds": round(time.perf_counter() - t0, 1)}
            history.append(h)
            if improved:
                best_score, bad_epochs = score, 0
                best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
                best_metrics = {"epoch": epoch, **{f"val_{k}": v for k, v in val.items()}}
            else:
                bad_epochs += 1
            report(TrainProgress("epoch", epoch, cfg.epochs, int(drawn), total, format_epoch(h), h))
            if bad_epochs >= cfg.patience:
                report(TrainProgress("epoch", epoch, cfg.epochs, total, total,
                                     f"early stop: no better {cfg.early_stop} for {cfg.patience} epoch(s)", h))
                break

        if best_state is None:  # every validation score was NaN: the run diverged, keep nothing
            raise TrainingError(f"training diverged: validation {cfg.early_stop} was never finite; "
                                "lower --lr or check the data for extreme values")
        model = model.cpu()
        model.load_state_dict(best_state)
        model.eval()
        depth_choice = None
        if cfg.select_depth and mcfg.arch == "hrm":  # the rule below is then fitted on the chosen mode's outputs
            mcfg, depth_choice = choose_inference_mode(model, data.val)
            best_metrics = {"epoch": best_metrics["epoch"],
                            **{f"val_{k}": v for k, v in evaluate(model, data.val, cost=cost).items()}}
        decision = best_metrics.pop("val_decision")
        rule = DecisionRule(decision["rule"], scale=decision["scale"], band=decision["band"],
                            centre=decision["centre"])
        card = validation_report(model, data, rule, horizon=cfg.horizon)
        seconds = time.perf_counter() - t0
        metrics = {**best_metrics, "decision": {**rule.to_dict(), "chosen_on": "validation",
                                                "candidates": decision["candidates"],
                                                "max_one_action_share": decision["max_one_action_share"]},
                   **card, **({"depth_choice": depth_choice} if depth_choice else {}), "early_stop": cfg.early_stop, "epochs_run": len(history),
                   "train_windows": len(data.train), "val_windows": len(data.val), "cost_bps": cost * 1e4,
                   "train_seconds": round(seconds, 1), "world_size": world, "device": device.type,
                   "ret_scale": ret_scale, "data_sources": data.sources}
        report(TrainProgress("done", len(history), cfg.epochs, total, total,
                             f"done in {seconds:.0f} s; kept epoch {best_metrics.get('epoch')}", metrics))
        return TrainResult(model=model, model_config=mcfg, train_config=cfg, feature_spec=data.spec,
                           scaler=data.scaler, instruments=data.vocab, intervals=cfg.intervals,
                           periods=cfg.periods(), metrics=metrics, history=history, data_hash=data.data_hash,
                           seconds=seconds, device=device.type, rank=rank, world_size=world,
                           shard_indices=[int(i) for i in shard])
    finally:
        if created and dist.is_initialized():
            dist.destroy_process_group()


def save_result(result: TrainResult, name: str, *, models_dir: str | os.PathLike | None = None,
                settings: Settings | None = None, overwrite: bool = False) -> Path | None:
    """Write models/NAME/model.pt and its model card (rank 0 only; other ranks return None).

    NAME is checked by `check_model_name`: it cannot point outside the models folder."""
    name = check_model_name(name)
    if not result.is_main:
        return None
    settings = settings or load_settings()
    root = Path(models_dir) if models_dir is not None else settings.data.path("models_dir")
    return save_checkpoint(
        root / name, result.model, feature_spec=result.feature_spec, scaler=result.scaler,
        instruments=result.instruments, intervals=result.intervals, periods=result.periods,
        metrics=result.metrics, data_hash=result.data_hash, name=name,
        train_config=result.train_config.to_dict(), history=result.history,
        command=train_command(result.train_config, name), overwrite=overwrite)


def train_and_save(cfg: TrainConfig, name: str, *, models_dir: str | os.PathLike | None = None,
                   settings: Settings | None = None, progress: ProgressFn | None = None,
                   overwrite: bool = False,
                   bars: Mapping[tuple[str, str], pd.DataFrame] | None = None) -> tuple[TrainResult, Path | None]:
    """train() then save_result(): what `hrm train` and the dashboard's Train page call.

    The name is checked before training starts, so a bad name costs nothing."""
    name = check_model_name(name)
    settings = settings or load_settings()
    root = Path(models_dir) if models_dir is not None else settings.data.path("models_dir")
    if not overwrite and (root / name / CHECKPOINT_FILE).exists():
        raise TrainingError(f"model {name!r} already exists in {root}: choose another name or overwrite it")
    result = train(cfg, settings=settings, progress=progress, bars=bars)
    return result, save_result(result, name, models_dir=root, settings=settings, overwrite=overwrite)



__all__ = ["TrainConfig", "TrainResult", "TrainProgress", "TrainingError", "train", "train_and_save",
           "save_result", "prepare_data", "evaluate", "predict", "make_windows_for_period", "instrument_ids",
           "instrument_vocab", "parse_overrides", "train_command", "loss_terms", "in_period", "data_hash"]
