"""Model health: status with reasons, latency, feature and prediction drift, fallbacks, alert history."""
import json

import pandas as pd
import streamlit as st

from hrm_core.live.monitor import PSI_BINS
from ui import live_charts, loaders
from ui.guard import guard
from ui.guide import how_to_read
from ui.state import settings

KEY = "health."  # session-state namespace of this page
REFRESH = "30s"
ICONS = {"green": ":material/check_circle:", "amber": ":material/warning:", "red": ":material/error:"}

st.title("Model health")
how_to_read("Is the paper-trading model still fit to use? **Green** = fine, **amber** = look at it, **red** = "
            "stop and check. *Latency* is the time per decision in milliseconds (p95: 95 % of decisions were "
            "faster). *Drift* asks whether today's market inputs and the model's outputs still look like the "
            f"period it was trained on: PSI (population stability index) below {settings().health.psi_amber:g} is "
            f"stable, above {settings().health.psi_red:g} is a large shift. Hover a figure for its definition.")
db, book = live_charts.open_book(KEY)
h = settings().health


@st.fragment(run_every=REFRESH)
def panels() -> None:
    """Status, latency, drift and alerts, re-read from the ledger in place."""
    with guard(f"check the health of {book.label}"):
        rep = loaders.health_report(db, book.symbol, book.interval)
        show = {"green": st.success, "amber": st.warning, "red": st.error}[rep.status]
        show(f"**{rep.status.upper()}** ({rep.decisions} decisions): " + " ".join(f"- {r}" for r in rep.reasons),
             icon=ICONS[rep.status])
        checks = pd.DataFrame([{"check": c.name, "status": c.status, "detail": c.detail} for c in rep.checks])
        st.dataframe(checks.set_index("check"), width="stretch", key=KEY + "checks")
        st.caption(f"Thresholds from `{settings().source}` [health]: PSI {h.psi_amber:g} amber / {h.psi_red:g} red "
                   f"with KS p < {h.ks_alpha:g}; latency p95 {h.latency_p95_amber_ms:g} / {h.latency_p95_red_ms:g} "
                   f"ms; drift alerts from {h.min_drift_bars} decisions. `hrm health` exits 0 / 1 / 2.")

        st.subheader("Latency")
        lat = rep.latency
        c = st.columns(3)
        for col, q in zip(c, (50, 95, 99)):
            v = lat.get(f"decision_p{q}")
            col.metric(f"Decision p{q}", "n/a" if v is None else f"{v:.1f} ms",
                       help=f"{q} % of decisions took at most this long (model + features + risk, per bar).")
        st.plotly_chart(live_charts.latency_histogram(rep.history["latency_ms"], "Decision latency"),
                        width="stretch", key=KEY + "latency")

        st.subheader("Feature drift")
        st.caption(f"Live features vs the {rep.references['features'][0]} .. {rep.references['features'][1]} "
                   f"reference (the model's training period unless chosen otherwise). PSI over {PSI_BINS} "
                   "reference-decile bins (outer edges at +-inf, shares floored at 1e-4); KS = scipy ks_2samp.")
        st.plotly_chart(live_charts.psi_bars(rep.feature_drift, h.psi_amber, h.psi_red, "PSI per feature"),
                        width="stretch", key=KEY + "psi")
        st.dataframe(rep.feature_drift, width="stretch", key=KEY + "features")

        st.subheader("Prediction drift")
        st.caption(f"Action mix, confidence and ACT depth vs the signal table over "
                   f"{rep.references['predictions'][0]} .. {rep.references['predictions'][1]}.")
        st.dataframe(rep.prediction_drift, width="stretch", key=KEY + "predictions")
        st.plotly_chart(live_charts.outputs_over_time(rep.history, "Confidence and reasoning depth per decision"),
                        width="stretch", key=KEY + "outputs")

        st.subheader("Alert history")
        events, checks_log = loaders.ledger_log(db)
        if not checks_log.empty:
            checks_log = checks_log.assign(reasons=[" | ".join(json.loads(r)) for r in checks_log["reasons"]])
        st.caption("Verdicts recorded by `hrm health` (newest first) and what the live loop reported.")
        st.dataframe(checks_log, width="stretch", key=KEY + "alerts")
        st.dataframe(events, width="stretch", key=KEY + "events")


panels()
