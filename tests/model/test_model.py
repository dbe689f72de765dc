"""The HRM core: shapes, gradients, halting, batching, determinism, trace, attribution, robustness."""
import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hrm_core.model.config import PRESETS, TIMEFRAMES, ModelConfig, get_preset
from hrm_core.errors import ModelError
from hrm_core.model.networks import (FlatTransformer, HierarchicalReasoningModel, HRMOutput, build_model,
                            describe_model)

torch.set_num_threads(1)

OUTPUT_ATOL = 1e-5  # batch-size-dependent BLAS kernels differ in the last float32 bits, not more


def make_model(preset="tiny", seed=0, **overrides):
    torch.manual_seed(seed)
    return build_model(get_preset(preset, **overrides))


def make_batch(cfg: ModelConfig, B=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, cfg.window, cfg.n_features, generator=g)
    instrument_id = torch.arange(B) % cfg.n_instruments
    timeframe_id = torch.arange(B) % cfg.n_timeframes
    return x, instrument_id, timeframe_id


def outputs_of(out: HRMOutput) -> torch.Tensor:
    return torch.cat([out.policy_logits, out.quantity[:, None], out.value[:, None],
                      out.q_halt[:, None], out.q_continue[:, None]], dim=1)


class HaltAfter(nn.Module):
    """Stub Q-head: every sample wants to halt from the k-th call on."""

    def __init__(self, k):
        super().__init__()
        self.k, self.calls = k, 0

    def forward(self, h):
        self.calls += 1
        halt = torch.full((h.shape[0],), 1.0 if self.calls >= self.k else -1.0)
        return halt, torch.zeros(h.shape[0])


class HaltRowsOnFirstCall(nn.Module):
    """Stub Q-head: the given rows want to halt on the first call; nobody else ever does."""

    def __init__(self, rows):
        super().__init__()
        self.rows, self.calls = rows, 0

    def forward(self, h):
        self.calls += 1
        halt = torch.full((h.shape[0],), -1.0)
        if self.calls == 1:
            halt[self.rows] = 1.0
        return halt, torch.zeros(h.shape[0])


# ----------------------------------------------------------------------------- shapes and sizes

@pytest.mark.parametrize("preset", ["tiny", "default", "flat_tiny", "flat"])
def test_outputs_have_the_contract_shapes(preset):
    model = make_model(preset).eval()
    cfg = model.config
    x, iid, tid = make_batch(cfg, B=2)
    for out in (model.infer(x, iid, tid), model(x, iid, tid)[0], model.attribution_forward(x, iid, tid)):
        assert out.policy_logits.shape == (2, 3)
        for name in ("quantity", "value", "q_halt", "q_continue", "steps", "finite"):
            assert getattr(out, name).shape == (2,), name
        assert out.steps.dtype == torch.long and out.finite.dtype == torch.bool
        assert bool(((out.quantity >= 0) & (out.quantity <= 1)).all())
        assert bool(out.finite.all())


def test_paper_preset_has_about_27M_parameters():
    n = describe_model(PRESETS["paper"])["parameters"]
    assert abs(n - 27e6) / 27e6 < 0.05, n


def test_flat_baseline_matches_default_parameter_count():
    hrm, flat = describe_model(get_preset("default")), describe_model(get_preset("flat"))
    assert abs(flat["parameters"] - hrm["parameters"]) / hrm["parameters"] < 0.05


def test_describe_model_reports_config_params_and_flops():
    d = describe_model(make_model("tiny"))
    assert d["config"] == get_preset("tiny").to_dict()
    assert sum(d["parameters_by_module"].values()) == d["parameters"]
    assert 0 < d["flops_per_decision_min"] <= d["flops_per_decision_max"]


# ----------------------------------------------------------------------------- gradients

@pytest.mark.parametrize("grad_mode", ["one_step", "full"])
@pytest.mark.parametrize("reset", [False, True])
def test_gradients_reach_every_parameter(grad_mode, reset):
    model = make_model("tiny", grad_mode=grad_mode, reset_l_each_cycle=reset).train()
    x, iid, tid = make_batch(model.config)
    out, _ = model(x, iid, tid)
    outputs_of(out).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_one_step_and_full_modes_give_different_gradients():
    # one_step keeps only the final L and H update in the graph; full keeps the whole last cycle
    def l_grad(mode):
        model = make_model("tiny", grad_mode=mode, l_cycles=3).train()
        x, iid, tid = make_batch(model.config)
        out, _ = model(x, iid, tid)
        grads = torch.autograd.grad(out.value.sum(), model.L_level.layers[0].attn.qkv.weight)
        return grads[0]
    g_one, g_full = l_grad("one_step"), l_grad("full")
    assert not torch.allclose(g_one, g_full)


