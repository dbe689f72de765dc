"""Adaptive depth: the halting objectives, deep start, inference modes, and the diagnostics that read them."""
import math

import numpy as np
import pytest
import torch

from hrm_core.errors import ModelError
from hrm_core.model.config import ModelConfig, get_preset
from hrm_core.model.halting import DEEP_START_HALT_PROB, halting_loss, halts
from hrm_core.model.networks import build_model
from hrm_core.reasoning.diagnostics import depth_pays, depth_verdict, trace_windows

torch.set_num_threads(1)


def _model(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    return build_model(get_preset("tiny", max_segments=4, **overrides)).eval()


def _x(model, n: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, model.config.window, model.config.n_features, generator=g), torch.ones(n, dtype=torch.long)


def _random_halt_head(model, seed: int = 5) -> None:
    """A halting head whose verdict differs between samples, so several depths occur."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        model.heads.q.proj.weight.copy_(torch.randn(model.heads.q.proj.weight.shape, generator=g) * 2.0)
        model.heads.q.proj.bias.zero_()


# ----------------------------------------------------------------------------- the halting rules

def test_ponder_halts_at_the_median_of_its_halting_distribution():
    lam = torch.tensor([0.6, 0.3, 0.3])  # hazards at one segment, reached with survival 1, 1 and 0.6
    survival = torch.tensor([1.0, 1.0, 0.6])
    stop, after = halts("ponder", torch.logit(lam), torch.zeros(3), survival)
    np.testing.assert_allclose(after.numpy(), [0.4, 0.7, 0.42], rtol=1e-6)
    assert stop.tolist() == [True, False, True]  # cumulative halting probability 0.6, 0.3, 0.58


def test_q_learning_and_loss_improvement_rules():
    q_halt, q_cont, s = torch.tensor([1.0, -1.0, 0.5]), torch.tensor([0.0, 0.0, 2.0]), torch.ones(3)
    assert halts("q_learning", q_halt, q_cont, s)[0].tolist() == [True, False, False]
    assert halts("loss_improvement", q_halt, q_cont, s)[0].tolist() == [True, False, True]


def test_deep_start_begins_at_a_five_percent_halting_probability():
    model = _model(halt_objective="ponder", deep_start=True)
    q_halt, q_continue = model.heads.q(torch.zeros(1, model.config.hidden))
    assert torch.sigmoid(q_halt).item() == pytest.approx(DEEP_START_HALT_PROB)
    assert q_continue.item() > q_halt.item()  # q_learning would continue too
    out = model.infer(*_x(model, 8), _x(model, 8)[1])
    assert out.steps.tolist() == [4] * 8  # nothing halts before the head has learned anything


def test_the_ponder_loss_moves_the_halting_probability_toward_its_optimum():
    """lambda* = sigmoid(logit(lambda_p) - gain / beta): minimise the per-segment loss over q_halt and compare."""
    gain_target = torch.tensor([0.2, 0.0, -0.1])  # continuing lowers the loss by 0.2, by 0, raises it by 0.1
    y = torch.zeros(3, dtype=torch.long)
    logits = torch.zeros(3, 3)
    # next logits whose cross-entropy is CE_now - gain: CE(logits) = log 3; choose a next logit on class 0
    ce_next = math.log(3) - gain_target
    next_logits = torch.zeros(3, 3)
    next_logits[:, 0] = torch.log(2 * torch.exp(-ce_next) / (1 - torch.exp(-ce_next)))
    q = torch.zeros(3, requires_grad=True)
    opt = torch.optim.LBFGS([q], max_iter=200)

    def closure():
        opt.zero_grad()
        loss = halting_loss("ponder", q_halt=q, logits=logits, next_logits=next_logits, direction=y,
                            survival=torch.ones(3), last=torch.zeros(3, dtype=torch.bool), lambda_p=0.5, beta=0.1,
                            margin=0.0).sum()
        loss.backward()
        return loss

    opt.step(closure)
    expected = torch.sigmoid(torch.logit(torch.tensor(0.5)) - gain_target / 0.1)
    np.testing.assert_allclose(torch.sigmoid(q).detach().numpy(), expected.numpy(), atol=1e-3)


def test_loss_improvement_targets_halting_where_the_next_segment_does_not_pay_and_ignores_the_last():
    y = torch.tensor([0, 0, 0])
    logits = torch.zeros(3, 3)
    next_logits = torch.tensor([[3.0, 0, 0], [-3.0, 0, 0], [3.0, 0, 0]])  # helps, hurts, helps (but last)
    last = torch.tensor([False, False, True])
    loss = halting_loss("loss_improvement", q_halt=torch.zeros(3), logits=logits, next_logits=next_logits,
                        direction=y, survival=torch.ones(3), last=last, lambda_p=0.5, beta=0.1, margin=0.0)
    assert loss[2] == 0.0 and loss[0] > 0 and loss[1] > 0
    q = torch.tensor([-4.0, 4.0, 0.0])  # continue where it helps, halt where it hurts: low loss
    good = halting_loss("loss_improvement", q_halt=q, logits=logits, next_logits=next_logits, direction=y,
                        survival=torch.ones(3), last=last, lambda_p=0.5, beta=0.1, margin=0.0)
    assert (good[:2] < loss[:2]).all()


# ----------------------------------------------------------------------------- inference modes

@pytest.mark.parametrize("objective", ["q_learning", "ponder", "loss_improvement"])
def test_adaptive_inference_matches_the_segment_by_segment_forward(objective):
    model = _model(halt_objective=objective)
    _random_halt_head(model)
    x, ids = _x(model, 64)
    out = model.infer(x, ids, ids)
    carry, probs = None, None
    with torch.no_grad():
        for _ in range(model.config.max_segments):
            seg, carry = model(x, ids, ids, carry)
            probs = torch.where(seg.active[:, None], seg.policy_logits, probs if probs is not None else seg.policy_logits)
    assert len(set(out.steps.tolist())) > 1, "the test needs several depths"
    assert torch.equal(out.steps, carry.steps)
    torch.testing.assert_close(out.policy_logits, probs, rtol=1e-4, atol=1e-5)


def test_fixed_and_max_modes_and_the_depth_override():
    model = _model(halt_objective="ponder", inference_mode="fixed", fixed_depth=2)
    _random_halt_head(model)
    x, ids = _x(model, 16)
    assert model.infer(x, ids, ids).steps.tolist() == [2] * 16
    assert model.infer(x, ids, ids, depth=3).steps.tolist() == [3] * 16
    assert model.infer(x, ids, ids, halt=False).steps.tolist() == [4] * 16
    model.config = get_preset("tiny", max_segments=4, inference_mode="max")
    assert model.infer(x, ids, ids).steps.tolist() == [4] * 16


def test_configs_refuse_unknown_objectives_modes_and_depths_beyond_the_maximum():
    with pytest.raises(ModelError, match="halt_objective"):
        ModelConfig(halt_objective="coin_flip")
    with pytest.raises(ModelError, match="inference_mode"):
        ModelConfig(inference_mode="sometimes")
    with pytest.raises(ModelError, match="fixed_depth"):
        ModelConfig(max_segments=3, fixed_depth=4)
    assert ModelConfig.from_dict({k: v for k, v in ModelConfig().to_dict().items()
                                  if k not in ("halt_objective", "inference_mode")}).halt_objective == "q_learning"


def test_training_with_ponder_runs_every_segment_and_returns_the_look_ahead():
    model = _model(halt_objective="ponder", deep_start=True).train()
    torch.nn.init.normal_(model.heads.q.proj.weight, std=3.0)  # a head that would halt some samples at once
    x, ids = _x(model, 32)
    carry = None
    for segment in range(1, 5):
        out, carry = model(x, ids, ids, carry)
        assert out.next_policy_logits is not None and out.next_policy_logits.shape == (32, 3)
        assert out.last.all() == (segment == 4)
        assert carry.halted.all() == (segment == 4)


# ----------------------------------------------------------------------------- diagnostics read the same rules

@pytest.mark.parametrize("overrides", [dict(halt_objective="ponder"), dict(halt_objective="loss_improvement"),
                                       dict(halt_objective="ponder", inference_mode="fixed", fixed_depth=3)])
def test_traced_as_run_depth_is_what_infer_decides(overrides):
    model = _model(**overrides)
    _random_halt_head(model)
    x, ids = _x(model, 64, seed=7)
    tr = trace_windows(model, x.numpy(), instrument_id=1, timeframe_id=1)
    np.testing.assert_array_equal(tr.steps, model.infer(x, ids, ids).steps.numpy())


def test_depth_pays_compares_paired_log_losses_and_says_so():
    model = _model(halt_objective="ponder")
    _random_halt_head(model)
    x, _ = _x(model, 200, seed=9)
    tr = trace_windows(model, x.numpy(), instrument_id=1, timeframe_id=1)
    # labels that the full-depth output gets right more often than depth 1: max depth must pay
    from dataclasses import replace

    tr = replace(tr, direction=tr.probs[:, -1].argmax(-1).astype(float))
    res = depth_pays(tr, n_boot=200, mean_block=1.0)
    ll = res["logloss"]
    d = res["differences"]["max_depth_minus_depth_1"]
    assert d["mean"] == pytest.approx(ll["max_depth"] - ll["depth_1"])
    assert d["ci"][0] <= d["mean"] <= d["ci"][1]
    assert d["mean"] < 0 and res["pays"] is True and res["statement"].startswith("depth pays")
    verdict = depth_verdict({"segments_histogram": {"1": 3, "2": 0}, "max_segments": 2, "depth_pays": res,
                             "halting_agreement": {"rate": 0.5}})
    assert verdict.startswith("Depth does not adapt") and "1 of 2 segments" in verdict and "50 %" in verdict
