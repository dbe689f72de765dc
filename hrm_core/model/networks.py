"""Hierarchical Reasoning Model (Wang et al. 2025, arXiv 2506.21734) for market windows.

Two recurrent transformer modules share one token sequence (a summary token
carrying instrument and timeframe, then one token per patch of bars). Inside a
*segment*, for each of N = h_cycles cycles the fast module L updates T = l_cycles
times, `z_L <- L(z_L + z_H + x_emb)`, then the slow module H updates once,
`z_H <- H(z_H + z_L)`. Heads read the summary token of z_H. Up to M =
max_segments segments run with the carry detached between them (deep
supervision); a halting head decides per sample whether to stop (ACT), trained by one of
the objectives in hrm_core.model.halting.

Entry points (the same segment code serves all of them):

    out, carry = model(x, instrument_id, timeframe_id, carry=None, trace=False)
        One segment for every not-yet-halted sample; the returned carry is
        detached. Training: gradients follow `config.grad_mode`; with ACT the
        halting uses exploration and `out.target_q_continue` holds the Q target.
    out = model.infer(x, instrument_id, timeframe_id, max_segments=None, trace=False)
        Whole decision under inference_mode; halts per sample (halted samples stop
        computing and changing); `out.steps` = segments used.
    out = model.attribution_forward(x, instrument_id, timeframe_id, segments=None)
        Whole decision with gradients through every step and the single-use
        taps in `model.taps` (for Captum layer methods).

Training with deep supervision (one optimiser step per segment, as the original), the batch
kept full by swapping halted samples for fresh ones (`refill`; hrm_core/training/train.py does this):

    model = build_model(get_preset("default")).train()
    x, iid, tid, y = next_batch()
    carry = None
    while samples_left():
        out, carry = model(x, iid, tid, carry=carry)           # carry comes back detached
        loss = F.cross_entropy(out.policy_logits, y)           # + value, sizing and (ACT on) Q-head terms
        opt.zero_grad(); loss.backward(); opt.step()
        fresh = carry.halted.clone()
        x[fresh], iid[fresh], tid[fresh], y[fresh] = next_samples(int(fresh.sum()))
        carry = model.refill(carry, fresh)                     # fresh rows start a new decision

The flat baseline (`FlatTransformer`) has the same entry points and output; its carry
is halted after every call, so every row is refilled after each step.

Trace (`trace=True`): `out.trace` is an `HRMTrace`; `trace.segments[s]` is a
`SegmentTrace` with `l_residuals` (N*T tensors [B], index c*T + t),
`h_residuals` (N tensors [B]), the summary-token states `z_L` (N*T x [B, D]) and
`z_H` (N x [B, D]) after each update, and `active` [B]. A residual is
||z_new - z_old|| / ||z_old|| over all tokens of one sample. Samples that did not
run in a segment have NaN there (use nanmean). Tracing never changes outputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hrm_core.model.config import ModelConfig
from hrm_core.errors import ModelError
from hrm_core.model.halting import halts, initial_q_bias
from hrm_core.model.layers import RotaryPositionalEmbedding, TransformerBlock, lecun_linear, trunc_normal_

N_ACTIONS = 3  # short / flat / long = 0 / 1 / 2


# ----------------------------------------------------------------------------- state and outputs

@dataclass
class InnerCarry:
    z_H: torch.Tensor  # (B, S, D)
    z_L: torch.Tensor  # (B, S, D)


@dataclass
class HRMCarry:
    """State between segments: passed in and returned, never kept on the module."""

    inner: InnerCarry | None  # None for the flat baseline
    steps: torch.Tensor  # (B,) long: segments run so far
    halted: torch.Tensor  # (B,) bool: halted samples no longer change
    survival: torch.Tensor | None = None  # (B,) ponder: chance of not having halted so far (None = 1)


@dataclass
class SegmentTrace:
    """One segment of reasoning; tensors are [B] (residuals) or [B, D] (summary-token states)."""

    active: torch.Tensor  # (B,) bool: the sample reasoned in this segment (else NaN everywhere below)
    l_residuals: list[torch.Tensor] = field(default_factory=list)  # N*T x (B,), index c*T + t
    h_residuals: list[torch.Tensor] = field(default_factory=list)  # N x (B,)
    z_L: list[torch.Tensor] = field(default_factory=list)  # N*T x (B, D): summary token after each L step
    z_H: list[torch.Tensor] = field(default_factory=list)  # N x (B, D): summary token after each H update


@dataclass
class HRMTrace:
    segments: list[SegmentTrace]
    h_cycles: int
    l_cycles: int

    def l_residual_matrix(self) -> torch.Tensor:
        """(B, segments, N*T) L residuals; NaN where a sample had halted."""
        return torch.stack([torch.stack(s.l_residuals, 1) for s in self.segments], 1)

    def h_residual_matrix(self) -> torch.Tensor:
        """(B, segments, N) H residuals; NaN where a sample had halted."""
        return torch.stack([torch.stack(s.h_residuals, 1) for s in self.segments], 1)


@dataclass
class HRMOutput:
    policy_logits: torch.Tensor  # (B, 3): short / flat / long
    quantity: torch.Tensor  # (B,) in [0, 1]: position size
    value: torch.Tensor  # (B,): expected forward return
    q_halt: torch.Tensor  # (B,) logit
    q_continue: torch.Tensor  # (B,) logit
    steps: torch.Tensor  # (B,) long: segments used
    finite: torch.Tensor  # (B,) bool: every output of the sample is finite (else fall back to "flat")
    trace: HRMTrace | None = None
    active: torch.Tensor | None = None  # forward() only: (B,) bool, the sample ran this segment (mask losses)
    target_q_continue: torch.Tensor | None = None  # forward() in training with ACT: (B,) Q-learning target
    next_policy_logits: torch.Tensor | None = None  # forward() in training with ACT: (B, 3) one segment later
    survival: torch.Tensor | None = None  # forward() only: (B,) chance of reaching this segment (ponder)
    last: torch.Tensor | None = None  # forward() only: (B,) bool, this is the sample's final allowed segment


# ----------------------------------------------------------------------------- embeddings

class InputEmbeddingNetwork(nn.Module):
    """Features -> hidden: each patch of `patch_size` bars (P*F values) becomes one token."""

    def __init__(self, n_features: int, patch_size: int, hidden: int):
        super().__init__()
        self.patch_size = patch_size
        # NOTE: the reference embeds discrete tokens and scales by sqrt(hidden); a LeCun-initialised
        # linear on standardised features already gives unit-scale tokens, so no scale here.
        self.proj = lecun_linear(n_features * patch_size, hidden, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, W, F_ = x.shape
        return self.proj(x.reshape(B, W // self.patch_size, self.patch_size * F_))  # (B, W/P, D)


class InstrumentEmbedding(nn.Module):
    """One vector per instrument; id 0 is the shared "unknown" row, and ids >= n_instruments map to it."""

    def __init__(self, n_instruments: int, hidden: int):
        super().__init__()
        self.n_instruments = n_instruments
        self.weight = nn.Parameter(trunc_normal_(torch.empty(n_instruments, hidden), std=1 / math.sqrt(hidden)))

    def forward(self, instrument_id: torch.Tensor) -> torch.Tensor:
        ids = torch.where(instrument_id < self.n_instruments, instrument_id, torch.zeros_like(instrument_id))
        return F.embedding(ids, self.weight)


class TimeframeEmbedding(nn.Module):
    """One vector per timeframe id (see config.TIMEFRAMES)."""

    def __init__(self, n_timeframes: int, hidden: int):
        super().__init__()
        self.weight = nn.Parameter(trunc_normal_(torch.empty(n_timeframes, hidden), std=1 / math.sqrt(hidden)))

    def forward(self, timeframe_id: torch.Tensor) -> torch.Tensor:
        return F.embedding(timeframe_id, self.weight)


class MarketEmbedding(nn.Module):
    """Window + instrument + timeframe -> token sequence (B, 1 + W/P, D); token 0 is the summary token."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        D = config.hidden
        self.input = InputEmbeddingNetwork(config.n_features, config.patch_size, D)
        self.instrument = InstrumentEmbedding(config.n_instruments, D)
        self.timeframe = TimeframeEmbedding(config.n_timeframes, D)
        self.summary = nn.Parameter(trunc_normal_(torch.empty(D), std=1 / math.sqrt(D)))
        # Reference: embeddings initialised at std 1/sqrt(D) and scaled by sqrt(D); three are summed
        # here, so 1/sqrt(3) keeps the summary token at unit scale (the reference uses 1/sqrt(2) for two).
        self.scale = math.sqrt(D / 3)

    def forward(self, x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor) -> torch.Tensor:
        summary = self.scale * (self.summary + self.instrument(instrument_id) + self.timeframe(timeframe_id))  # (B, D)
        return torch.cat((summary[:, None], self.input(x)), dim=1)  # (B, S, D)


