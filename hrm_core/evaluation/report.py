"""docs/results.md and results.json from an `Evaluation`: plain sentences, tables, settings, the seed's claims."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hrm_core.evaluation.evaluate import BOOT_SEED, CI_LEVEL, N_BOOT, Evaluation, InstrumentEvaluation, break_even_cost_bps
from hrm_core.jsonsafe import json_safe

# The seed document's figures: targets to measure against, never results (DESIGN.md).
CLAIMS: dict[str, float] = {
    "Sharpe": 2.34, "Sortino": 2.89, "Max drawdown [%]": -8.2, "Win rate [%]": 67.3, "Annual return [%]": 34.2,
}
CLAIMS_SOURCE = ("seed/hrm-trading-research-index.md: figures from a public repository whose own logs show a "
                 "losing run; instrument, period, costs and win-rate convention unstated")
CLAIMS_LABEL = "claimed, unverified"
VOL_TARGET_RULE = "vol-target B&H"  # hrm_core.evaluation.baselines.rule_baselines


# ----------------------------------------------------------------------------- the report

def _f(v: Any, spec: str = ".2f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return format(v, spec)


def _ci(m: Mapping, key: str, lo: str, hi: str, spec: str = ".2f") -> str:
    return f"{_f(m.get(key), spec)} [{_f(m.get(lo), spec)}, {_f(m.get(hi), spec)}]"


def headline(ev: Evaluation) -> list[str]:
    """Plain sentences about the primary model against buy & hold, whatever they say."""
    lines = []
    lo_s, hi_s = f"Sharpe CI {CI_LEVEL}% low", f"Sharpe CI {CI_LEVEL}% high"
    for inst in ev.instruments:
        main = inst.runs[0]
        bh = inst.run("buy & hold") if any(r.name == "buy & hold" for r in inst.runs) else None
        m = main.metrics
        s = (f"**{inst.symbol} {inst.interval}, {inst.first:%Y-%m-%d} to {inst.last:%Y-%m-%d} ({inst.n_bars} bars):** "
             f"{main.name} net Sharpe {_ci(m, 'Sharpe', lo_s, hi_s)}, annual return "
             f"{_f(m.get('Annual return [%]'), '.1f')} %, max drawdown {_f(m.get('Max drawdown [%]'), '.1f')} %, "
             f"in the market {_f(m.get('Exposure [%]'), '.0f')} % of bars")
        if bh is not None:
            s += (f"; buy & hold Sharpe {_f(bh.metrics.get('Sharpe'))}, annual return "
                  f"{_f(bh.metrics.get('Annual return [%]'), '.1f')} %")
        s += ". "
        lo, sr = m.get(lo_s, math.nan), m.get("Sharpe", math.nan)
        if not np.isfinite(sr):
            s += "The Sharpe ratio is undefined (no variation in returns: the model hardly trades). "
        elif np.isfinite(lo) and lo > 0:
            s += "The Sharpe interval excludes 0. "
        else:
            s += "The Sharpe interval includes 0: no evidence of skill on this sample. "
        vt = inst.run(VOL_TARGET_RULE) if any(r.name == VOL_TARGET_RULE for r in inst.runs) else None
        if vt is not None:
            s += (f"The simple rule a quant tries first ({VOL_TARGET_RULE}: {vt.description}) has Sharpe "
                  f"{_ci(vt.metrics, 'Sharpe', lo_s, hi_s)} and max drawdown "
                  f"{_f(vt.metrics.get('Max drawdown [%]'), '.1f')} %. ")
        for ref in (bh, vt):
            if ref is not None and np.isfinite(sr) and np.isfinite(ref.metrics.get("Sharpe", math.nan)):
                s += (f"{main.name} is " + ("above" if sr > ref.metrics["Sharpe"] else "below")
                      + f" {ref.name} in Sharpe. ")
        dsr = m.get("DSR", math.nan)
        s += (f"DSR {_f(dsr, '.2f')} with N = {int(m.get('Trials (N)', ev.n_trials))} trials and "
              f"{dsr_variance_text(inst)}: "
              + ("significant at 95 %." if np.isfinite(dsr) and dsr >= 0.95 else "not significant at 95 %."))
        ranked = sorted(((r.metrics.get("Sharpe", math.nan), r.name) for r in inst.runs
                         if np.isfinite(r.metrics.get("Sharpe", math.nan))), reverse=True)
        if len(ranked) > 1:
            s += f" Best Sharpe here: {ranked[0][1]} ({_f(ranked[0][0])})"
            models = [(v, n) for v, n in ranked if inst.run(n).kind != "rule baseline"]
            if models and models[0][1] != main.name:
                s += f"; best model: {models[0][1]} ({_f(models[0][0])}), not {main.name}"
            s += "."
        lines.append(s)
    return lines


def dsr_variance_text(inst: InstrumentEvaluation) -> str:
    """Which V the instrument's DSR used, in words (hrm_core.evaluation.evaluate.deflate)."""
    d = inst.dsr_variance
    if d.get("V") is None:
        return "V = the run's own squared Sharpe standard error (fallback: fewer than 2 trial Sharpe ratios)"
    out = (f"V = {d['V']:.2e}, the variance of the per-period Sharpe ratios of the {len(d['trials'])} trial "
           f"strategies run ({', '.join(d['trials'])})")
    if d.get("undefined"):
        out += f"; {', '.join(d['undefined'])} had no defined Sharpe ratio and were left out"
    return out


