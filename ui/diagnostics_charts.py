"""Plotly figures of the Diagnostics page (presentation only: every number comes from hrm_core.reasoning.diagnostics)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.charts import _frame

H_COLOUR, L_COLOUR, BAND = "#1f77b4", "#ff7f0e", "rgba(31,119,180,0.18)"
BAND_L = "rgba(255,127,14,0.18)"


def _segment_marks(fig: go.Figure, n_steps: int, per_segment: int, steps_run: int | None, **where) -> None:
    """Dotted lines between segments; grey shading over the segments the decision did not run."""
    for s in range(1, n_steps // per_segment):
        fig.add_vline(x=s * per_segment - 0.5, line=dict(dash="dot", width=1, color="grey"), **where)
    if steps_run is not None and steps_run * per_segment < n_steps:
        fig.add_vrect(x0=steps_run * per_segment - 0.5, x1=n_steps - 0.5, fillcolor="rgba(128,128,128,0.15)",
                      line_width=0, annotation_text="not run (the model stopped)", annotation_position="top left",
                      **where)


def residuals_one_decision(view: Mapping) -> go.Figure:
    """L residual per L step and H residual per H update of one decision, side by side, log scale."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("z_L: ||dz|| / ||z|| per L step",
                                                        "z_H: ||dz|| / ||z|| per H update"))
    for col, (key, names, per, colour) in enumerate(
            (("l_residuals", view["l_steps"], view["l_per_segment"], L_COLOUR),
             ("h_residuals", view["h_steps"], view["h_per_segment"], H_COLOUR)), start=1):
        fig.add_trace(go.Scatter(x=list(range(len(names))), y=view[key], mode="lines+markers", showlegend=False,
                                 line=dict(color=colour), text=names, hovertemplate="%{text}: %{y:.4f}<extra></extra>"),
                      row=1, col=col)
        fig.update_xaxes(tickvals=list(range(len(names))), ticktext=names, tickangle=-60, row=1, col=col)
        _segment_marks(fig, len(names), per, view["steps"], row=1, col=col)
    fig.update_yaxes(type="log", title_text="relative change", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    return _frame(fig, f"Forward residuals of the decision at {view['time'][:10]} (all segments)", 380)


def residual_bands(bands: Mapping, names: Mapping[str, Sequence[str]], per_segment: Mapping[str, int],
                   title: str) -> go.Figure:
    """Median and 10-90 % band over the period's decisions, L and H side by side, log scale."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("z_L per L step", "z_H per H update"))
    for col, (mod, colour, fill) in enumerate((("l", L_COLOUR, BAND_L), ("h", H_COLOUR, BAND)), start=1):
        b, x = bands[mod], list(range(len(names[mod])))
        fig.add_trace(go.Scatter(x=x, y=b["p90"], mode="lines", line=dict(width=0), showlegend=False,
                                 hoverinfo="skip"), row=1, col=col)
        fig.add_trace(go.Scatter(x=x, y=b["p10"], mode="lines", fill="tonexty", fillcolor=fill, line=dict(width=0),
                                 name=f"{mod.upper()} 10-90 %", hoverinfo="skip"), row=1, col=col)
        fig.add_trace(go.Scatter(x=x, y=b["median"], mode="lines+markers", line=dict(color=colour),
                                 name=f"{mod.upper()} median", text=[f"{n}: {100 * r:.0f} % of decisions ran it"
                                                                     for n, r in zip(names[mod], b["running"])],
                                 hovertemplate="%{text}<br>median %{y:.4f}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(tickvals=x, ticktext=list(names[mod]), tickangle=-60, row=1, col=col)
        _segment_marks(fig, len(x), per_segment[mod], None, row=1, col=col)
        fig.update_yaxes(type="log", row=1, col=col)
    return _frame(fig, title, 380)


def trajectories(pca: Mapping) -> go.Figure:
    """2-D PCA paths of z_H and z_L (summary token) through one decision, from the initial state."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=[
        f"z_{m.upper()} (PC1 {100 * pca[m]['explained'][0]:.0f} %, PC2 {100 * pca[m]['explained'][1]:.0f} %)"
        for m in ("h", "l")])
    for col, (m, colour) in enumerate((("h", H_COLOUR), ("l", L_COLOUR)), start=1):
        p = pca[m]
        fig.add_trace(go.Scatter(x=p["x"], y=p["y"], mode="lines+markers", name=f"z_{m.upper()}",
                                 line=dict(color=colour), text=p["labels"],
                                 marker=dict(size=np.linspace(6, 13, len(p["x"])).tolist()),
                                 hovertemplate="%{text}<extra></extra>"), row=1, col=col)
        if p["x"]:
            fig.add_annotation(x=p["x"][0], y=p["y"][0], text=p["labels"][0], showarrow=True, row=1, col=col)
        fig.update_xaxes(title_text="PC1", row=1, col=col)
        fig.update_yaxes(title_text="PC2", row=1, col=col)
    return _frame(fig, "PCA trajectory of the summary states through the decision", 380)


