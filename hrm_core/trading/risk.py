"""The risk layer between the model's raw position and the book, shared by backtest and live.

Three rules, applied in this order, each causal (the position decided at the close of bar t
uses data through bar t only, and is filled at the open of bar t+1, or at that close under
market-on-close, as in `run_backtest`):

1. **Position cap**: capped_t = clip(raw_t, -max_abs_position, +max_abs_position).
2. **Volatility target** (vol_target_annual > 0): vol_scaled_t = capped_t * w_t with
   w_t = min(L_max, sigma* / sigma_hat_t), sigma_hat_t = sqrt(P) * s(r_{t-L+1..t}), the
   sample std (ddof = 1) of the last L = vol_lookback asset returns *through bar t*. In
   REFERENCE's indexing (w_t held over period t, sigma_hat from returns up to t - 1) this is
   the same rule: our position decided at t is held over t+1.
   NOTE: L_max = 1, so the layer only ever de-risks: it never adds exposure the model did
   not ask for, and |final| <= |capped| <= max_abs_position always holds. The floor on
   sigma_hat needed to avoid blow-ups is then implicit (w <= 1); a zero-volatility window
   gives w = 1. During warm-up (fewer than L returns) the position is flat (0): no trading
   without a volatility estimate.
3. **Drawdown brake** (drawdown_brake > 0): the layer tracks the equity of its own final
   positions bar by bar, net of `costs_bps` per unit of drift-aware turnover, exactly as
   `run_backtest` computes it under the same `execution` (hrm_core.trading.backtest: fill at the next
   open by default, or market-on-close). At the close of bar t, before the order decided
   there, the layer marks its equity E_t to that close: every fill up to then included (under
   next_open the fill at bar t's open of the target decided at close t-1; under close the
   fill at close t-1). E_t is compared with its running peak (starting equity 1 included).
   The brake engages when E_t / peak - 1 <= -drawdown_brake and then multiplies the position
   by drawdown_brake_scale; it releases when E_t / peak - 1 >= -drawdown_brake / 2 (recovered
   to within half the threshold of the peak). The hysteresis stops it flickering around the
   threshold. drawdown_brake_scale must be > 0: a fully flat book could never recover to
   release the brake.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from hrm_core.trading.backtest import bar_legs, bar_return, check_execution, run_backtest
from hrm_core.trading.metrics import backtest_metrics
from hrm_core.settings import RiskSettings

VOL_SCALE_MAX = 1.0  # L_max: the vol target only de-risks (see NOTE above)


@dataclass(frozen=True)
class RiskResult:
    frame: pd.DataFrame  # raw, capped, vol_estimate_annual, vol_scale, vol_scaled, brake_active, final
    settings: RiskSettings
    active: dict[str, bool] = field(default_factory=dict)  # rule name -> configured on

    @property
    def final(self) -> pd.Series:
        return self.frame["final"]


def _validate(raw: pd.Series, close: pd.Series, s: RiskSettings, periods_per_year: float, costs_bps: float):
    if not isinstance(raw, pd.Series) or not isinstance(close, pd.Series):
        raise TypeError("raw_position and close must be pandas Series on the same index")
    if not raw.index.equals(close.index):
        raise ValueError("raw_position and close have different indexes: raw_position.reindex(close.index).fillna(0.0)")
    pos = raw.to_numpy(dtype=float)
    px = close.to_numpy(dtype=float)
    if not np.isfinite(pos).all():
        raise ValueError("raw_position has NaN/inf values: fill them with 0.0 (flat) first")
    if len(px) and (not np.isfinite(px).all() or (px <= 0).any()):
        raise ValueError("close must be finite and positive: drop or fill the bad bars")
    # s is within its limits: RiskSettings checks them when it is made (hrm_core.settings)
    if periods_per_year <= 0 or costs_bps < 0:
        raise ValueError("periods_per_year must be > 0 and costs_bps >= 0")
    return pos, px


def trailing_volatility(close: pd.Series, *, lookback: int, periods_per_year: float) -> pd.Series:
    """sigma_hat_t = sqrt(P) s(r_{t-lookback+1..t}), ddof = 1; NaN until `lookback` returns exist."""
    r = close.pct_change()
    return r.rolling(lookback, min_periods=lookback).std(ddof=1) * math.sqrt(periods_per_year)


def _drift(w: float, r: float) -> float:
    """Scalar drifted_weight (hrm_core.trading.backtest), same arithmetic."""
    return w * (1.0 + r) / (1.0 + w * r) if 1.0 + w * r > 0 else 0.0


def _brake(pos: np.ndarray, pre_r: np.ndarray, post_r: np.ndarray, s: RiskSettings, bps: float,
           execution: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bar-by-bar drawdown brake on the layer's own equity. Returns final, brake flag, equity (after costs).

    Per bar, as run_backtest: the weight held into the bar (drifted since the last fill) earns
    pre_r, the fill moves it to `to` paying bps |to - from|, and `to` earns post_r.
    """
    n = len(pos)
    final = np.empty(n)
    active = np.zeros(n, dtype=bool)
    equity = np.empty(n)
    threshold, release = -s.drawdown_brake, -s.drawdown_brake / 2
    e_prev, peak, braked = 1.0, 1.0, False
    to_prev, post_prev, f_prev = 0.0, 0.0, 0.0
    for t in range(n):
        pre_w = _drift(to_prev, post_prev)
        from_w = _drift(pre_w, pre_r[t])
        if execution == "next_open":  # the fill at this bar's open is known before the close
            to = f_prev
            e_mark = e_prev * (1.0 + (bar_return(pre_w, pre_r[t], to, post_r[t]) - bps * abs(to - from_w)))
        else:
            e_mark = e_prev * (1.0 + pre_w * pre_r[t])  # equity at close t before trading
        peak = max(peak, e_mark)
        dd = e_mark / peak - 1.0
        if braked and dd >= release:
            braked = False
        elif not braked and dd <= threshold:
            braked = True
        f = pos[t] * s.drawdown_brake_scale if braked else pos[t]
        if execution == "close":  # the fill at this close is the decision just made
            to = f
            e_mark = e_prev * (1.0 + (bar_return(pre_w, pre_r[t], to, post_r[t]) - bps * abs(to - from_w)))
        e_prev = e_mark
        final[t], active[t], equity[t] = f, braked, e_prev
        to_prev, post_prev, f_prev = to, post_r[t], f
    return final, active, equity


