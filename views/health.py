"""Model health: the verdict in one sentence, then why: drift, realised performance, staleness, latency, alerts."""
import json

import pandas as pd
import streamlit as st

from hrm_core.live.monitor import HISTORY_WINDOW, fmt_p
from ui import live_charts, loaders
from ui.guard import guard
from ui.guide import how_to_read
from ui.state import settings

KEY = "health."  # session-state namespace of this page
REFRESH = "30s"
ICONS = {"green": ":material/check_circle:", "amber": ":material/warning:", "red": ":material/error:"}

st.title("Model health")
h = settings().health
how_to_read("Is the paper-trading model still fit to use? **Green** = fine, **amber** = look at it, **red** = "
            "stop and check. Every threshold is a measurement, not a convention: drift is judged against how "
            "much windows of the same length varied inside the model's own training period, so on data like the "
            f"training data an amber verdict comes at most {h.drift_amber_rate:.0%} of the time and a red one "
            f"{h.drift_red_rate:.0%}. *Realised performance* compares the model's recent log-loss and return per "
            "unit risk with how they varied over its test period. *Staleness* counts bars the exchange calendar "
            "says should exist: weekends, holidays and nights are not stale.")
db, book = live_charts.open_book(KEY)


def _drift_table(table: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("test", "value", "psi", "amber_at", "red_at", "p_value", "ks_d", "ks_p", "reference",
                        "current", "status") if c in table]
    out = table[cols].copy()
    for c in ("p_value", "ks_p"):
        if c in out:
            out[c] = out[c].map(fmt_p)
    return out


@st.fragment(run_every=REFRESH)
def panels() -> None:
    """Verdict, checks, drift, performance, latency and alerts, re-read from the ledger in place."""
    with guard(f"check the health of {book.label}"):
        rep = loaders.health_report(db, book.symbol, book.interval)
        show = {"green": st.success, "amber": st.warning, "red": st.error}[rep.status]
        show(f"**{rep.verdict}**", icon=ICONS[rep.status])
        checks = pd.DataFrame([{"check": c.name, "status": c.status, "detail": c.detail,
                                "threshold from": c.threshold_source} for c in rep.checks])
        st.dataframe(checks.set_index("check"), width="stretch", key=KEY + "checks")
        st.caption(f"{rep.decisions} decisions of {book.label}. `hrm health` exits 0 / 1 / 2 for green / amber / red; "
                   f"settings from `{settings().source}` [health].")

        st.subheader("Input drift")
        if not rep.verdicts.empty:
            st.plotly_chart(live_charts.verdict_history(rep.verdicts, f"Input-drift verdict of each "
                                                        f"{HISTORY_WINDOW}-decision window (when did drift begin?)"),
                            width="stretch", key=KEY + "verdicts")
        st.caption(f"The newest {min(rep.decisions, h.drift_window)} decisions against the training period "
                   f"{rep.references['features'][0]} .. {rep.references['features'][1]}: a distribution test (PSI) "
                   "per model input, plus volatility and volume against the book's own previous year. Each bar "
                   "is the statistic over its own amber threshold (calibrated on the training period); p is how "
                   "often the training period showed a window at least this unusual. KS is shown as an effect "
                   "size only (it assumes independent bars).")
        st.plotly_chart(live_charts.drift_tests(rep.feature_drift, "Each input test against its threshold"),
                        width="stretch", key=KEY + "drift")
        st.dataframe(_drift_table(rep.feature_drift), width="stretch", key=KEY + "features")

        st.subheader("Realised performance")
        perf = rep.performance
        st.caption(f"Outcomes arrive {book.interval} bars after each decision. Rolling over {perf['window']} decisions "
                   f"against the test period {perf['reference'][0]} .. {perf['reference'][1]} (dotted: its mean; "
                   f"dashed: {h.perf_amber_sd:g} and {h.perf_red_sd:g} sd on the worse side).")
        series = perf["series"]
        left, right = st.columns(2)
        for col, name, label in ((left, "logloss_vs_null", "log-loss minus the null's"),
                                 (right, "return_per_risk", "return per unit risk")):
            if len(series[name]) >= 2 and perf["window"] >= 2:
                col.plotly_chart(live_charts.performance_band(series[name], perf[name], perf["window"], label.capitalize(),
                                                              label), width="stretch", key=KEY + name)

        st.subheader("Prediction drift")
        st.caption(f"Action mix, confidence and ACT depth vs the signal table over "
                   f"{rep.references['predictions'][0]} .. {rep.references['predictions'][1]}, calibrated the same way.")
        st.dataframe(_drift_table(rep.prediction_drift), width="stretch", key=KEY + "predictions")
        st.plotly_chart(live_charts.outputs_over_time(rep.history, "Confidence and reasoning depth per decision"),
                        width="stretch", key=KEY + "outputs")

        st.subheader("Latency")
        lat = rep.latency
        c = st.columns(3)
        for col, q in zip(c, (50, 95, 99)):
            v = lat.get(f"decision_p{q}")
            col.metric(f"Decision p{q}", "n/a" if v is None else f"{v:.1f} ms",
                       help=f"{q} % of decisions took at most this long (model + features + risk, per bar).")
        st.plotly_chart(live_charts.latency_histogram(rep.history["latency_ms"], "Decision latency"),
                        width="stretch", key=KEY + "latency")

        st.subheader("Alert history")
        events, checks_log = loaders.ledger_log(db)
        if not checks_log.empty:
            checks_log = checks_log.assign(reasons=[" | ".join(json.loads(r)) for r in checks_log["reasons"]])
        st.caption("Verdicts recorded by `hrm health` (newest first) and what the live loop reported.")
        st.dataframe(checks_log, width="stretch", key=KEY + "alerts")
        st.dataframe(events, width="stretch", key=KEY + "events")


panels()