def _md_table(df: pd.DataFrame, formats: Mapping[str, str] | None = None, index_name: str | None = None) -> str:
    formats = formats or {}
    cols = list(df.columns)
    head = [index_name or (df.index.name or ""), *map(str, cols)]
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * len(head)) + "|"]
    for idx, row in df.iterrows():
        cells = [str(idx)]
        for c in cols:
            v = row[c]
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.floating, np.integer)):
                cells.append(str(v))
            elif isinstance(v, (int, np.integer)) and c not in formats:
                cells.append(str(int(v)))
            else:
                cells.append(_f(float(v), formats.get(c, ".2f")))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def _summary_table(inst: InstrumentEvaluation) -> pd.DataFrame:
    lo_s, hi_s = f"Sharpe CI {CI_LEVEL}% low", f"Sharpe CI {CI_LEVEL}% high"
    lo_a, hi_a = f"Annual return CI {CI_LEVEL}% low [%]", f"Annual return CI {CI_LEVEL}% high [%]"
    rows = {}
    for r in inst.runs:
        m = r.metrics
        rows[r.name] = {
            "kind": r.kind,
            f"Sharpe [{CI_LEVEL}% CI]": _ci(m, "Sharpe", lo_s, hi_s),
            f"Annual return % [{CI_LEVEL}% CI]": _ci(m, "Annual return [%]", lo_a, hi_a, ".1f"),
            "Sortino": _f(m.get("Sortino")), "Max DD %": _f(m.get("Max drawdown [%]"), ".1f"),
            "Calmar": _f(m.get("Calmar")), "Win/trade %": _f(m.get("Win rate per trade [%]"), ".1f"),
            "Win/period %": _f(m.get("Win rate per period [%]"), ".1f"), "Trades": _f(m.get("Trades"), ".0f"),
            "Exposure %": _f(m.get("Exposure [%]"), ".0f"), "Turnover/yr": _f(m.get("Turnover (two-way, annual)"), ".1f"),
            "PSR": _f(m.get("PSR (SR*=0)")), "DSR": _f(m.get("DSR")),
        }
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "strategy"
    return df


def claims_table(ev: Evaluation) -> pd.DataFrame:
    """The seed's figures beside the primary model's, per instrument."""
    rows = {"seed (" + CLAIMS_LABEL + ")": {
        "Sharpe": _f(CLAIMS["Sharpe"]), "Sortino": _f(CLAIMS["Sortino"]),
        "Max drawdown %": _f(CLAIMS["Max drawdown [%]"], ".1f"), "Win rate %": _f(CLAIMS["Win rate [%]"], ".1f"),
        "Annual return %": _f(CLAIMS["Annual return [%]"], ".1f")}}
    for inst in ev.instruments:
        m = inst.runs[0].metrics
        rows[f"{inst.runs[0].name} on {inst.symbol} (measured)"] = {
            "Sharpe": _f(m.get("Sharpe")), "Sortino": _f(m.get("Sortino")),
            "Max drawdown %": _f(m.get("Max drawdown [%]"), ".1f"),
            "Win rate %": f"{_f(m.get('Win rate per trade [%]'), '.1f')} per trade / "
                          f"{_f(m.get('Win rate per period [%]'), '.1f')} per period",
            "Annual return %": _f(m.get("Annual return [%]"), ".1f")}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "source"
    return df


def _relative(path: str) -> str:
    """A path under the project root as a relative path (reports stay portable)."""
    from hrm_core.settings import PROJECT_ROOT

    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except (ValueError, OSError):
        return path


