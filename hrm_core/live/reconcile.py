"""Live (paper) ledger vs the vectorised backtest on the same bars, model and settings, bar by bar.

`reconcile(db, settings)` reloads the book's bars (same source as live: cache / sample / file),
runs the signal table, `apply_risk` and `run_backtest` over the ledger's period exactly as
`evaluate.backtest_target` does (vol warm-up = vol_lookback + 1 closes before the first bar,
the book's own risk and cost settings and annualisation), and compares:

- **signals**: action agreement rate; position differences. |diff| <= SIGNAL_NOISE_TOL with
  the same action is float32 noise (single-window vs batched inference, see live.py), not a
  disagreement.
- **execution**: the same vectorised risk layer and backtest run on the LEDGER's own raw
  signals and closes must reproduce its targets and equity to EXEC_TOL (1e-12): this checks
  the risk, fill and cost code of the live path independently of the model.
- **PnL difference** in summed net returns, split exactly per bar, with gross_x(w, p) the
  backtest's gross return of targets w on prices p (open and close, under the book's
  execution setting):
      net_live - net_bt = gross(w_live, p_bt) - gross(w_bt, p_bt)      signal (and risk state) part
                        + gross(w_live, p_live) - gross(w_live, p_bt)  fill / timing part (prices seen
                                                                       live differ: revised or late
                                                                       data, missed bars)
                        - (cost_live - cost_bt)                        cost part
  The compounded equity gap is reported beside it.
- **bars that differ**, each with its reason: revised bar, bar the live process recorded as
  "missed (downtime)" or "missed (data late)" (live mode does not back-fill: hrm_core.live.trader),
  bar missing from the ledger otherwise, signal disagreement, numerical noise, risk-state divergence.
- **trades**, matched on entry time (the backtest's trade definition on both sides).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hrm_core.trading.backtest import BacktestResult, run_backtest
from hrm_core.jsonsafe import json_safe
from hrm_core.live.ledger import Book, Ledger, LedgerError
from hrm_core.trading.risk import apply_risk
from hrm_core.settings import Settings

SIGNAL_NOISE_TOL = 1e-5  # float32 rounding of batched vs single-window inference (measured <= 1e-7)
EXEC_TOL = 1e-12  # risk + fill + cost of the live path vs the vectorised code on the same signals
PRICE_TOL = 1e-12  # relative: a close seen live that differs by more is a revised bar


@dataclass(frozen=True)
class Reconciliation:
    book: Book
    frame: pd.DataFrame  # per bar of the period: live vs backtest columns, parts, reason
    live_trades: pd.DataFrame
    backtest_trades: pd.DataFrame
    summary: dict[str, Any]

    def differences(self) -> pd.DataFrame:
        """Bars whose reason is not 'agrees'."""
        return self.frame[self.frame["reason"] != "agrees"]

    def to_dict(self, max_rows: int = 200) -> dict[str, Any]:
        """JSON-safe: the summary, the differing bars and the matched trades."""
        diff = self.differences().head(max_rows)
        rows = [{"time": t.isoformat(), **{k: json_safe(v) for k, v in r.items()}} for t, r in
                diff[["reason", "action_live", "action_backtest", "target_live", "target_backtest",
                      "close_live", "close_backtest"]].iterrows()]
        return {**self.summary, "differences": rows, "trades": _records(self.trade_table())}

    def trade_table(self) -> pd.DataFrame:
        """Trades of both sides matched on entry time: side, size, PnL, and the gap."""
        cols = ["entry_time", "exit_time", "side", "size", "pnl_return", "open"]
        live = self.live_trades[cols].set_index("entry_time").add_suffix("_live")
        bt = self.backtest_trades[cols].set_index("entry_time").add_suffix("_backtest")
        out = live.join(bt, how="outer")
        out["pnl_gap"] = out["pnl_return_live"] - out["pnl_return_backtest"]
        out["match"] = np.where(out["side_live"].isna(), "backtest only",
                                np.where(out["side_backtest"].isna(), "live only",
                                         np.where(out["side_live"] == out["side_backtest"], "both", "side differs")))
        return out


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{"entry_time": json_safe(i), **{k: json_safe(v) for k, v in r.items()}} for i, r in df.iterrows()]


def vectorised(book: Book, raw: pd.Series, close: pd.Series, warmup_close: pd.Series, *,
               open_price: pd.Series) -> tuple[pd.Series, BacktestResult]:
    """The backtest side: apply_risk -> run_backtest with the book's settings (as evaluate.backtest_target)."""
    risk = apply_risk(raw, close, book.risk, periods_per_year=book.periods_per_year,
                      costs_bps=book.costs.total_bps, history=warmup_close, execution=book.costs.execution,
                      open_price=open_price)
    return risk.final, _backtest(book, risk.final, close, open_price)