def apply_risk(
    raw_position: pd.Series,
    close: pd.Series,
    settings: RiskSettings,
    *,
    periods_per_year: float,
    costs_bps: float = 0.0,
    history: pd.Series | None = None,
    execution: str = "next_open",
    open_price: pd.Series | None = None,
) -> RiskResult:
    """Cap, vol-target and brake a raw position series (all causal; see the module docstring).

    `history`: closes before `close` (e.g. before a test period), used only to warm up the
    volatility estimate so the first bars are not flat. Returns the intermediate columns
    so the UI can show what each rule did, the settings used, and which rules are on.
    `execution` / `open_price`: the fill convention the brake's equity follows (as in
    run_backtest); the opens are needed only when the brake is on under next_open.
    """
    pos, px = _validate(raw_position, close, settings, periods_per_year, costs_bps)
    check_execution(execution)
    s = settings
    m = s.max_abs_position
    capped = np.clip(pos, -m, m)

    if s.vol_target_annual > 0:
        past = history if history is not None else close.iloc[:0]
        sigma = trailing_volatility(pd.concat([past, close]), lookback=s.vol_lookback,
                                    periods_per_year=periods_per_year).to_numpy()[len(past):]
        scale = np.full(len(px), VOL_SCALE_MAX)
        ok = sigma > 0  # NaN (warm-up) compares False
        scale[ok] = np.minimum(VOL_SCALE_MAX, s.vol_target_annual / sigma[ok])
        scale[np.isnan(sigma)] = 0.0  # warm-up: flat
        vol_scaled = capped * scale
    else:
        sigma = np.full(len(px), np.nan)
        scale = np.ones(len(px))
        vol_scaled = capped

    if s.drawdown_brake > 0:
        op = None
        if execution == "next_open":
            if open_price is None or not open_price.index.equals(close.index):
                raise ValueError("the drawdown brake under execution='next_open' needs open_price on the close's "
                                 "index (bars['open']), or execution='close' for market-on-close")
            op = open_price.to_numpy(dtype=float)
        pre_r, post_r, _ = bar_legs(px, op, execution)
        final, braked, equity = _brake(vol_scaled, pre_r, post_r, s, costs_bps / 1e4, execution)
    else:
        final, braked = vol_scaled.copy(), np.zeros(len(px), dtype=bool)
        equity = np.full(len(px), np.nan)  # only tracked when the brake needs it

    frame = pd.DataFrame(
        {
            "raw": pos, "capped": capped, "vol_estimate_annual": sigma, "vol_scale": scale,
            "vol_scaled": vol_scaled, "brake_active": braked, "brake_equity": equity, "final": final,
        },
        index=close.index,
    )
    active = {
        "position_cap": m < 1.0 or bool((np.abs(pos) > m).any()),
        "vol_target": s.vol_target_annual > 0,
        "drawdown_brake": s.drawdown_brake > 0,
    }
    return RiskResult(frame=frame, settings=s, active=active)