# ----------------------------------------------------------------------------- reasoning modules

class ReasoningModule(nn.Module):
    """A stack of post-norm blocks with additive input injection: blocks(z + injection)."""

    def __init__(self, config: ModelConfig, n_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerBlock(config.hidden, config.n_heads, config.expansion, config.rms_norm_eps) for _ in range(n_layers))

    def forward(self, z: torch.Tensor, injection: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        z = z + injection
        for layer in self.layers:
            z = layer(z, cos, sin)
        return z


class HighLevelModule(ReasoningModule):
    """H: slow, strategic; updates once per cycle from z_H + z_L."""


class LowLevelModule(ReasoningModule):
    """L: fast, tactical; updates T times per cycle from z_L + z_H + x_emb."""


# ----------------------------------------------------------------------------- heads

class PolicyHead(nn.Module):
    """Summary state -> logits over short / flat / long."""

    def __init__(self, hidden: int):
        super().__init__()
        self.proj = lecun_linear(hidden, N_ACTIONS, bias=True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.proj(h)


class QuantityHead(nn.Module):
    """Summary state -> position size in [0, 1] (sigmoid)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.proj = lecun_linear(hidden, 1, bias=True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.proj(h)).squeeze(-1)


class ValueHead(nn.Module):
    """Summary state -> expected forward return (unbounded)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.proj = lecun_linear(hidden, 1, bias=True)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.proj(h).squeeze(-1)


class QHead(nn.Module):
    """Summary state -> (q_halt, q_continue) logits. Zero weights; biases -5 (reference) or deep start."""

    def __init__(self, hidden: int, deep_start: bool = False):
        super().__init__()
        self.proj = lecun_linear(hidden, 2, bias=True)
        with torch.no_grad():
            self.proj.weight.zero_()
            self.proj.bias.copy_(torch.tensor(initial_q_bias(deep_start)))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.proj(h)
        return q[..., 0], q[..., 1]


class OutputHeads(nn.Module):
    """All heads on the summary state (B, D); returns HRMOutput fields as a dict."""

    def __init__(self, hidden: int, deep_start: bool = False):
        super().__init__()
        self.policy = PolicyHead(hidden)
        self.quantity = QuantityHead(hidden)
        self.value = ValueHead(hidden)
        self.q = QHead(hidden, deep_start)

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        q_halt, q_continue = self.q(h)
        return dict(policy_logits=self.policy(h), quantity=self.quantity(h), value=self.value(h),
                    q_halt=q_halt, q_continue=q_continue)


def _finite(heads: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B,) True where every head output of the sample is finite."""
    cols = [heads["policy_logits"]] + [heads[k][:, None] for k in ("quantity", "value", "q_halt", "q_continue")]
    return torch.isfinite(torch.cat(cols, dim=1)).all(dim=1)


# ----------------------------------------------------------------------------- attribution taps

class AttributionTaps(nn.Module):
    """Identity modules that run exactly once per `attribution_forward` (never in other modes).

    embedding:   the embedded input (B, S, D), before any reasoning
    h_prev:      z_H entering the final H update (previous H state)
    l_final:     z_L entering the final H update (final L state)
    h_cycle[i]:  z_H after cycle i, counted over segments: i = segment * N + cycle
    Captum layer hooks assume one call per forward; a block reused in the loop would be wrong.
    """

    def __init__(self, config: ModelConfig, recurrent: bool = True):
        super().__init__()
        self.embedding = nn.Identity()
        if recurrent:
            self.h_prev = nn.Identity()
            self.l_final = nn.Identity()
            self.h_cycle = nn.ModuleList(nn.Identity() for _ in range(config.max_segments * config.h_cycles))


# ----------------------------------------------------------------------------- input checks

def _check_inputs(config: ModelConfig, x, instrument_id, timeframe_id) -> tuple[torch.Tensor, torch.Tensor]:
    """Raise ModelError with the fix for wrong types, shapes or dtypes; return long ids."""
    if not isinstance(x, torch.Tensor):
        raise ModelError(f"x must be a torch.Tensor [B, {config.window}, {config.n_features}], got {type(x).__name__}")
    expected = (config.window, config.n_features)
    if x.ndim != 3 or tuple(x.shape[1:]) != expected or x.shape[0] == 0:
        raise ModelError(f"x must have shape [B, window={config.window}, n_features={config.n_features}] "
                         f"with B >= 1, got {list(x.shape)}")
    if x.dtype != torch.float32:
        raise ModelError(f"x must be float32, got {x.dtype}: convert with x.float()")
    B = x.shape[0]
    out = []
    for name, ids in (("instrument_id", instrument_id), ("timeframe_id", timeframe_id)):
        if not isinstance(ids, torch.Tensor):
            raise ModelError(f"{name} must be a LongTensor [B], got {type(ids).__name__}")
        if ids.shape != (B,):
            raise ModelError(f"{name} must have shape [B={B}], got {list(ids.shape)}")
        if ids.dtype == torch.bool or ids.is_floating_point() or ids.is_complex():
            raise ModelError(f"{name} must be an integer tensor (long), got {ids.dtype}")
        ids = ids.long()
        if bool((ids < 0).any()):
            raise ModelError(f"{name} must be >= 0 (instrument 0 = unknown), got {ids.min().item()}")
        out.append(ids)
    if bool((out[1] >= config.n_timeframes).any()):
        raise ModelError(f"timeframe_id must be < n_timeframes={config.n_timeframes} (see config.TIMEFRAMES), "
                         f"got {out[1].max().item()}")
    return out[0], out[1]


def _check_carry(carry: HRMCarry, batch_size: int) -> None:
    if not isinstance(carry, HRMCarry) or carry.steps.shape != (batch_size,):
        raise ModelError(f"carry does not match the batch (B={batch_size}): start a new batch with carry=None")


# ----------------------------------------------------------------------------- trace recording

def _rel_residual(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    """||after - before|| / ||before|| per sample over all tokens and channels: (B,)."""
    return (after - before).flatten(1).norm(dim=1) / before.flatten(1).norm(dim=1).clamp_min(1e-12)


class _TraceRecorder:
    """Collects one segment's residuals and summary states; rows of halted samples become NaN."""

    def __init__(self, batch_size: int, idx: torch.Tensor | None, active: torch.Tensor):
        self.B, self.idx = batch_size, idx  # idx: rows of the full batch being computed (None = all)
        self.seg = SegmentTrace(active=active.clone())

    def _full(self, v: torch.Tensor) -> torch.Tensor:
        v = v.detach().float()
        if self.idx is None:
            nan = torch.tensor(float("nan"), dtype=v.dtype, device=v.device)
            mask = self.seg.active.view(-1, *([1] * (v.ndim - 1)))
            return torch.where(mask, v, nan)
        full = v.new_full((self.B, *v.shape[1:]), float("nan"))
        full[self.idx] = v
        return full

    @torch.no_grad()
    def l_step(self, before: torch.Tensor, after: torch.Tensor) -> None:
        self.seg.l_residuals.append(self._full(_rel_residual(before, after)))
        self.seg.z_L.append(self._full(after[:, 0]))

    @torch.no_grad()
    def h_step(self, before: torch.Tensor, after: torch.Tensor) -> None:
        self.seg.h_residuals.append(self._full(_rel_residual(before, after)))
        self.seg.z_H.append(self._full(after[:, 0]))


# ----------------------------------------------------------------------------- the model

def _wants_grad(mode: str, last_cycle: bool, last_update: bool) -> bool:
    """Whether an update builds a graph. none: never; one_step: only the final L and H update
    (the original HRM); full: the whole last cycle (as in TRM); all: every update (attribution)."""
    return {"none": False, "one_step": last_update, "full": last_cycle, "all": True}[mode]


class HierarchicalReasoningModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.arch != "hrm":
            raise ModelError(f"HierarchicalReasoningModel needs arch='hrm', got {config.arch!r}: use build_model")
        self.config = config
        D, hd = config.hidden, config.hidden // config.n_heads
        self.embed = MarketEmbedding(config)
        self.rotary = RotaryPositionalEmbedding(hd, config.n_tokens, config.rope_theta)
        self.H_level = HighLevelModule(config, config.h_layers)
        self.L_level = LowLevelModule(config, config.l_layers)
        self.heads = OutputHeads(D, config.deep_start)
        self.taps = AttributionTaps(config)
        # Initial states: fixed buffers, std 1 (reference), broadcast over batch and tokens.
        self.register_buffer("H_init", trunc_normal_(torch.empty(D), std=1.0))
        self.register_buffer("L_init", trunc_normal_(torch.empty(D), std=1.0))

    # -- state

    def initial_carry(self, batch_size: int) -> HRMCarry:
        """Fresh state: z_H, z_L at their init buffers, nothing run, nothing halted.

        Within a carry, halted samples stay frozen; training swaps them for fresh samples with
        `refill` (the reference's streaming batch), so every optimiser step sees a full batch."""
        shape = (batch_size, self.config.n_tokens, self.config.hidden)
        dev = self.H_init.device
        return HRMCarry(inner=InnerCarry(z_H=self.H_init.expand(shape), z_L=self.L_init.expand(shape)),
                        steps=torch.zeros(batch_size, dtype=torch.long, device=dev),
                        halted=torch.zeros(batch_size, dtype=torch.bool, device=dev),
                        survival=torch.ones(batch_size, device=dev))

    def refill(self, carry: HRMCarry, fresh: torch.Tensor) -> HRMCarry:
        """The carry with the rows in `fresh` (B,) bool reset to a new decision: training swaps halted samples
        for new ones there (as the reference HRM does), so every optimiser step sees a full batch."""
        init = self.initial_carry(fresh.shape[0])
        rows = fresh.view(-1, 1, 1)
        # detached: after an unrolled step (keep_graph) the old state's graph has been freed
        inner = InnerCarry(z_H=torch.where(rows, init.inner.z_H, carry.inner.z_H).detach(),
                           z_L=torch.where(rows, init.inner.z_L, carry.inner.z_L).detach())
        survival = torch.ones_like(init.survival) if carry.survival is None else \
            torch.where(fresh, init.survival, carry.survival)
        return HRMCarry(inner, torch.where(fresh, 0, carry.steps), carry.halted & ~fresh, survival)

    # -- one segment: the H/L loop, written out

    def _reason(self, z: InnerCarry, x_emb: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, *,
                grad: str, rec: _TraceRecorder | None = None,
                tap_segment: int | None = None, tap_final: bool = False) -> InnerCarry:
        """N cycles of (T L-steps, one H update) from carry z. Returns the new (not detached) state."""
        N, T = self.config.h_cycles, self.config.l_cycles
        grad_on = torch.is_grad_enabled()
        z_H, z_L = z.z_H, z.z_L  # (B, S, D) each
        for h_step in range(N):
            last_cycle = h_step == N - 1
            if self.config.reset_l_each_cycle:
                # NOTE: not in the original HRM; the seed's "fresh perspective" (config flag).
                z_L = self.L_init.expand_as(z_L)
            for l_step in range(T):
                last_step = last_cycle and l_step == T - 1
                with torch.set_grad_enabled(grad_on and _wants_grad(grad, last_cycle, last_step)):
                    z_L_new = self.L_level(z_L, z_H + x_emb, cos, sin)
                if rec is not None:
                    rec.l_step(z_L, z_L_new)
                z_L = z_L_new
            if tap_final and last_cycle:
                z_H, z_L = self.taps.h_prev(z_H), self.taps.l_final(z_L)
            with torch.set_grad_enabled(grad_on and _wants_grad(grad, last_cycle, last_cycle)):
                z_H_new = self.H_level(z_H, z_L, cos, sin)
            if rec is not None:
                rec.h_step(z_H, z_H_new)
            z_H = z_H_new
            if tap_segment is not None:
                z_H = self.taps.h_cycle[tap_segment * N + h_step](z_H)
        return InnerCarry(z_H=z_H, z_L=z_L)

    # -- ACT wrapper: one segment for a batch (training and step-by-step use)

    def forward(self, x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor,
                carry: HRMCarry | None = None, *, trace: bool = False,
                keep_graph: bool = False) -> tuple[HRMOutput, HRMCarry]:
        """Run one segment for every sample not yet halted; return its outputs and the carry, detached unless
        `keep_graph` (training unrolled over segments): then every update of the segment builds a graph, whatever
        `grad_mode`, so a later segment's loss reaches every earlier update through the carry."""
        cfg, M = self.config, self.config.max_segments
        instrument_id, timeframe_id = _check_inputs(cfg, x, instrument_id, timeframe_id)
        B = x.shape[0]
        carry = self.initial_carry(B) if carry is None else carry
        _check_carry(carry, B)
        active = ~carry.halted  # (B,)
        x_emb = self.embed(x, instrument_id, timeframe_id)  # (B, S, D)
        cos, sin = self.rotary(x_emb.shape[1])
        rec = _TraceRecorder(B, None, active) if trace else None

        z = self._reason(carry.inner, x_emb, cos, sin, grad="all" if keep_graph else cfg.grad_mode, rec=rec)
        keep = active.view(B, 1, 1)  # halted samples keep their state, so their outputs do not change
        z_H = torch.where(keep, z.z_H, carry.inner.z_H)
        z_L = torch.where(keep, z.z_L, carry.inner.z_L)
        heads = self.heads(z_H[:, 0])
        steps = carry.steps + active.long()
        survival_in = torch.ones(B, device=x.device) if carry.survival is None else carry.survival

        target_q_continue = next_logits = None
        survival = survival_in
        with torch.no_grad():
            is_last = steps >= M
            halted = carry.halted | is_last
            if cfg.act and M > 1:
                wants_halt, after = halts(cfg.halt_objective, heads["q_halt"], heads["q_continue"], survival_in)
                survival = torch.where(active, after, survival_in)
                if self.training and cfg.halt_objective != "q_learning":
                    # PonderNet and the loss-improvement target learn from every depth: training runs all
                    # M segments and the halting head only learns (its targets need the next segment anyway).
                    wants_halt = torch.zeros_like(wants_halt)
                elif self.training and cfg.halt_explore_prob > 0:
                    # Exploration (reference): with prob p, a random minimum depth in [2, M].
                    explore = torch.rand(B, device=x.device) < cfg.halt_explore_prob
                    min_steps = explore * torch.randint(2, M + 1, (B,), device=x.device)
                    wants_halt = wants_halt & (steps >= min_steps)
                halted = halted | (active & wants_halt)
                if self.training:
                    # Look-ahead: one more segment without gradients. Q-learning's target for "continue" is
                    # its best Q (reference; no replay buffer or target network, the batch gives many parallel
                    # episodes as in PQN); the other objectives compare the loss there with the loss now.
                    nxt = self._reason(InnerCarry(z_H, z_L), x_emb, cos, sin, grad="none")
                    next_halt, next_continue = self.heads.q(nxt.z_H[:, 0])
                    target_q_continue = torch.sigmoid(
                        torch.where(is_last, next_halt, torch.maximum(next_halt, next_continue)))
                    next_logits = self.heads.policy(nxt.z_H[:, 0])

        out = HRMOutput(**heads, steps=steps, finite=_finite(heads).detach(), active=active,
                        target_q_continue=target_q_continue, next_policy_logits=next_logits,
                        survival=survival_in, last=is_last,
                        trace=HRMTrace([rec.seg], cfg.h_cycles, cfg.l_cycles) if rec is not None else None)
        inner = InnerCarry(z_H, z_L) if keep_graph else InnerCarry(z_H.detach(), z_L.detach())
        return out, HRMCarry(inner, steps, halted, survival)

    # -- inference: whole decision, real per-sample halting

    @torch.inference_mode()  # cheaper than no_grad: ~15 % of a batch-1 decision is autograd bookkeeping
    def infer(self, x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor, *,
              max_segments: int | None = None, trace: bool = False, halt: bool = True,
              depth: int | None = None) -> HRMOutput:
        """Decide for a batch in the checkpoint's `inference_mode`: "adaptive" runs each sample until
        its halting head says stop (hrm_core.model.halting; ACT on) or max_segments, "fixed" runs
        `fixed_depth` segments, "max" all of them. Halted samples leave the computation; `steps`
        reports the segments each used. Overrides: depth=k runs exactly k segments, halt=False runs
        every sample to max_segments (the "full depth" cards compare with); max_segments caps M."""
        cfg = self.config
        adaptive = halt and depth is None and cfg.act and cfg.inference_mode == "adaptive"
        if depth is not None:
            M = int(depth)
        elif max_segments is not None:
            M = int(max_segments)
        else:
            M = cfg.fixed_depth if (halt and cfg.inference_mode == "fixed") else cfg.max_segments
        if M < 1:
            raise ModelError(f"the number of segments must be >= 1, got {M}")
        instrument_id, timeframe_id = _check_inputs(cfg, x, instrument_id, timeframe_id)
        B = x.shape[0]
        x_emb = self.embed(x, instrument_id, timeframe_id)
        cos, sin = self.rotary(x_emb.shape[1])
        z = self.initial_carry(B).inner
        steps = torch.zeros(B, dtype=torch.long, device=x.device)
        survival = torch.ones(B, device=x.device)  # ponder: chance of not having halted yet
        idx: torch.Tensor | None = None  # rows still reasoning; None = all of them (fast path)
        segments: list[SegmentTrace] = []
        heads: dict[str, torch.Tensor] = {}
        for seg in range(M):
            rec = _TraceRecorder(B, idx, self._active_mask(B, idx, x.device)) if trace else None
            if idx is None:
                z = self._reason(z, x_emb, cos, sin, grad="none", rec=rec)
                heads = self.heads(z.z_H[:, 0])
                steps += 1
                q_halt, q_continue = heads["q_halt"], heads["q_continue"]
            else:
                zi = self._reason(InnerCarry(z.z_H[idx], z.z_L[idx]), x_emb[idx], cos, sin, grad="none", rec=rec)
                z.z_H[idx], z.z_L[idx] = zi.z_H, zi.z_L
                hi = self.heads(zi.z_H[:, 0])
                for k, v in hi.items():
                    heads[k][idx] = v
                steps[idx] += 1
                q_halt, q_continue = hi["q_halt"], hi["q_continue"]
            if rec is not None:
                segments.append(rec.seg)
            if seg == M - 1:
                break
            if not adaptive:
                continue  # no ACT, or a fixed depth: everybody runs M segments
            rows = torch.arange(B, device=x.device) if idx is None else idx
            stop, survival[rows] = halts(cfg.halt_objective, q_halt, q_continue, survival[rows])
            go_on = ~stop  # rows of the computed subset that continue
            if idx is None and bool(go_on.all()):
                continue  # everybody continues: stay on the fast path
            idx = rows[go_on]
            if idx.numel() == 0:
                break
        return HRMOutput(**heads, steps=steps, finite=_finite(heads),
                         trace=HRMTrace(segments, cfg.h_cycles, cfg.l_cycles) if trace else None)

    @staticmethod
    def _active_mask(B: int, idx: torch.Tensor | None, device) -> torch.Tensor:
        if idx is None:
            return torch.ones(B, dtype=torch.bool, device=device)
        mask = torch.zeros(B, dtype=torch.bool, device=device)
        mask[idx] = True
        return mask

    # -- attribution: whole decision, gradients everywhere, taps run once

    def attribution_forward(self, x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor, *,
                            segments: int | None = None) -> HRMOutput:
        """Run exactly `segments` segments (default config.max_segments) for every sample with
        gradients through every step and each tap in `self.taps` called once. To explain an
        `infer` decision, pass segments=int(out.steps[i]): the outputs then match infer's."""
        cfg = self.config
        K = cfg.max_segments if segments is None else int(segments)
        if not 1 <= K <= cfg.max_segments:
            raise ModelError(f"segments must be in [1, max_segments={cfg.max_segments}], got {segments}")
        instrument_id, timeframe_id = _check_inputs(cfg, x, instrument_id, timeframe_id)
        B = x.shape[0]
        x_emb = self.taps.embedding(self.embed(x, instrument_id, timeframe_id))
        cos, sin = self.rotary(x_emb.shape[1])
        z = self.initial_carry(B).inner
        for seg in range(K):
            # NOTE: no detach between segments here (unlike training): attributions see the whole decision.
            z = self._reason(z, x_emb, cos, sin, grad="all", tap_segment=seg, tap_final=seg == K - 1)
        heads = self.heads(z.z_H[:, 0])
        return HRMOutput(**heads, steps=torch.full((B,), K, dtype=torch.long, device=x.device),
                         finite=_finite(heads).detach())


# ----------------------------------------------------------------------------- flat baseline

class FlatTransformer(nn.Module):
    """Ablation: the same embeddings and heads over `flat_layers` plain blocks, one pass, no recurrence."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.arch != "flat":
            raise ModelError(f"FlatTransformer needs arch='flat', got {config.arch!r}: use build_model")
        self.config = config
        self.embed = MarketEmbedding(config)
        self.rotary = RotaryPositionalEmbedding(config.hidden // config.n_heads, config.n_tokens, config.rope_theta)
        self.blocks = nn.ModuleList(
            TransformerBlock(config.hidden, config.n_heads, config.expansion, config.rms_norm_eps)
            for _ in range(config.flat_layers))
        self.heads = OutputHeads(config.hidden)
        self.taps = AttributionTaps(config, recurrent=False)

    def initial_carry(self, batch_size: int) -> HRMCarry:
        dev = self.embed.summary.device
        return HRMCarry(None, torch.zeros(batch_size, dtype=torch.long, device=dev),
                        torch.zeros(batch_size, dtype=torch.bool, device=dev))

    def _decide(self, x, instrument_id, timeframe_id, tap: bool) -> tuple[dict[str, torch.Tensor], int]:
        instrument_id, timeframe_id = _check_inputs(self.config, x, instrument_id, timeframe_id)
        h = self.embed(x, instrument_id, timeframe_id)
        if tap:
            h = self.taps.embedding(h)
        cos, sin = self.rotary(h.shape[1])
        for block in self.blocks:
            h = block(h, cos, sin)
        return self.heads(h[:, 0]), x.shape[0]

    def forward(self, x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor,
                carry: HRMCarry | None = None, *, trace: bool = False,
                keep_graph: bool = False) -> tuple[HRMOutput, HRMCarry]:
        """One pass; the returned carry is halted (steps = 1). `trace` and `keep_graph` are accepted and ignored
        (no recurrence)."""
        heads, B = self._decide(x, instrument_id, timeframe_id, tap=False)
        ones = torch.ones(B, dtype=torch.long, device=x.device)
        out = HRMOutput(**heads, steps=ones, finite=_finite(heads).detach(), active=ones.bool())
        return out, HRMCarry(None, ones, ones.bool())

    def refill(self, carry: HRMCarry, fresh: torch.Tensor) -> HRMCarry:
        """No state to reset: every pass is a fresh decision."""
        return carry

    @torch.inference_mode()  # cheaper than no_grad: ~15 % of a batch-1 decision is autograd bookkeeping
    def infer(self, x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor, *,
              max_segments: int | None = None, trace: bool = False, halt: bool = True,
              depth: int | None = None) -> HRMOutput:
        out, _ = self.forward(x, instrument_id, timeframe_id)
        out.active = None
        return out

    def attribution_forward(self, x: torch.Tensor, instrument_id: torch.Tensor, timeframe_id: torch.Tensor, *,
                            segments: int | None = None) -> HRMOutput:
        heads, B = self._decide(x, instrument_id, timeframe_id, tap=True)
        return HRMOutput(**heads, steps=torch.ones(B, dtype=torch.long, device=x.device),
                         finite=_finite(heads).detach())


# ----------------------------------------------------------------------------- building and describing

def build_model(config: ModelConfig) -> HierarchicalReasoningModel | FlatTransformer:
    """The HRM or the flat baseline, as config.arch says."""
    if not isinstance(config, ModelConfig):
        raise ModelError(f"build_model needs a ModelConfig, got {type(config).__name__}: use get_preset(name)")
    return HierarchicalReasoningModel(config) if config.arch == "hrm" else FlatTransformer(config)


def _block_flops(config: ModelConfig, n_tokens: int) -> int:
    """Multiply-adds x 2 of one TransformerBlock call on one sample: linears plus attention scores/mixing."""
    block = TransformerBlock(config.hidden, config.n_heads, config.expansion)
    linear = sum(p.numel() for p in block.parameters())
    return 2 * n_tokens * linear + 4 * n_tokens * n_tokens * config.hidden


def describe_model(cfg_or_model: ModelConfig | nn.Module) -> dict:
    """Config, parameter count (total and by module) and FLOPs per decision, JSON-ready.

    FLOPs count 2 per multiply-add in the linears and attention matmuls (norms, RoPE, softmax
    and activations left out), per sample. An HRM decision costs between 1 and max_segments
    segments; both bounds are given."""
    if isinstance(cfg_or_model, ModelConfig):
        with torch.device("meta"):  # shapes only: fast even for `paper`
            model = build_model(cfg_or_model)
    elif isinstance(cfg_or_model, (HierarchicalReasoningModel, FlatTransformer)):
        model = cfg_or_model
    else:
        raise ModelError(f"describe_model needs a ModelConfig or a model, got {type(cfg_or_model).__name__}")
    cfg = model.config
    by_module: dict[str, int] = {}
    for name, p in model.named_parameters():
        parts = name.split(".")
        key = ".".join(parts[:2]) if parts[0] in ("embed", "heads") else parts[0]
        by_module[key] = by_module.get(key, 0) + p.numel()
    S, D = cfg.n_tokens, cfg.hidden
    with torch.device("meta"):
        block = _block_flops(cfg, S)
    embed = 2 * (S - 1) * cfg.patch_size * cfg.n_features * D
    heads = 2 * D * (N_ACTIONS + 1 + 1 + 2)
    if cfg.arch == "hrm":
        per_segment = (cfg.h_cycles * cfg.l_cycles * cfg.l_layers + cfg.h_cycles * cfg.h_layers) * block + heads
        flops_min, flops_max = embed + per_segment, embed + cfg.max_segments * per_segment
    else:
        per_segment = cfg.flat_layers * block + heads
        flops_min = flops_max = embed + per_segment
    return {
        "arch": cfg.arch,
        "config": cfg.to_dict(),
        "tokens": S,
        "parameters": sum(p.numel() for p in model.parameters()),
        "parameters_by_module": by_module,
        "flops_per_segment": per_segment,
        "flops_per_decision_min": flops_min,
        "flops_per_decision_max": flops_max,
        "flops_note": "2 per multiply-add in linears and attention, per sample; min = 1 segment, max = max_segments",
    }