def _backtest(book: Book, target: pd.Series, close: pd.Series, open_price: pd.Series) -> BacktestResult:
    return run_backtest(target.clip(-1.0, 1.0), close, commission_bps=book.costs.commission_bps,
                        slippage_bps=book.costs.slippage_bps, execution=book.costs.execution, open_price=open_price)


def _reference(book: Book, settings: Settings, first: pd.Timestamp, last: pd.Timestamp):
    """Full-history bars and signal table of the book's instrument, sliced to [first, last]."""
    from hrm_core.model.checkpoint import load_checkpoint
    from hrm_core.data.market import load_bars
    from hrm_core.trading.signals import generate_signals, model_fingerprint, signals_db_path

    loaded = load_checkpoint(book.model_path)
    if model_fingerprint(loaded) != book.model_id:
        raise LedgerError(f"the checkpoint at {book.model_path} is no longer {book.model_id} (retrained or replaced): "
                          "reconcile needs the model the ledger traded")
    res = load_bars(book.symbol, book.interval, path=book.csv, settings=settings)
    bars = res.bars
    sig = generate_signals(loaded, bars, symbol=book.symbol, interval=book.interval, cache=signals_db_path(settings))
    mask = (bars.index >= first) & (bars.index <= last)
    start = int(np.flatnonzero(mask)[0]) if mask.any() else 0
    warm = bars["close"].iloc[max(0, start - book.risk.vol_lookback - 1):start]
    return bars[mask], sig.table[mask], warm


def reconcile(db: str | Path, settings: Settings, *, symbol: str | None = None,
              interval: str | None = None) -> Reconciliation:
    """Match the ledger's book against the vectorised backtest over the ledger's period."""
    with Ledger(db, create=False) as ledger:
        book = ledger.find_book(symbol=symbol, interval=interval)
        led = ledger.frame(book.book_id)
        missed = ledger.missed(book.book_id)
    if led.empty:
        raise LedgerError(f"{db} holds no decided bar for {book.label}: run `hrm live` first")
    bars, table, warm = _reference(book, settings, led.index[0], led.index[-1])
    _, bt = vectorised(book, table["position"].astype(float), bars["close"], warm, open_price=bars["open"])
    exec_final, exec_bt = vectorised(book, led["raw_position"], led["close"], warm, open_price=led["open"])
    live_targets_on_bt_prices = _backtest(book, led["target"].reindex(bars.index).fillna(0.0), bars["close"],
                                          bars["open"])
    frame = _per_bar(led, bars, table, bt, live_targets_on_bt_prices, missed)
    exec_gap = max(float(np.max(np.abs(exec_final.to_numpy() - led["target"].to_numpy()))),
                   float(np.max(np.abs(exec_bt.frame["equity"].to_numpy() - led["equity"].to_numpy()))))
    live_bt = _backtest(book, led["target"], led["close"], led["open"])
    summary = _summary(book, frame, exec_gap, led, bt)
    return Reconciliation(book=book, frame=frame, live_trades=live_bt.trades, backtest_trades=bt.trades,
                          summary=summary)


def _per_bar(led: pd.DataFrame, bars: pd.DataFrame, table: pd.DataFrame, bt: BacktestResult,
             live_on_bt: BacktestResult, missed: pd.Series | None = None) -> pd.DataFrame:
    """One row per bar of the period (union of ledger and data), both sides, the PnL parts and the reason."""
    f = bt.frame
    out = pd.DataFrame(index=bars.index.union(led.index))
    out["close_live"], out["close_backtest"] = led["close"], bars["close"]
    out["action_live"], out["action_backtest"] = led["action"], table["action"]
    out["signal_live"], out["signal_backtest"] = led["raw_position"], table["position"]
    out["target_live"], out["target_backtest"] = led["target"], f["target_position"]
    out["held_live"], out["held_backtest"] = led["held"], f["position"]
    out["net_live"], out["net_backtest"] = led["net_return"], f["net_return"]
    out["equity_live"], out["equity_backtest"] = led["equity"], f["equity"]
    g_live = led["gross_return"].reindex(out.index).fillna(0.0)
    g_bt = f["gross_return"].reindex(out.index).fillna(0.0)
    g_mixed = live_on_bt.frame["gross_return"].reindex(out.index).fillna(0.0)  # live targets, backtest prices
    out["pnl_signal"] = g_mixed - g_bt
    out["pnl_fill_timing"] = g_live - g_mixed
    out["pnl_cost"] = -(led["cost"].reindex(out.index).fillna(0.0) - f["cost"].reindex(out.index).fillna(0.0))
    out["reason"] = [_reason(r) for r in out.itertuples()]
    if missed is not None and len(missed):  # bars the live process recorded as skipped: its own reason
        noted = missed.reindex(out.index)
        out["reason"] = out["reason"].where(noted.isna() | out["action_live"].notna(), noted)
    return out