def _periods_text(p: Mapping) -> str:
    parts = [f"{k} {v[0]}..{v[1]}" for k, v in p.items() if isinstance(v, (list, tuple)) and len(v) == 2]
    if "purge_bars" in p:
        parts.append(f"purge {p['purge_bars']} bars")
    return ", ".join(parts)


def settings_facts(ev: Evaluation) -> dict:
    s = ev.settings
    return {
        "settings file": _relative(s.source),
        "interval": ev.interval,
        "evaluation period": {"label": ev.period.label, "start": ev.period.start, "end": ev.period.end,
                              "rule": "bars wholly inside [start, end]"},
        "checkpoint periods": {k: _periods_text(v.get("periods") or {}) for k, v in ev.models.items()},
        "costs": {"commission_bps": ev.costs.commission_bps, "slippage_bps": ev.costs.slippage_bps,
                  "total_bps_per_unit_turnover": ev.costs.total_bps, "execution": ev.costs.execution},
        "annualisation": {inst.symbol: inst.periods_per_year for inst in ev.instruments},
        "risk": {"max_abs_position": s.risk.max_abs_position, "vol_target_annual": s.risk.vol_target_annual,
                 "vol_lookback": s.risk.vol_lookback, "drawdown_brake": s.risk.drawdown_brake,
                 "drawdown_brake_scale": s.risk.drawdown_brake_scale},
        "risk-free rate": 0.0,
        "bootstrap": {"method": "stationary (Politis & Romano 1994), percentile interval", "replications": N_BOOT,
                      "mean block": "n^(1/3) bars", "seed": BOOT_SEED, "level": f"{CI_LEVEL} %"},
        "position rule": {**{k: v.get("position rule") for k, v in ev.models.items()},
                          "non-finite output": "flat"},
        "timing": execution_text(ev.costs.execution),
        "DSR trials": {"N": ev.n_trials, "extra declared": ev.extra_trials, "source": ev.trials_source,
                       "rule": "N = the trials registered for this period in the trial registry (every strategy "
                               "tried, each configuration on each instrument), or every (model, instrument) "
                               "backtest here plus declared extra trials if more (an entry counts on every period "
                               "that overlaps its own); V = the variance (ddof = 1) of the per-period Sharpe ratios "
                               "of the trial strategies run on the instrument and period (the registered "
                               "checkpoints in models/ and the logistic regression), the run's own squared Sharpe "
                               "standard error only with fewer than 2; rule baselines are references, not trials"},
    }


def execution_text(execution: str) -> str:
    """The fill convention in words (hrm_core.trading.backtest), for the report and its JSON."""
    if execution == "close":
        return ("market-on-close: a position decided at the close of bar t is filled at that close and earns "
                "bar t+1's close-to-close return; costs at that close")
    return ("next-bar open: a position decided at the close of bar t is filled at the open of bar t+1 (earning "
            "open(t+1) -> close(t+1) on that bar, while the previous position earns the gap close(t) -> "
            "open(t+1)); costs per unit of turnover at that open")


def _skill_json(skill: Mapping | None) -> Any:
    if skill is None:
        return None
    return {k: ([json_safe(x) for x in v] if isinstance(v, list) else json_safe(v) if not isinstance(v, dict) else v)
            for k, v in skill.items()}


def skill_table(inst: InstrumentEvaluation) -> pd.DataFrame | None:
    """Per model: log-loss and accuracy against the constant class-frequency predictor, with intervals."""
    rows = {}
    for r in inst.runs:
        k = r.skill
        if not k:
            continue
        if "unavailable" in k:
            rows[r.name] = {"verdict": f"not computed: {k['unavailable']}"}
            continue
        lo, hi = k["logloss_diff_ci"]
        alo, ahi = k["accuracy_diff_ci"]
        rows[r.name] = {
            "windows": str(k["n"]), "log-loss": _f(k["logloss"], ".4f"), "constant": _f(k["logloss_constant"], ".4f"),
            f"difference [{CI_LEVEL}% CI]": f"{k['logloss_diff']:+.4f} [{lo:+.4f}, {hi:+.4f}]",
            "accuracy": _f(k["accuracy"], ".3f"), "majority rate": _f(k["majority_rate"], ".3f"),
            f"accuracy - constant [{CI_LEVEL}% CI]": f"{k['accuracy_diff']:+.3f} [{alo:+.3f}, {ahi:+.3f}]",
            "commonest argmax class": f"{100 * k['share_of_commonest_action']:.0f} %", "verdict": k["verdict"]}
    if not rows:
        return None
    df = pd.DataFrame.from_dict(rows, orient="index").fillna("")
    df.index.name = "model"
    return df