def test_carry_comes_back_detached():
    model = make_model("tiny").train()
    x, iid, tid = make_batch(model.config)
    _, carry = model(x, iid, tid)
    assert not carry.inner.z_H.requires_grad and not carry.inner.z_L.requires_grad


# ----------------------------------------------------------------------------- halting

@pytest.mark.parametrize("k", [1, 2, 3])
def test_forced_halt_after_k_segments_reports_k_steps(k):
    model = make_model("tiny", max_segments=4).eval()
    x, iid, tid = make_batch(model.config)
    model.heads.q = HaltAfter(k)
    out = model.infer(x, iid, tid)
    assert out.steps.tolist() == [k] * 3
    assert model.heads.q.calls == k  # really stopped computing
    reference = model.attribution_forward(x, iid, tid, segments=k)
    torch.testing.assert_close(out.policy_logits, reference.policy_logits, atol=OUTPUT_ATOL, rtol=0)


def test_halted_samples_stop_changing_while_others_continue():
    model = make_model("tiny", max_segments=4).eval()
    x, iid, tid = make_batch(model.config)
    model.heads.q = HaltRowsOnFirstCall([0])
    carry, history = None, []
    while carry is None or not bool(carry.halted.all()):
        out, carry = model(x, iid, tid, carry=carry)
        history.append(outputs_of(out)[:, :5])  # policy, quantity, value (q comes from the stub)
    assert carry.steps.tolist() == [1, 4, 4]
    for later in history[1:]:
        assert torch.equal(later[0], history[0][0])  # halted: identical
    assert not torch.allclose(history[-1][1], history[0][1])  # still reasoning: changed


def test_infer_halts_per_sample_inside_a_batch():
    model = make_model("tiny", max_segments=4).eval()
    x, iid, tid = make_batch(model.config)
    model.heads.q = HaltRowsOnFirstCall([1])
    out = model.infer(x, iid, tid, trace=True)
    assert out.steps.tolist() == [4, 1, 4]
    assert out.trace.segments[1].active.tolist() == [True, False, True]
    assert math.isnan(out.trace.segments[1].l_residuals[0][1].item())
    alone = model.attribution_forward(x[1:2], iid[1:2], tid[1:2], segments=1)
    torch.testing.assert_close(outputs_of(out)[1:2, :5], outputs_of(alone)[:, :5], atol=OUTPUT_ATOL, rtol=0)


def test_act_off_always_runs_max_segments():
    model = make_model("tiny", act=False, max_segments=3).eval()
    model.heads.q = HaltAfter(1)
    x, iid, tid = make_batch(model.config)
    assert model.infer(x, iid, tid).steps.tolist() == [3, 3, 3]
    assert model.infer(x, iid, tid, max_segments=2).steps.tolist() == [2, 2, 2]


def test_untrained_q_head_never_halts_early():
    model = make_model("tiny", max_segments=3).eval()
    out = model.infer(*make_batch(model.config))
    assert out.steps.tolist() == [3, 3, 3]  # q_halt == q_continue at init (bias -5 both)


def test_training_segment_gives_q_target_and_loss_mask():
    model = make_model("tiny", max_segments=3).train()
    x, iid, tid = make_batch(model.config)
    out, carry = model(x, iid, tid)
    assert out.active.tolist() == [True] * 3
    t = out.target_q_continue
    assert t.shape == (3,) and bool(((t >= 0) & (t <= 1)).all()) and not t.requires_grad
    assert model.eval()(x, iid, tid)[0].target_q_continue is None


