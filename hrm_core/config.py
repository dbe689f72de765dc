"""Model configuration: one frozen dataclass and named presets (instances, not dicts).

    cfg = get_preset("default")                      # a ModelConfig
    cfg = get_preset("paper", max_segments=2)        # overrides make a new instance
    cfg = ModelConfig.from_dict(checkpoint["config"])  # unknown keys are rejected

Presets (parameter counts from `describe_model`):

    name     arch  hidden heads H+L  N x T  M  window/patch  params
    tiny     hrm     16     2   1+1  2x2    2   16 / 4        8,007
    default  hrm     64     4   1+1  2x2    3   64 / 4      115,463
    paper    hrm    512     8   4+4  2x2    4   64 / 4   27,334,663
    flat     flat    64     4   2 layers    1   64 / 4      115,463  (same as default)

`flat_tiny` and `flat_paper` are the flat twins of `tiny` and `paper`; any preset
becomes flat with `get_preset(name, arch="flat")`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from hrm_core.errors import ModelError

# Timeframe ids: the model's `timeframe_id` input.
TIMEFRAMES: dict[str, int] = {"1h": 0, "1d": 1, "1wk": 2}

ARCHS = ("hrm", "flat")
GRAD_MODES = ("one_step", "full")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; checkpoints store `to_dict()`."""

    arch: str = "hrm"  # "hrm" or "flat" (plain transformer baseline, no recurrence)
    n_features: int = 16
    window: int = 64  # bars per input window
    patch_size: int = 4  # bars per token: 64 bars -> 16 tokens (+1 summary token); keeps CPU latency low
    hidden: int = 64
    n_heads: int = 4
    h_layers: int = 1
    l_layers: int = 1
    h_cycles: int = 2  # N: H updates per segment
    l_cycles: int = 2  # T: L steps per H update
    max_segments: int = 3  # M: deep-supervision segments / ACT bound; 3 keeps `default` under 5 ms per decision on CPU
    expansion: float = 4.0  # SwiGLU width factor (x 2/3, rounded up)
    n_instruments: int = 64  # embedding rows; id 0 = unknown, ids >= n_instruments map to 0
    n_timeframes: int = len(TIMEFRAMES)
    reset_l_each_cycle: bool = False  # the seed's "fresh perspective"; the original HRM does not reset
    grad_mode: str = "one_step"  # "one_step" (original HRM) or "full" (backprop through the last cycle, as TRM)
    act: bool = True  # False = always run max_segments
    halt_explore_prob: float = 0.1  # training only: chance of a random minimum depth (original: 0.1)
    flat_layers: int = 2  # depth of the flat baseline; h_layers + l_layers matches the HRM's parameters
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ModelError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.grad_mode not in GRAD_MODES:
            raise ModelError(f"grad_mode must be one of {GRAD_MODES}, got {self.grad_mode!r}")
        positive = ("n_features", "window", "patch_size", "hidden", "n_heads", "h_layers", "l_layers",
                    "h_cycles", "l_cycles", "max_segments", "n_instruments", "n_timeframes", "flat_layers")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ModelError(f"{name} must be a positive integer, got {value!r}")
        if self.hidden % self.n_heads or (self.hidden // self.n_heads) % 2:
            raise ModelError(f"hidden ({self.hidden}) must split into n_heads ({self.n_heads}) heads of even size (RoPE)")
        if self.window % self.patch_size:
            raise ModelError(f"window ({self.window}) must be a multiple of patch_size ({self.patch_size})")
        if not 0.0 <= self.halt_explore_prob <= 1.0:
            raise ModelError(f"halt_explore_prob must be in [0, 1], got {self.halt_explore_prob}")
        if self.expansion <= 0:
            raise ModelError(f"expansion must be > 0, got {self.expansion}")

    @property
    def n_tokens(self) -> int:
        """Sequence length seen by the transformer: one summary token + window / patch_size patches."""
        return 1 + self.window // self.patch_size

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ModelError(f"unknown ModelConfig key(s) {unknown}; valid keys are {sorted(known)}")
        return cls(**d)


PRESETS: dict[str, ModelConfig] = {
    "tiny": ModelConfig(window=16, hidden=16, n_heads=2, max_segments=2, n_instruments=8),
    "default": ModelConfig(),
    "paper": ModelConfig(hidden=512, n_heads=8, h_layers=4, l_layers=4, max_segments=4, flat_layers=8),
}
PRESETS["flat"] = replace(PRESETS["default"], arch="flat")
PRESETS["flat_tiny"] = replace(PRESETS["tiny"], arch="flat")
PRESETS["flat_paper"] = replace(PRESETS["paper"], arch="flat")


def get_preset(name: str, **overrides) -> ModelConfig:
    """A preset by name, with optional field overrides (validated like any ModelConfig)."""
    if name not in PRESETS:
        raise ModelError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    known = {f.name for f in fields(ModelConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ModelError(f"unknown ModelConfig key(s) {unknown}; valid keys are {sorted(known)}")
    return replace(PRESETS[name], **overrides)
