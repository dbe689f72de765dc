"""Small typed transformer primitives that know nothing about markets.

Follows the HRM reference (sapientinc/HRM models/layers.py): bias-free linears
with LeCun truncated-normal init, RoPE attention (non-causal), SwiGLU, and
*post-norm* blocks whose RMSNorm has no learnable gain. Classes in dependency
order: init helper -> RMSNorm -> RoPE -> GLU -> attention -> TransformerBlock.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def trunc_normal_(t: torch.Tensor, std: float) -> torch.Tensor:
    """Truncated normal at +-2 std, as in the reference (`trunc_normal_init_`)."""
    return nn.init.trunc_normal_(t, mean=0.0, std=std, a=-2 * std, b=2 * std)


def lecun_linear(in_features: int, out_features: int, bias: bool = False) -> nn.Linear:
    """nn.Linear with the reference's init: std 1/sqrt(fan_in), zero bias."""
    layer = nn.Linear(in_features, out_features, bias=bias)
    with torch.no_grad():
        trunc_normal_(layer.weight, std=1.0 / math.sqrt(in_features))
        if bias:
            layer.bias.zero_()
    return layer


class RMSNorm(nn.Module):
    """x / rms(x) over the last dim, optionally times a learnable gain.

    The reference HRM uses no gain (`learnable=False`), which keeps every state
    on the sphere of radius sqrt(hidden) - the recurrence cannot blow up.
    """

    def __init__(self, dim: int, eps: float = 1e-5, learnable: bool = False):
        super().__init__()
        self.dim, self.eps = dim, eps
        self.weight = nn.Parameter(torch.ones(dim)) if learnable else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (self.dim,), self.weight, self.eps)


class RotaryPositionalEmbedding(nn.Module):
    """RoPE tables for `max_positions` positions; `forward(S)` returns (cos, sin), each (S, head_dim)."""

    def __init__(self, head_dim: int, max_positions: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        freqs = torch.outer(torch.arange(max_positions, dtype=torch.float32), inv_freq)  # (P, hd/2)
        emb = torch.cat((freqs, freqs), dim=-1)  # (P, hd)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.cos[:seq_len], self.sin[:seq_len]


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x (..., head_dim) by cos/sin already broadcastable to x; rotate-half convention."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class GLU(nn.Module):
    """SwiGLU MLP: down(silu(gate(x)) * up(x))."""

    def __init__(self, hidden: int, expansion: float):
        super().__init__()
        # Reference: 2/3 * expansion * hidden, rounded up to a multiple of 256.
        # NOTE: the multiple is min(256, hidden) so small presets are not padded
        # to 4x their width; for hidden >= 256 this is exactly the reference rule.
        multiple = min(256, hidden)
        inter = round(expansion * hidden * 2 / 3)
        self.inter = -(-inter // multiple) * multiple
        self.gate_up = lecun_linear(hidden, 2 * self.inter)
        self.down = lecun_linear(self.inter, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Attention(nn.Module):
    """Bidirectional multi-head self-attention with RoPE on q and k."""

    def __init__(self, hidden: int, n_heads: int):
        super().__init__()
        self.n_heads, self.head_dim = n_heads, hidden // n_heads
        self.qkv = lecun_linear(hidden, 3 * hidden)
        self.out = lecun_linear(hidden, hidden)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        B, S, D = x.shape
        qkv = self.qkv(x).view(B, S, 3, self.n_heads, self.head_dim)
        cos, sin = cos.view(S, 1, 1, -1), sin.view(S, 1, 1, -1)  # broadcast over (q|k, heads)
        qk = apply_rotary(qkv[:, :, :2], cos, sin)  # (B, S, 2, nh, hd): q and k rotated in one go
        q, k = qk.unbind(2)
        v = qkv[:, :, 2]
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))  # (B, nh, S, hd)
        return self.out(y.transpose(1, 2).reshape(B, S, D))


class TransformerBlock(nn.Module):
    """Post-norm block as in the reference: x = norm(x + attn(x)); x = norm(x + mlp(x))."""

    def __init__(self, hidden: int, n_heads: int, expansion: float, eps: float = 1e-5):
        super().__init__()
        self.attn = Attention(hidden, n_heads)
        self.mlp = GLU(hidden, expansion)
        self.norm1 = RMSNorm(hidden, eps)  # no learnable gain: reference HRM
        self.norm2 = RMSNorm(hidden, eps)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.attn(x, cos, sin))
        return self.norm2(x + self.mlp(x))