def rate_bars(groups: Mapping[str, Mapping], title: str, seed_rate: float | None = None) -> go.Figure:
    """Share converged per group (regime, action), with the group size in the hover and the seed's claim as a line."""
    names = list(groups)
    fig = go.Figure(go.Bar(x=names, y=[100 * groups[g]["rate"] for g in names],
                           text=[f"n={groups[g]['n']}" for g in names], textposition="outside",
                           marker_color=H_COLOUR, name="converged"))
    if seed_rate is not None:
        fig.add_hline(y=100 * seed_rate, line=dict(dash="dash", color="grey"),
                      annotation_text=f"seed claim {100 * seed_rate:.1f} % (unverified)")
    fig.update_yaxes(title_text="converged [%]", range=[0, 110])
    return _frame(fig, title, 320)


def depth_histogram(hist: Mapping[str, int], seed_mean: float | None = None) -> go.Figure:
    """Decisions per number of segments used, with the seed's claimed mean depth."""
    fig = go.Figure(go.Bar(x=[int(k) for k in hist], y=list(hist.values()), marker_color=H_COLOUR,
                           name="decisions"))
    if seed_mean is not None:
        fig.add_vline(x=seed_mean, line=dict(dash="dash", color="grey"),
                      annotation_text=f"seed claim: mean {seed_mean} (unverified)")
    fig.update_xaxes(title_text="segments used", dtick=1, range=[0.5, len(hist) + 0.5])
    fig.update_yaxes(title_text="decisions")
    return _frame(fig, "Reasoning depth (ACT segments) over the period", 320)


def depth_vs_volatility(per_decision: Mapping, corr: Mapping) -> go.Figure:
    """Segments used against realised volatility, one point per decision (depth jittered so ties show)."""
    vol = np.asarray(per_decision["volatility"], dtype=float)
    depth = np.asarray(per_decision["steps"], dtype=float)
    jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(depth))
    fig = go.Figure(go.Scattergl(x=100 * vol, y=depth + jitter, mode="markers", marker=dict(size=5, opacity=0.5),
                                 text=[t[:10] for t in per_decision["time"]], name="decision",
                                 hovertemplate="%{text}: vol %{x:.1f} %, depth %{y:.0f}<extra></extra>"))
    value = corr.get("value")
    label = (f"Spearman {value:.2f} [{corr['ci'][0]:.2f}, {corr['ci'][1]:.2f}]" if value is not None
             else f"correlation {corr.get('note') or 'undefined'}")
    fig.add_annotation(text=label, xref="paper", yref="paper", x=0, y=1.02, showarrow=False, xanchor="left",
                       yanchor="bottom")
    fig.update_xaxes(title_text="realised volatility, 20 bars, annualised [%]")
    fig.update_yaxes(title_text="segments used", dtick=1)
    fig = _frame(fig, "Depth vs realised volatility", 340)
    fig.update_layout(margin=dict(t=70))
    return fig


def pr_bars(rows: Sequence[Mapping]) -> go.Figure:
    """PR of z_H and z_L per model with bootstrap intervals (models without loops left out)."""
    fig = go.Figure()
    rows = [r for r in rows if r.get("applicable")]
    for key, name, colour in (("participation_ratio_h", "PR_H", H_COLOUR), ("participation_ratio_l", "PR_L", L_COLOUR)):
        vals = [r[key]["value"] for r in rows]
        lo = [v - r[key]["ci"][0] if v is not None and r[key]["ci"][0] is not None else 0 for v, r in zip(vals, rows)]
        hi = [r[key]["ci"][1] - v if v is not None and r[key]["ci"][1] is not None else 0 for v, r in zip(vals, rows)]
        fig.add_trace(go.Bar(x=[r["model"] for r in rows], y=vals, name=name, marker_color=colour,
                             error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo)))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="participation ratio (effective dimensions)")
    return _frame(fig, "Participation ratio of the final summary states, 95 % bootstrap intervals", 340)


def model_bars(rows: Sequence[Mapping], seed: Mapping) -> go.Figure:
    """Convergence rate and mean depth per model, beside the seed's claims."""
    rows = [r for r in rows if r.get("applicable")]
    names = [r["model"] for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Convergence rate as run [%]", "Mean segments used"))
    fig.add_trace(go.Bar(x=names, y=[100 * r["convergence_rate"] for r in rows], marker_color=H_COLOUR,
                         name="convergence"), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[r["mean_segments"] for r in rows], marker_color=L_COLOUR, name="depth"),
                  row=1, col=2)
    fig.add_hline(y=100 * seed["convergence_rate"], line=dict(dash="dash", color="grey"), row=1, col=1,
                  annotation_text="seed claim (unverified)")
    fig.add_hline(y=seed["mean_segments"], line=dict(dash="dash", color="grey"), row=1, col=2,
                  annotation_text="seed claim (unverified)")
    return _frame(fig, "Every checkpoint in models/ on the same bars and period", 340)
