"""Model configuration: one frozen dataclass and named presets (instances, not dicts).

    cfg = get_preset("default")                      # a ModelConfig
    cfg = get_preset("paper", max_segments=2)        # overrides make a new instance
    cfg = ModelConfig.from_dict(checkpoint["config"])  # unknown keys are rejected

Presets (parameter counts from `describe_model`):

    name     arch  hidden heads H+L  N x T  M  window/patch  params
    tiny     hrm     16     2   1+1  2x2    2   16 / 4        7,943
    default  hrm     64     4   1+1  2x2    3   64 / 4      115,207
    paper    hrm    512     8   4+4  2x2    4   64 / 4   27,332,615
    flat     flat    64     4   2 layers    1   64 / 4      115,207  (same as default)

All with the 15 features of `hrm_core.data.features` (n_features = 15).

Every field is bounded (`BOUNDS`, checked in `__post_init__` before anything is allocated):
a checkpoint is untrusted input, and `n_instruments = 2**40` or `h_cycles = 200000` must be
refused in one line, not run out of memory or for hours. The bounds sit far above the
`paper` preset; `MAX_PARAMETERS` and `MAX_BLOCK_CALLS` bound the model's size and the work
of one decision (transformer blocks run per sample, at most M x N x (T x L_layers + H_layers)).

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
# How the halting head is trained (hrm_core.model.halting says what each learns and how it halts).
HALT_OBJECTIVES = ("q_learning", "ponder", "loss_improvement")
# How a shipped model decides: halt where the head says (adaptive), always `fixed_depth` segments, or all M.
INFERENCE_MODES = ("adaptive", "fixed", "max")

# Inclusive (low, high) per numeric field. Integers first, then floats.
BOUNDS: dict[str, tuple[float, float]] = {
    "n_features": (1, 1024), "window": (1, 4096), "patch_size": (1, 512), "hidden": (2, 4096),
    "n_heads": (1, 128), "h_layers": (1, 64), "l_layers": (1, 64), "h_cycles": (1, 64), "l_cycles": (1, 64),
    "max_segments": (1, 64), "fixed_depth": (1, 64), "n_instruments": (1, 1_000_000), "n_timeframes": (1, 64), "flat_layers": (1, 128),
    "expansion": (0.01, 64.0), "halt_explore_prob": (0.0, 1.0), "ponder_lambda_p": (0.001, 0.999),
    "ponder_beta": (0.0, 100.0), "halt_margin": (0.0, 10.0), "rms_norm_eps": (1e-12, 1.0),
    "rope_theta": (1.0, 1e9),
}
MAX_PARAMETERS = 2_000_000_000  # rough count (blocks + embeddings); paper is 27 M
MAX_BLOCK_CALLS = 20_000  # transformer block calls per decision; paper runs 4 x 2 x (2 x 4 + 4) = 96


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model; checkpoints store `to_dict()`."""

    arch: str = "hrm"  # "hrm" or "flat" (plain transformer baseline, no recurrence)
    n_features: int = 15  # len(features.FEATURE_NAMES): 15 causal features per bar
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
    halt_explore_prob: float = 0.1  # training only, q_learning: chance of a random minimum depth (original: 0.1)
    halt_objective: str = "q_learning"  # see HALT_OBJECTIVES; the reference HRM's Q-learning by default
    deep_start: bool = False  # halt head starts at halting probability 0.05 (avoids collapse to depth 1)
    ponder_lambda_p: float = 0.5  # ponder: the geometric prior's halting chance per segment (prior mean depth 2)
    ponder_beta: float = 0.05  # ponder: weight of KL(halting distribution || geometric prior)
    halt_margin: float = 0.0  # loss_improvement: continuing pays when it lowers the cross-entropy by more
    inference_mode: str = "adaptive"  # see INFERENCE_MODES: what infer() runs unless told otherwise
    fixed_depth: int = 1  # segments run in inference_mode "fixed"
    flat_layers: int = 2  # depth of the flat baseline; h_layers + l_layers matches the HRM's parameters
    rms_norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ModelError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        for name, allowed in (("grad_mode", GRAD_MODES), ("halt_objective", HALT_OBJECTIVES),
                              ("inference_mode", INFERENCE_MODES)):
            if getattr(self, name) not in allowed:
                raise ModelError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("reset_l_each_cycle", "act", "deep_start"):
            if not isinstance(getattr(self, name), bool):
                raise ModelError(f"{name} must be true or false, got {getattr(self, name)!r}")
        for name, (low, high) in BOUNDS.items():
            _check_bound(name, getattr(self, name), low, high, integer=isinstance(low, int))
        self._check_cost()
        if self.fixed_depth > self.max_segments:
            raise ModelError(f"fixed_depth ({self.fixed_depth}) cannot exceed max_segments ({self.max_segments})")
        if self.hidden % self.n_heads or (self.hidden // self.n_heads) % 2:
            raise ModelError(f"hidden ({self.hidden}) must split into n_heads ({self.n_heads}) heads of even size (RoPE)")
        if self.window % self.patch_size:
            raise ModelError(f"window ({self.window}) must be a multiple of patch_size ({self.patch_size})")

    def _check_cost(self) -> None:
        """Refuse configs whose size or per-decision work no machine here can run (see MAX_*)."""
        blocks = self.flat_layers if self.arch == "flat" else self.h_layers + self.l_layers
        width = self.hidden * self.hidden * (4 + 2 * self.expansion)
        params = blocks * width + (self.n_instruments + self.n_timeframes) * self.hidden
        if params > MAX_PARAMETERS:
            raise ModelError(f"config too large: about {params:,.0f} parameters (limit {MAX_PARAMETERS:,}); "
                             "reduce hidden, layers or n_instruments")
        calls = self.flat_layers if self.arch == "flat" else \
            self.max_segments * self.h_cycles * (self.l_cycles * self.l_layers + self.h_layers)
        if calls > MAX_BLOCK_CALLS:
            raise ModelError(f"config too slow: {calls:,} transformer block calls per decision (limit "
                             f"{MAX_BLOCK_CALLS:,} = max_segments x h_cycles x (l_cycles x l_layers + h_layers)); "
                             "reduce max_segments, h_cycles or l_cycles")

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


def _check_bound(name: str, value: object, low: float, high: float, *, integer: bool) -> None:
    """One field: the right type (bool is not a number here) and inside [low, high]."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ModelError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not (low <= value <= high):  # NaN fails this too
        raise ModelError(f"{name} must be between {low:g} and {high:g}, got {value!r}")


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
