"""Every target Explain offers accounts for the output: |delta| / |F(x) - F(baseline)| <= 1 % on every decision
of the shipped model's test period, on both instruments (module H/L attribution at the default 32 points,
refined to more points where a decision needs them: explain.modules.attribute_modules)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from explain.words import offered_targets
from explain.period import explain_period
from hrm_core.data.market import load_bars
from hrm_core.model.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(ROOT / "models" / "hrm-default" / "model.pt")


@pytest.mark.slow
@pytest.mark.parametrize("symbol", ["^GSPC", "^IXIC"])
def test_every_offered_target_is_complete_on_every_test_decision(shipped, symbol, offline_settings):
    from hrm_core.settings import load_settings

    offline_settings()
    bars = load_bars(symbol, "1d").bars
    for target in offered_targets(shipped.rule):
        pe = explain_period(shipped, bars, symbol=symbol, interval="1d", target=target, store=None,
                            settings=load_settings())
        rel = pe.frame["completeness_delta"]
        assert len(rel) == 754, (symbol, target, len(rel))
        unmeasurable = rel.isna()  # F(x) = F(baseline) within 1e-5: nothing to split, and nothing unaccounted
        assert (pe.frame.loc[unmeasurable, "delta"].abs() <= 1e-6).all() and unmeasurable.sum() <= 5
        worst = float(np.abs(rel[~unmeasurable]).max())
        assert worst <= 0.01, f"{symbol} {target}: completeness error up to {100 * worst:.2f} %"