def test_deep_supervision_loop_from_the_docstring_runs():
    model = make_model("tiny", max_segments=3).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, iid, tid = make_batch(model.config, B=8)
    y = torch.arange(8) % 3
    carry, segments = None, 0
    while carry is None or not bool(carry.halted.all()):
        out, carry = model(x, iid, tid, carry=carry)
        m = out.active.float(); n = m.sum().clamp_min(1)
        loss = (F.cross_entropy(out.policy_logits, y, reduction="none") * m).sum() / n
        correct = (out.policy_logits.argmax(-1) == y).float()
        loss = loss + (F.binary_cross_entropy_with_logits(out.q_halt, correct, reduction="none") * m).sum() / n
        loss = loss + (F.binary_cross_entropy_with_logits(out.q_continue, out.target_q_continue, reduction="none") * m).sum() / n
        opt.zero_grad(); loss.backward(); opt.step()
        segments += 1
    assert 1 <= segments <= 3


# ----------------------------------------------------------------------------- batching and determinism

def test_a_sample_gives_the_same_output_alone_or_in_a_batch():
    model = make_model("tiny").eval()
    x, iid, tid = make_batch(model.config, B=5)
    batched = outputs_of(model.infer(x, iid, tid))
    for i in range(5):
        alone = outputs_of(model.infer(x[i:i + 1], iid[i:i + 1], tid[i:i + 1]))
        torch.testing.assert_close(alone[0], batched[i], atol=OUTPUT_ATOL, rtol=0)


def test_fixed_seed_gives_identical_outputs():
    a, b = make_model("tiny", seed=7).eval(), make_model("tiny", seed=7).eval()
    x, iid, tid = make_batch(a.config)
    assert torch.equal(outputs_of(a.infer(x, iid, tid)), outputs_of(b.infer(x, iid, tid)))
    c = make_model("tiny", seed=8).eval()
    assert not torch.equal(outputs_of(a.infer(x, iid, tid)), outputs_of(c.infer(x, iid, tid)))


def test_unknown_instruments_share_the_id_0_embedding():
    model = make_model("tiny").eval()
    x, _, tid = make_batch(model.config, B=1)
    outs = [outputs_of(model.infer(x, torch.tensor([i]), tid)) for i in (0, model.config.n_instruments, 10_000)]
    assert torch.equal(outs[0], outs[1]) and torch.equal(outs[0], outs[2])
    assert not torch.equal(outs[0], outputs_of(model.infer(x, torch.tensor([1]), tid)))


# ----------------------------------------------------------------------------- trace

def test_trace_leaves_outputs_unchanged_and_has_the_documented_structure():
    model = make_model("tiny", max_segments=2).eval()
    cfg = model.config
    x, iid, tid = make_batch(cfg)
    plain, traced = model.infer(x, iid, tid), model.infer(x, iid, tid, trace=True)
    assert torch.equal(outputs_of(plain), outputs_of(traced))
    assert torch.equal(outputs_of(model(x, iid, tid)[0]), outputs_of(model(x, iid, tid, trace=True)[0]))
    tr = traced.trace
    assert len(tr.segments) == 2
    for seg in tr.segments:
        assert len(seg.l_residuals) == len(seg.z_L) == cfg.h_cycles * cfg.l_cycles
        assert len(seg.h_residuals) == len(seg.z_H) == cfg.h_cycles
        assert seg.l_residuals[0].shape == (3,) and seg.z_H[0].shape == (3, cfg.hidden)
        assert bool((seg.l_residuals[0] > 0).all())
    assert tr.l_residual_matrix().shape == (3, 2, cfg.h_cycles * cfg.l_cycles)
    assert tr.h_residual_matrix().shape == (3, 2, cfg.h_cycles)


def _reference_residuals(model, x, iid, tid):
    """The trace's definition written out for one segment from the initial state."""
    cfg = model.config
    with torch.no_grad():
        e = model.embed(x, iid, tid)
        cos, sin = model.rotary(e.shape[1])
        z_H, z_L = model.H_init.expand_as(e), model.L_init.expand_as(e)
        rel = lambda old, new: (new - old).flatten(1).norm(dim=1) / old.flatten(1).norm(dim=1)
        l_res, h_res = [], []
        for _ in range(cfg.h_cycles):
            if cfg.reset_l_each_cycle:
                z_L = model.L_init.expand_as(e)
            for _ in range(cfg.l_cycles):
                new = model.L_level(z_L, z_H + e, cos, sin)
                l_res.append(rel(z_L, new)); z_L = new
            new = model.H_level(z_H, z_L, cos, sin)
            h_res.append(rel(z_H, new)); z_H = new
    return l_res, h_res


