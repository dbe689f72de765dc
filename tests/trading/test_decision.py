"""The position rule (hrm_core.trading.decision): hand-computed positions, the band and scale chosen on validation only."""
import numpy as np
import pandas as pd
import pytest

from hrm_core.trading.decision import BAND_FRACTIONS, MAX_ONE_ACTION_SHARE, DecisionRule, action_shares, choose_rule, rule_of
from hrm_core.trading.signals import build_table

PROBS = np.array([[0.30, 0.40, 0.30],   # no lean
                  [0.25, 0.40, 0.35],   # edge +0.10
                  [0.40, 0.45, 0.15],   # edge -0.25
                  [0.10, 0.50, 0.40]])  # edge +0.30: argmax says flat
QTY = np.array([1.0, 0.5, 0.8, 1.0])


def test_edge_rule_by_hand():
    rule = DecisionRule("edge", scale=0.2, band=0.05)
    # 0 (inside the band); 0.5 x 0.10/0.2; 0.8 x clip(-1.25); 1 x clip(1.5)
    np.testing.assert_allclose(rule.positions(PROBS, QTY), [0.0, 0.25, -0.8, 1.0])
    assert DecisionRule("edge", scale=0.2, band=0.12).positions(PROBS, QTY)[1] == 0.0  # |0.10| < band


def test_argmax_rule_never_trades_when_flat_is_the_commonest_class_but_the_edge_rule_does():
    argmax = DecisionRule().positions(PROBS, QTY)
    assert (argmax == 0).all()  # every row's argmax is "flat"
    assert (DecisionRule("edge", scale=0.3).positions(PROBS, QTY) != 0).sum() == 3


def test_the_signal_table_action_is_the_side_of_the_position_so_markers_follow_the_book():
    raw = pd.DataFrame({"p_short": PROBS[:, 0], "p_flat": PROBS[:, 1], "p_long": PROBS[:, 2], "quantity": QTY,
                        "value": 0.0, "steps": 1.0, "finite": 1.0, "latency_ms": 0.1},
                       index=pd.date_range("2020-01-01", periods=4, tz="UTC"))
    t = build_table(raw, model_id="m", rule=DecisionRule("edge", scale=0.2, band=0.05))
    assert list(t["action"]) == ["flat", "long", "short", "long"]
    assert (np.sign(t["position"]) == t["action"].map({"short": -1, "flat": 0, "long": 1})).all()


def test_choose_rule_scales_to_the_validation_edge_and_picks_the_best_band():
    rng = np.random.default_rng(0)
    edge = rng.normal(0, 0.05, 500)
    probs = np.stack([0.3 - edge / 2, np.full(500, 0.4), 0.3 + edge / 2], axis=1)

    def score(pos):  # prefers trading less: the widest band wins
        return -np.abs(pos).mean()

    rule, tried = choose_rule(probs, np.ones(500), score)
    assert rule.scale == pytest.approx(np.quantile(np.abs(edge - rule.centre), 0.9))
    assert rule.band == pytest.approx(BAND_FRACTIONS[-1] * rule.scale)
    assert len(tried["candidates"]) == 2 * len(BAND_FRACTIONS)  # centre 0 and the median lean, each band


def test_a_rule_long_on_nearly_every_validation_window_is_not_chosen_while_another_exists():
    """An index drifts up, so the raw lean is positive almost everywhere: the raw rule without a band would be
    buy & hold with a size; a band or centring on the median lean makes decisions."""
    rng = np.random.default_rng(1)
    lean = 0.08 + rng.normal(0, 0.02, 400)  # always long under centre 0
    probs = np.stack([0.3 - lean / 2, np.full(400, 0.4), 0.3 + lean / 2], axis=1)
    always_long_wins = lambda pos: float(np.mean(pos))  # noqa: E731  (the raw rule scores best)
    rule, tried = choose_rule(probs, np.ones(400), always_long_wins)
    best_unconstrained = max(tried["candidates"], key=lambda c: c["score"])
    assert best_unconstrained["centre"] == 0.0 and best_unconstrained["max_action_share"] == 1.0
    assert action_shares(rule.positions(probs, np.ones(400))).max() <= MAX_ONE_ACTION_SHARE
    centred = [c for c in tried["candidates"] if c["centre"] != 0.0]
    assert centred and all(c["centre"] == pytest.approx(np.median(lean)) for c in centred)


def test_rule_of_old_cards_is_argmax_and_bad_rules_are_refused():
    assert rule_of({}) == DecisionRule()
    assert rule_of({"decision": {"rule": "edge", "scale": 0.1, "band": 0.0, "centre": 0.05}}).centre == 0.05
    with pytest.raises(ValueError):
        rule_of({"decision": {"rule": "edge", "scale": -1.0, "band": 0.0}})
    with pytest.raises(ValueError):
        DecisionRule("coin-flip")


@pytest.mark.parametrize("decision, words", [
    ("edge", "mapping"), ([1, 2], "mapping"), ({"rule": "edge"}, "scale"),
    ({"rule": "edge", "scale": True, "band": 0.0, "centre": 0.0}, "scale"),
    ({"rule": "edge", "scale": 0.1, "band": "wide", "centre": 0.0}, "band"),
])
def test_a_malformed_rule_in_a_checkpoint_is_refused(decision, words):
    with pytest.raises(ValueError, match=words):
        rule_of({"decision": decision})


def test_a_one_sided_card_states_the_verdict_and_a_hand_edited_card_is_not_a_crash():
    from hrm_core.model.cards import skill_note
    from hrm_core.model.checkpoint import _decision_lines

    m = {"decision": {"rule": "edge", "scale": 0.1, "band": 0.0, "centre": 0.0, "chosen_on": "validation"},
         "val_action_shares": {"short": 0.0, "flat": 0.02, "long": 0.98},
         "skill": {"verdict": "no evidence of skill (the log-loss interval includes 0)", "logloss_diff": -0.001,
                   "logloss_diff_ci": [-0.01, 0.008]}}
    text = " ".join(_decision_lines(m))
    assert "one action on more than 95% of validation windows" in text and "no evidence of skill" in text
    note, skilled = skill_note({"metrics": m})
    assert not skilled and "Long on 98% of validation windows" in note and "no evidence of skill" in note
    assert skill_note({"metrics": {**m, "skill": {"logloss_diff": None, "logloss_diff_ci": [None, None]}}}) is None
    assert skill_note({"metrics": "garbage"}) is None and skill_note({}) is None