def risk_rule_effects(
    raw_position: pd.Series,
    close: pd.Series,
    settings: RiskSettings,
    *,
    periods_per_year: float,
    costs_bps: float = 0.0,
    history: pd.Series | None = None,
    execution: str = "next_open",
    open_price: pd.Series | None = None,
) -> pd.DataFrame:
    """Backtest raw, each rule alone, and all rules, with the same costs (`history` as in apply_risk).

    One row per variant: whether the rule is configured on, annual return (CAGR) [%], max
    drawdown [%], Sharpe, annual volatility [%], turnover (two-way, annual) and exposure [%].
    A rule that is off gives the same numbers as "raw", so the table always has five rows.
    """
    s = settings
    off = RiskSettings(max_abs_position=1.0, vol_target_annual=0.0, vol_lookback=s.vol_lookback,
                       drawdown_brake=0.0, drawdown_brake_scale=s.drawdown_brake_scale)
    variants = {
        "raw (no rules)": (off, True),
        "position cap only": (replace(off, max_abs_position=s.max_abs_position), s.max_abs_position < 1.0),
        "vol target only": (replace(off, vol_target_annual=s.vol_target_annual), s.vol_target_annual > 0),
        "drawdown brake only": (replace(off, drawdown_brake=s.drawdown_brake), s.drawdown_brake > 0),
        "all rules": (s, True),
    }
    rows = []
    for name, (cfg, on) in variants.items():
        pos = apply_risk(raw_position, close, cfg, periods_per_year=periods_per_year, costs_bps=costs_bps,
                         history=history, execution=execution, open_price=open_price).final
        bt = run_backtest(pos.clip(-1.0, 1.0), close, commission_bps=costs_bps, slippage_bps=0.0,
                          execution=execution, open_price=open_price)
        mt = backtest_metrics(bt, periods_per_year=periods_per_year)
        rows.append({
            "variant": name, "active": on,
            "Annual return [%]": mt["Annual return [%]"], "Max drawdown [%]": mt["Max drawdown [%]"],
            "Sharpe": mt["Sharpe"], "Annual volatility [%]": mt["Annual volatility [%]"],
            "Turnover (two-way, annual)": mt["Turnover (two-way, annual)"], "Exposure [%]": mt["Exposure [%]"],
        })
    return pd.DataFrame(rows).set_index("variant")


__all__ = ["RiskResult", "apply_risk", "risk_rule_effects", "trailing_volatility", "VOL_SCALE_MAX"]