def instrument_json(inst: InstrumentEvaluation) -> dict:
    """One instrument's strategies, metrics, break-even costs and regime tables, JSON-safe."""
    return {
        "symbol": inst.symbol, "interval": inst.interval, "source": inst.source,
        "period": {"label": inst.period.label, "start": inst.period.start, "end": inst.period.end},
        "first": inst.first.isoformat(), "last": inst.last.isoformat(), "bars": inst.n_bars,
        "periods_per_year": inst.periods_per_year, "notes": list(inst.notes),
        "dsr_trials": {"N": next((int(r.metrics["Trials (N)"]) for r in inst.runs if r.kind != "rule baseline"), None),
                       "source": inst.trials_source,
                       "V": json_safe(inst.dsr_variance.get("V")), "V_method": inst.dsr_variance.get("method"),
                       "V_undefined": inst.dsr_variance.get("undefined", []),
                       "V_trials": {k: json_safe(v) for k, v in inst.trial_sharpes.items()}},
        "strategies": [{"name": r.name, "kind": r.kind, "description": r.description,
                        "model_id": r.signals.model_id if r.signals else None,
                        "signals": ({k: json_safe(v) for k, v in r.signals.summary().items()
                                     if k in ("signals", "warmup", "nonfinite", "mean_steps")}
                                    if r.signals else None),
                        "costs_bps": {"commission": r.backtest.commission_bps, "slippage": r.backtest.slippage_bps},
                        "execution": r.backtest.execution,
                        "break_even_cost_bps": json_safe(break_even_cost_bps(r.backtest)),
                        "skill_vs_constant_predictor": _skill_json(r.skill),
                        "metrics": json_safe(r.metrics)} for r in inst.runs],
        "regimes": {inst.runs[0].name: json_safe(inst.regime_table().to_dict(orient="index"))},
        "regime_sharpes": {k: json_safe(v) for k, v in inst.regime_sharpes().to_dict(orient="index").items()},
    }


def to_json(ev: Evaluation) -> dict:
    """Everything in the markdown report, machine-readable (NaN -> null)."""
    out = {
        "created": ev.created, "primary_model": ev.primary, "elapsed_s": round(ev.elapsed_s, 1),
        "settings": settings_facts(ev), "models": ev.models,
        "claims": {"label": CLAIMS_LABEL, "source": CLAIMS_SOURCE, **CLAIMS},
        "headline": headline(ev), "instruments": [],
    }
    out["instruments"] = [instrument_json(inst) for inst in ev.instruments]
    return out


# Facts that only a hierarchical model has: the flat transformer has no cycles and no ACT.
_HRM_ONLY = ("N (h_cycles)", "T (l_cycles)", "max_segments", "act")


def _model_row(facts: Mapping) -> dict:
    """One row of the Models table: nested values as text; N, T, segments and ACT as 'n/a' for a flat model."""
    row = {k: (str(v) if isinstance(v, (dict, list)) else v)
           for k, v in facts.items() if k not in ("periods", "instruments", "path")}
    if facts.get("arch") == "flat":
        row.update({k: "n/a" for k in _HRM_ONLY if k in row})
    return row