def test_reset_l_flag_changes_the_trace_as_expected():
    runs = {}
    for reset in (False, True):
        model = make_model("tiny", h_cycles=3, l_cycles=2, max_segments=1, reset_l_each_cycle=reset).eval()
        x, iid, tid = make_batch(model.config)
        seg = model.infer(x, iid, tid, trace=True).trace.segments[0]
        l_ref, h_ref = _reference_residuals(model, x, iid, tid)
        torch.testing.assert_close(torch.stack(seg.l_residuals), torch.stack(l_ref))
        torch.testing.assert_close(torch.stack(seg.h_residuals), torch.stack(h_ref))
        runs[reset] = seg
    T = 2
    # cycle 0 starts from L_init either way: identical; later cycles restart L only with the flag
    torch.testing.assert_close(runs[True].l_residuals[0], runs[False].l_residuals[0])
    for c in (1, 2):
        assert not torch.allclose(runs[True].l_residuals[c * T], runs[False].l_residuals[c * T])


def test_with_reset_the_carried_z_L_does_not_matter():
    for reset, should_matter in ((True, False), (False, True)):
        model = make_model("tiny", reset_l_each_cycle=reset).eval()
        x, iid, tid = make_batch(model.config)
        carry = model.initial_carry(3)
        other = model.initial_carry(3)
        other.inner.z_L = torch.randn_like(other.inner.z_L)
        a, b = model(x, iid, tid, carry=carry)[0], model(x, iid, tid, carry=other)[0]
        assert torch.equal(outputs_of(a), outputs_of(b)) != should_matter


# ----------------------------------------------------------------------------- attribution

def _count_tap_calls(model):
    counts = {}
    handles = []
    for name, module in model.taps.named_modules():
        if isinstance(module, nn.Identity):
            counts[name] = 0
            handles.append(module.register_forward_hook(lambda m, i, o, name=name: counts.__setitem__(name, counts[name] + 1)))
    return counts, handles


def test_each_tap_fires_exactly_once_per_attribution_forward_and_never_otherwise():
    model = make_model("tiny", max_segments=2).eval()
    x, iid, tid = make_batch(model.config)
    counts, handles = _count_tap_calls(model)
    model.attribution_forward(x, iid, tid)
    assert set(counts) == {"embedding", "h_prev", "l_final"} | {f"h_cycle.{i}" for i in range(2 * 2)}
    assert all(v == 1 for v in counts.values()), counts
    for k in counts:
        counts[k] = 0
    model.infer(x, iid, tid); model(x, iid, tid)
    assert all(v == 0 for v in counts.values()), counts
    for h in handles:
        h.remove()


def test_attribution_mode_leaves_outputs_unchanged_and_has_gradients_through_every_step():
    model = make_model("tiny", act=False, max_segments=2).eval()
    x, iid, tid = make_batch(model.config)
    plain = model.infer(x, iid, tid)
    first_cycle = {}
    h = model.taps.h_cycle[0].register_forward_hook(lambda m, i, o: first_cycle.setdefault("z", o))
    out = model.attribution_forward(x, iid, tid)
    h.remove()
    torch.testing.assert_close(outputs_of(out), outputs_of(plain), atol=0, rtol=0)
    # the H state after the very first cycle (segment 0) influences the decision through the graph
    g = torch.autograd.grad(out.policy_logits.sum(), first_cycle["z"], retain_graph=True)[0]
    assert g.abs().sum() > 0
    out.value.sum().backward()
    for name, p in model.named_parameters():
        if not name.startswith("heads.") or name.startswith("heads.value"):
            assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_captum_layer_integrated_gradients_on_the_final_h_update_inputs():
    captum_attr = pytest.importorskip("captum.attr")
    model = make_model("tiny", act=False, max_segments=1).eval()
    x, iid, tid = make_batch(model.config, B=1)

    def long_logit(x, iid, tid):
        return model.attribution_forward(x, iid, tid).policy_logits[:, 2]

    # The two taps are independent (z_L is final before z_H is tapped), which Captum's warning asks for.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        lig = captum_attr.LayerIntegratedGradients(long_logit, [model.taps.h_prev, model.taps.l_final])
    (attr_h, attr_l), delta = lig.attribute(x, baselines=torch.zeros_like(x), additional_forward_args=(iid, tid),
                                            n_steps=64, return_convergence_delta=True)
    assert attr_h.shape == attr_l.shape == (1, model.config.n_tokens, model.config.hidden)
    total = (long_logit(x, iid, tid) - long_logit(torch.zeros_like(x), iid, tid)).abs().item()
    assert abs(delta.item()) < 0.05 * total + 1e-3  # completeness: attributions sum to the output change

    lc = captum_attr.LayerConductance(long_logit, model.taps.h_cycle[0])
    cond = lc.attribute(x, baselines=torch.zeros_like(x), additional_forward_args=(iid, tid), n_steps=16)
    assert cond.shape == (1, model.config.n_tokens, model.config.hidden) and bool(torch.isfinite(cond).all())


