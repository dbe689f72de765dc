"""How often model health's drift verdict is wrong: `python -m benchmarks.health [--json]` prints JSON.

Calibration exactly as `hrm health` does it: the feature family (hrm_core.live.drift) over the
shipped model's training years 1999-2012. Windows of 40 and 250 bars are drawn from the
validation years 2013-2015, which calibration never read:

- false alarms: the share of those windows whose verdict is not green (amber or red), and red;
- power: the same windows with a shift injected from their first bar (volatility x3, a drift of
  one training-period sd per bar in log returns, volume x100, ret_1 or vol_20 stuck at one value):
  the share detected (amber or red).

tests/live/test_monitor.py runs the same code on ^GSPC and asserts the goals (<= 5 % / <= 1 %
false alarms, >= 90 % detection).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from hrm_core.live.drift import FeatureCalibration, calibrate_features, feature_family, jump_statistics
from hrm_core.live.monitor import monitored_features
from hrm_core.training.windows import in_period

TRAIN = ("1999-01-01", "2012-12-31")
HELD_OUT = ("2013-01-01", "2015-12-31")
SHIFTS = ("volatility x3", "mean +1 sd", "volume x100", "stuck ret_1", "stuck vol_20")
HISTORY = 400  # bars before a window: the features' warm-up and the jumps' previous year


def shifted(bars: pd.DataFrame, start: int, kind: str, sd: float) -> pd.DataFrame:
    """`bars` with a shift injected from row `start` on (log returns and intrabar ranges, or volume)."""
    b = bars.copy()
    on = np.arange(len(b)) >= start
    if kind == "volume x100":
        b["volume"] = np.where(on, b["volume"] * 100, b["volume"])
        return b
    r = np.log(b["close"]).diff().fillna(0.0).to_numpy()
    factor = 3.0 if kind == "volatility x3" else 1.0
    r = np.where(on, factor * r + (sd if kind == "mean +1 sd" else 0.0), r)
    close = b["close"].iloc[0] * np.exp(np.cumsum(r))
    for col in ("open", "high", "low"):
        rel = np.log(b[col].to_numpy() / b["close"].to_numpy())
        b[col] = close * np.exp(np.where(on, factor * rel, rel))
    b["close"] = close
    return b


def verdict(cal: FeatureCalibration, bars: pd.DataFrame, end: int, kind: str | None = None, sd: float = 0.0) -> str:
    """Worst status of the feature family on the cal.window bars ending at row `end` (exclusive)."""
    lo = max(0, end - cal.window - HISTORY)
    part = bars.iloc[lo:end]
    if kind in ("volatility x3", "mean +1 sd", "volume x100"):
        part = shifted(part, len(part) - cal.window, kind, sd)
    feats = monitored_features(part).iloc[-cal.window:]
    if kind and kind.startswith("stuck"):
        name = kind.split()[1]
        feats[name] = feats[name].iloc[0]
    table = feature_family(cal, feats, jump_statistics(part, cal.window).iloc[-1].to_dict())
    return "red" if (table["status"] == "red").any() else "amber" if (table["status"] == "amber").any() else "green"


def measure(bars: pd.DataFrame, window: int, *, n: int = 200, n_shifted: int = 50, seed: int = 7) -> dict:
    train = in_period(bars.index, "1d", *TRAIN)
    held = np.flatnonzero(in_period(bars.index, "1d", *HELD_OUT))
    cal = calibrate_features(monitored_features(bars), bars, train, window)
    ends = np.random.default_rng(seed).choice(np.arange(held[0] + window, held[-1] + 2), n)
    calm = [verdict(cal, bars, e) for e in ends]
    sd = float(np.log(bars["close"]).diff()[train].std())
    power = {kind: float(np.mean([verdict(cal, bars, e, kind, sd) != "green" for e in ends[:n_shifted]]))
             for kind in SHIFTS}
    return {"window": window, "windows": n, "false_alarm_rate": float(np.mean([v != "green" for v in calm])),
            "red_rate": float(np.mean([v == "red" for v in calm])), "detection_rate": power,
            "null_windows": cal.n_windows, "amber_bound": cal.amber_bound()}


def main() -> dict:
    from hrm_core.data.market import load_bars
    from hrm_core.settings import load_settings

    t0 = time.perf_counter()
    out = {"calibrated_on": TRAIN, "windows_from": HELD_OUT, "shifted_windows": 50, "instruments": {}}
    for symbol in ("^GSPC", "^IXIC"):
        bars = load_bars(symbol, "1d", settings=load_settings()).bars
        out["instruments"][symbol] = [measure(bars, w) for w in (40, 250)]
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="(the output is always JSON)")
    parser.parse_args()
    print(json.dumps(main(), indent=2))