def render_markdown(ev: Evaluation, *, command: str = "hrm evaluate") -> str:
    """docs/results.md: headline, claims beside measurements, tables per instrument, regimes, settings."""
    f = settings_facts(ev)
    L = ["# HRM Trader: evaluation results", "",
         f"Written by `{command}` on {ev.created} in {ev.elapsed_s:.0f} s. Every number below is net of costs "
         f"and computed by `hrm_core` (signals -> risk layer -> backtest -> metrics); regenerate with the same command.",
         "", "## Headline", ""]
    if ev.primary is None:
        L += ["No trained model was found: only the rule baselines are reported.", ""]
    L += [f"- {s}" for s in headline(ev)]
    L += ["", f"Evaluated on the **{ev.period.label}** ({ev.period.start or 'first bar'} to "
          f"{ev.period.end or 'last bar'}), interval {ev.interval}, costs "
          f"{ev.costs.commission_bps:g} bps commission + {ev.costs.slippage_bps:g} bps slippage per unit of turnover. "
          f"Execution: {execution_text(ev.costs.execution)}.",
          ""]
    for inst in ev.instruments:
        for note in inst.notes:
            L += [f"> **Note ({inst.symbol}):** {note}.", ""]
    L += ["## The seed's figures beside ours", "",
          f"The seed document's figures are **{CLAIMS_LABEL}** ({CLAIMS_SOURCE}). They are targets, not results.",
          "", _md_table(claims_table(ev)), ""]
    for inst in ev.instruments:
        L += [f"## {inst.symbol} {inst.interval}", "",
              f"{inst.first:%Y-%m-%d} to {inst.last:%Y-%m-%d}, {inst.n_bars} bars, data: {inst.source}; "
              f"annualisation P = {inst.periods_per_year:g} bars per year.", "",
              _md_table(_summary_table(inst)), ""]
        be = {r.name: break_even_cost_bps(r.backtest) for r in inst.runs}
        L += ["Break-even total cost (bps per unit of turnover at which the net compounded return over the "
              "period is 0; 0 = loses even without costs): "
              + ", ".join(f"{k} {_f(v, '.1f')}" for k, v in be.items()) + ".", ""]
        skill = skill_table(inst)
        if skill is not None:
            L += ["### Skill against the constant class-frequency predictor", "",
                  "Log-loss and accuracy of each model's class probabilities on the evaluated period's labelled "
                  "windows (purged at the period's end), paired per window with the constant predictor that "
                  "outputs this series' training-period class frequencies (accuracy: always its majority class); "
                  "stationary block bootstrap (mean block >= the label horizon). Negative log-loss difference = "
                  "better than the constant predictor (`hrm_core/training/skill.py`).", "",
                  _md_table(skill), ""]
        main = inst.runs[0]
        L += [f"### Regimes ({main.name}, against buy & hold of {inst.symbol})", "",
              "Each bar's return is grouped by the regime known at the close where its position was decided "
              "(causal rules: high_vol > bear > bull > sideways; see `hrm_core/evaluation/regimes.py`).", "",
              _md_table(inst.regime_table(), {"Bars": ".0f", "Share [%]": ".1f"}), "", "Sharpe by regime, every strategy:", "",
              _md_table(inst.regime_sharpes()), ""]
    L += ["## Models", ""]
    if ev.models:
        mt = pd.DataFrame.from_dict({k: _model_row(v) for k, v in ev.models.items()}, orient="index")
        mt.index.name = "model"
        L += [_md_table(mt, {"parameters": ".0f"}), ""]
    else:
        L += ["None found in models/.", ""]
    L += ["## Settings", "", "```json", json.dumps(f, indent=2, default=str), "```", "",
          "## Definitions", "",
          "Sharpe and annual return intervals: stationary bootstrap, percentile. Win rate per trade counts closed "
          "trades; per period counts non-zero return bars. DSR deflates the Sharpe ratio for the N trials stated "
          "above (Bailey & Lopez de Prado 2014). Full definitions: `hrm_core/trading/metrics.py` METRIC_DEFINITIONS and "
          "shared REFERENCE.md.", ""]
    return "\n".join(L)


def write_report(ev: Evaluation, out_md: str | Path, out_json: str | Path | None = None, *,
                 command: str = "hrm evaluate") -> tuple[Path, Path]:
    """Write the markdown report and its JSON twin (default: same name, .json)."""
    md = Path(out_md)
    js = Path(out_json) if out_json is not None else md.with_suffix(".json")
    md.parent.mkdir(parents=True, exist_ok=True)
    kept = _sections(md.read_text()) if md.exists() else {}
    md.write_text(render_markdown(ev, command=command) + "".join(f"\n{block}\n" for block in kept.values()))
    js.write_text(json.dumps(to_json(ev), indent=2, default=str, allow_nan=False))
    return md, js


# Sections that other commands (hrm explain, hrm diagnose) write into docs/results.md survive
# a new `hrm evaluate`: each sits between <!-- BEGIN name --> and <!-- END name -->.
_SECTION = re.compile(r"<!-- BEGIN (?P<name>[\w-]+) -->.*?<!-- END (?P=name) -->", re.S)


def _sections(text: str) -> dict[str, str]:
    return {m["name"]: m[0] for m in _SECTION.finditer(text)}


def update_section(md_path: str | Path, name: str, markdown: str) -> Path:
    """Replace (or append) the named section of a markdown report, leaving the rest untouched."""
    md = Path(md_path)
    text = md.read_text() if md.exists() else ""
    block = f"<!-- BEGIN {name} -->\n{markdown.strip()}\n<!-- END {name} -->"
    old = _sections(text).get(name)
    text = text.replace(old, block) if old else text.rstrip() + ("\n\n" if text else "") + block + "\n"
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(text)
    return md