def test_flat_baseline_has_the_same_contract_with_one_step():
    model = make_model("flat_tiny").train()
    assert isinstance(model, FlatTransformer)
    x, iid, tid = make_batch(model.config)
    out, carry = model(x, iid, tid)
    assert out.steps.tolist() == [1, 1, 1] and bool(carry.halted.all())
    outputs_of(out).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    counts, _ = _count_tap_calls(model)
    model.attribution_forward(x, iid, tid)
    assert counts == {"embedding": 1}


# ----------------------------------------------------------------------------- robustness

@pytest.mark.parametrize("case, match", [
    ("x_2d", "shape"), ("x_wrong_window", "window"), ("x_float64", "float32"), ("x_list", "torch.Tensor"),
    ("id_float", "integer"), ("id_wrong_len", "shape"), ("id_negative", ">= 0"), ("timeframe_too_big", "n_timeframes"),
])
def test_wrong_inputs_raise_a_clear_model_error(case, match):
    model = make_model("tiny").eval()
    x, iid, tid = make_batch(model.config)
    bad = {
        "x_2d": (x[0], iid, tid), "x_wrong_window": (x[:, :-1], iid, tid), "x_float64": (x.double(), iid, tid),
        "x_list": (x.tolist(), iid, tid), "id_float": (x, iid.float(), tid), "id_wrong_len": (x, iid[:2], tid),
        "id_negative": (x, iid - 5, tid), "timeframe_too_big": (x, iid, tid + len(TIMEFRAMES)),
    }[case]
    with pytest.raises(ModelError, match=match):
        model.infer(*bad)


def test_non_finite_outputs_are_flagged_per_sample():
    model = make_model("tiny").eval()
    x, iid, tid = make_batch(model.config)
    x[0, 3, 2] = float("nan")
    out = model.infer(x, iid, tid)
    assert out.finite.tolist() == [False, True, True]
    flat = make_model("flat_tiny").eval()
    assert flat.infer(x, iid, tid).finite.tolist() == [False, True, True]


def test_a_carry_from_another_batch_is_rejected():
    model = make_model("tiny").eval()
    x, iid, tid = make_batch(model.config)
    with pytest.raises(ModelError, match="carry"):
        model(x, iid, tid, carry=model.initial_carry(5))


# ----------------------------------------------------------------------------- config

def test_config_round_trips_and_rejects_unknown_keys():
    cfg = get_preset("default", reset_l_each_cycle=True)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ModelError, match="unknown ModelConfig key"):
        ModelConfig.from_dict({**cfg.to_dict(), "hiddn": 32})
    with pytest.raises(ModelError, match="unknown preset"):
        get_preset("huge")
    with pytest.raises(ModelError, match="grad_mode"):
        get_preset("tiny", grad_mode="sometimes")
    with pytest.raises(ModelError, match="patch_size"):
        get_preset("tiny", window=15)


def test_presets_are_instances_and_build_the_right_architecture():
    assert all(isinstance(c, ModelConfig) for c in PRESETS.values())
    assert isinstance(make_model("tiny"), HierarchicalReasoningModel)
    assert isinstance(build_model(get_preset("tiny", arch="flat")), FlatTransformer)
    p = PRESETS["paper"]
    assert (p.hidden, p.n_heads, p.h_layers, p.l_layers, p.h_cycles, p.l_cycles) == (512, 8, 4, 4, 2, 2)
