"""The stakeholder report: one self-contained HTML file that opens offline.

Charts are static PNGs drawn with matplotlib's object API (no pyplot state, safe in a server)
and embedded as data: URIs, so the file has no script, no CDN and no external URL at all.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from explain.explanation import Explanation
from explain.words import FEATURE_WORDS, TARGETS, depth_note

SECTIONS = ("summary", "model-card", "decision", "window", "module", "cycles", "features", "counterfactual", "similar",
            "stability", "completeness", "caveats")
COLOURS = {"short": "#d62728", "flat": "#7f7f7f", "long": "#2ca02c", "H": "#1f77b4", "L": "#ff7f0e"}


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    return f'<img alt="chart" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _window_chart(ex: Explanation) -> str:
    w = ex.window
    fig = Figure(figsize=(9, 3.2))
    ax = fig.add_subplot()
    ax.vlines(w.index, w["low"], w["high"], color="#999999", linewidth=1)
    ax.plot(w.index, w["close"], color="black", linewidth=1.2, label="close")
    colour = COLOURS[ex.decision["action"]]
    ax.scatter([w.index[-1]], [w["close"].iloc[-1]], s=120, color=colour, zorder=3,
               label=f"decision: {ex.decision['action']} {ex.decision['position']:+.2f}")
    # parse_math=False: a file name may hold "$...$", which matplotlib would read as (broken) mathtext
    ax.set_title(f"{ex.symbol} {ex.interval}: the {len(w)}-bar window the model read", parse_math=False)
    ax.legend(loc="upper left")
    fig.autofmt_xdate()
    return _png(fig)


def _module_chart(ex: Explanation) -> str:
    m = ex.module
    fig = Figure(figsize=(6, 2.4))
    ax = fig.add_subplot()
    ax.barh(["L (tactical, z_L)", "H (strategic, z_H)"], [m.l, m.h], color=[COLOURS["L"], COLOURS["H"]])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"attribution to {ex.target} (output units)")
    ax.set_title(f"H share {100 * m.h_share:.0f} %, L share {100 * m.l_share:.0f} %")
    return _png(fig)


def _cycles_chart(ex: Explanation) -> str:
    steps = ex.cycles["steps"]
    idx = [s["index"] + 1 for s in steps]
    fig = Figure(figsize=(9, 3))
    ax, ax2 = fig.subplots(1, 2)
    for k in ("short", "flat", "long"):
        ax.plot(idx, [s[f"p_{k}"] for s in steps], marker="o", color=COLOURS[k], label=k)
    ax.set_xticks(idx)
    ax.set_xlabel("H cycle (over segments)")
    ax.set_ylabel("probability (probe)")
    ax.set_title("Probe: heads read after each cycle")
    ax.legend()
    ax2.bar(idx, [s["attribution"] for s in steps], color=COLOURS["H"])
    ax2.set_xticks(idx)
    ax2.set_xlabel("H cycle")
    ax2.set_title("Attribution through z_H after each cycle")
    return _png(fig)


def _feature_charts(ex: Explanation) -> str:
    grid = ex.features["attributions"]
    z = grid.to_numpy().T  # features x bars
    lim = float(np.abs(z).max()) or 1.0
    fig = Figure(figsize=(10, 4.6))
    ax = fig.add_subplot()
    im = ax.imshow(z, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_yticks(range(len(grid.columns)), [FEATURE_WORDS.get(c, c) for c in grid.columns], fontsize=8)
    ticks = np.linspace(0, len(grid) - 1, 8).astype(int)
    ax.set_xticks(ticks, [f"{grid.index[i]:%Y-%m-%d}" for i in ticks], fontsize=8, rotation=30)
    ax.set_title("Feature x time attribution (red pushes toward the target, blue against)")
    fig.colorbar(im, ax=ax, fraction=0.025)
    per = ex.features["per_feature"].sort_values(key=np.abs)
    fig2 = Figure(figsize=(6, 4))
    ax2 = fig2.add_subplot()
    ax2.barh([FEATURE_WORDS.get(c, c) for c in per.index], per.to_numpy(),
             color=["#d62728" if v > 0 else "#1f77b4" for v in per.to_numpy()])
    ax2.set_title("Per feature (summed over the window)")
    return _png(fig) + _png(fig2)


def _table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows) + "</table>"


def _pct(v) -> str:
    return "n/a" if v is None else f"{100 * v:.3f} %"


def render_html(ex: Explanation, loaded, *, data_badge: str = "") -> str:
    """The report as one HTML string (see SECTIONS)."""
    d, m, f = ex.decision, ex.module, ex.features
    e = html.escape
    periods = loaded.periods or {}
    card = _table([("model", f"{ex.model_name} ({ex.model_id})"), ("architecture", ex.arch),
                   ("parameters", f"{sum(p.numel() for p in loaded.model.parameters()):,}"),
                   ("instruments known", ", ".join(loaded.instruments)), ("intervals", ", ".join(loaded.intervals)),
                   *((f"{k} period", " .. ".join(map(str, v))) for k, v in periods.items() if isinstance(v, list)),
                   ("training command", str(loaded.command or "n/a")), ("data", data_badge or "n/a")])
    decision = _table([("time (bar close)", d["time"]), ("action", d["action"]), ("position", f"{d['position']:+.3f}"),
                       ("probabilities short / flat / long", f"{d['p_short']:.3f} / {d['p_flat']:.3f} / {d['p_long']:.3f}"),
                       ("the rule", ex.gate.get("text", "argmax rule")),
                       ("margin over the no-trade band", "n/a" if d.get("margin") is None else f"{d['margin']:+.4f}"),
                       (f"value head ({d['value_head']['horizon_bars']}-bar forward return, uncalibrated)",
                        f"{d['value_head']['value']:+.5f}"),
                       ("reasoning segments used (ACT)", str(d["steps"])),
                       *((("at full depth", depth_note(d)),) if depth_note(d) else ()),
                       ("attributed target", TARGETS[ex.target]), ("baseline", f"{ex.baseline}"),
                       ("integration steps", str(ex.n_steps))])
    if m.applicable:
        module = (_module_chart(ex) + _table([("A_H (strategic context carried in)", f"{m.h:+.5f}"),
                                              ("A_L (last cycle's tactical computation)", f"{m.l:+.5f}"),
                                              ("F(x) - F(baseline)", f"{m.f_input - m.f_baseline:+.5f}"),
                                              ("signed shares of the move", f"H {m.h_share:+.0%}, L {m.l_share:+.0%} "
                                               f"({m.lead or 'not measurable'})")]))
        cycles = f"<p>{e(ex.cycles['label'][0].upper() + ex.cycles['label'][1:])}.</p>" + _cycles_chart(ex)
    else:
        module = f"<p>{e(m.note)}.</p>"
        cycles = f"<p>{e(ex.cycles['note'])}.</p>"
    rc = f.get("ranking_change")
    ranking = (f"<p>Compared with the {e(str(f['compared_with']))} baseline: rank correlation {rc['spearman']:.2f}, "
               f"{rc['top_k_overlap']} of the top {rc['top_k']} inputs shared, largest rank move {rc['max_rank_move']}."
               "</p>") if rc else ""
    tops = "<ol>" + "".join(f"<li>{e(t['words'])}: {t['attribution']:+.4f} ({t['direction']})</li>"
                            for t in f["top_features"]) + "</ol>"
    compl = [("module (H + L)", _pct(m.completeness_delta) if m.applicable else "not applicable"),
             (f"features ({ex.baseline} baseline)", _pct(f["completeness_delta"])),
             *((f"features ({k} baseline)", _pct(v["completeness_delta"])) for k, v in f["by_baseline"].items()
               if k != ex.baseline),
             *((f"cycle {s['index'] + 1}", _pct(s["attribution_completeness_delta"])) for s in ex.cycles["steps"])]
    body = {
        "summary": f"<p class='lead'>{e(ex.summary)}</p>",
        "model-card": card,
        "decision": decision,
        "window": _window_chart(ex),
        "module": module,
        "cycles": cycles,
        "features": _feature_charts(ex) + tops + ranking,
        "completeness": ("<p>Integrated gradients should add up to F(x) - F(baseline); the delta is the error, as a "
                         "fraction of that difference (under 1 % is good).</p>" + _table(compl)),
        "counterfactual": "<ul>" + "".join(f"<li>{e(c['text'])}</li>" for c in ex.counterfactual) + "</ul>",
        "similar": (f"<p>{e(ex.similar.get('note', 'not available'))}.</p>" + _table(
            [(it["time"][:10], f"{it['action']} {it['position']:+.2f}; then {100 * it['forward_return']:+.2f} %, model "
                               f"{100 * it['model_pnl']:+.3f} %") for it in ex.similar.get("items", [])])),
        "stability": f"<p>{e(ex.stability.get('text') or ex.stability.get('note', 'n/a'))}.</p>",
        "caveats": "<ul>" + "".join(f"<li>{e(c)}</li>" for c in ex.caveats) + "</ul>",
    }
    titles = {"summary": "Summary", "model-card": "Model card", "decision": "The decision", "window": "The window",
              "module": "Strategic (H) vs tactical (L)", "cycles": "How the decision formed, cycle by cycle",
              "features": "Which inputs, at which bars", "completeness": "Completeness check",
              "counterfactual": "What would change the decision", "similar": "Similar situations (training years)",
              "stability": "Stability across seeds", "caveats": "Caveats"}
    sections = "".join(f"<section id='{k}'><h2>{titles[k]}</h2>{body[k]}</section>" for k in SECTIONS)
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}"
             "img{max-width:100%}.lead{font-size:1.15em}")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Why {e(ex.model_name)} went "
            f"{e(d['action'])} on {e(ex.symbol)} at {d['time'][:10]}</title><style>{style}</style></head><body>"
            f"<h1>Why {e(ex.model_name)} went {e(d['action'])} on {e(ex.symbol)} {e(ex.interval)} at "
            f"{d['time'][:16]}</h1>{sections}<footer><p>Generated by HRM Trader (explain/report.py). Research "
            "tool, not investment advice.</p></footer></body></html>")


def write_html(ex: Explanation, loaded, path: str | Path, *, data_badge: str = "") -> Path:
    """Write the report to `path` (parent folders created)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_html(ex, loaded, data_badge=data_badge), encoding="utf-8")
    return p