def _reason(r) -> str:
    """Why a bar differs (first matching cause), or 'agrees'."""
    if pd.isna(r.action_live):
        return "missing in ledger: the live process did not decide this bar (downtime or late data)"
    if pd.isna(r.action_backtest):
        return "not in the data any more: the bar was removed after it was traded"
    if abs(r.close_live - r.close_backtest) > PRICE_TOL * abs(r.close_backtest):
        return f"revised bar: close seen live {r.close_live:.6g}, now {r.close_backtest:.6g}"
    if r.action_live != r.action_backtest:
        return f"signal differs: live {r.action_live}, backtest {r.action_backtest}"
    gap = abs(r.signal_live - r.signal_backtest)
    if gap > SIGNAL_NOISE_TOL:
        return f"signal size differs by {gap:.3g}"
    if abs(r.target_live - r.target_backtest) > max(EXEC_TOL, 2 * gap):
        return "risk layer state differs (an earlier difference carried into the vol target / drawdown brake)"
    return "agrees"  # float32 inference noise at most: counted in summary['numerical_noise_bars']


def _summary(book: Book, frame: pd.DataFrame, exec_gap: float, led: pd.DataFrame, bt: BacktestResult) -> dict:
    """The JSON head of the report: agreement, differences, and the PnL difference split."""
    both = frame["action_live"].notna() & frame["action_backtest"].notna()
    agree = (frame.loc[both, "action_live"] == frame.loc[both, "action_backtest"])
    pos_gap = (frame.loc[both, "target_live"] - frame.loc[both, "target_backtest"]).abs()
    sig_gap = (frame.loc[both, "signal_live"] - frame.loc[both, "signal_backtest"]).abs()
    noise = int(((sig_gap > EXEC_TOL) & (sig_gap <= SIGNAL_NOISE_TOL)).sum())
    parts = {k: float(frame[f"pnl_{k}"].sum()) for k in ("signal", "fill_timing", "cost")}
    total = float(frame["net_live"].fillna(0.0).sum() - frame["net_backtest"].fillna(0.0).sum())
    eq_live, eq_bt = float(led["equity"].iloc[-1]), float(bt.frame["equity"].iloc[-1])
    eq_gap = (frame["equity_live"] - frame["equity_backtest"]).abs()
    differing = frame[frame["reason"] != "agrees"]
    return {
        "book": book.label, "symbol": book.symbol, "interval": book.interval, "model": book.model_id,
        "first": frame.index[0].isoformat(), "last": frame.index[-1].isoformat(),
        "bars_ledger": int(frame["action_live"].notna().sum()),
        "bars_data": int(frame["action_backtest"].notna().sum()),
        "signal_agreement": float(agree.mean()) if len(agree) else None,
        "position_max_abs_diff": float(pos_gap.max()) if len(pos_gap) else None,
        "signal_max_abs_diff": float(sig_gap.max()) if len(sig_gap) else None,
        "numerical_noise_bars": noise,
        "fills": {"live": int((led["turnover"] > 0).sum()), "backtest": int((bt.frame["turnover"] > 0).sum()),
                  "turnover_live": float(led["turnover"].sum()),
                  "turnover_backtest": float(bt.frame["turnover"].sum())},
        "execution_parity_max_abs_diff": exec_gap,
        "equity": {"live_final": eq_live, "backtest_final": eq_bt, "gap_final": eq_live - eq_bt,
                   "max_abs_gap": float(eq_gap.max(skipna=True)) if eq_gap.notna().any() else None},
        "pnl_difference": {
            "total": total, **parts, "unit": "sum of per-bar net returns, live minus backtest",
            "explanation": {
                "signal": "gross return of the live targets minus the backtest's, both on the backtest's prices: "
                          "different positions, from different signals or a risk-layer state they carried",
                "fill_timing": "gross return of the live targets on the prices seen live minus on the backtest's "
                               "prices: the live fills used prices that were later revised, or bars it missed",
                "cost": "-(cost live - cost backtest): different turnover at the fills (next open or close, "
                        "as the book's execution setting says)",
            }},
        "bars_differing": int(len(differing)),
        "verdict": ("agrees" if differing.empty and exec_gap <= EXEC_TOL else
                    "differs: see 'differences' for each bar and its reason"),
        "tolerances": {"signal_noise": SIGNAL_NOISE_TOL, "execution": EXEC_TOL, "price_relative": PRICE_TOL},
    }


__all__ = ["EXEC_TOL", "PRICE_TOL", "Reconciliation", "SIGNAL_NOISE_TOL", "reconcile", "vectorised"]
