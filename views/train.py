"""Train: pick instruments, intervals, preset and epochs; train on the button with live progress; register in models/."""
import datetime as dt

import streamlit as st

from hrm_core.model.cards import list_checkpoints
from hrm_core.model.config import PRESETS
from hrm_core.data.market import INTERVALS
from hrm_core.data.identity import check_model_name
from hrm_core.training.datasets import split_common_span, training_bars
from hrm_core.training.config import TrainConfig, default_name  # no torch until a run starts
from ui.guard import guard
from ui.guide import how_to_read
from ui.state import selection, settings
from ui.uploads import uploads

K = "train."  # session-state namespace of this page
base = TrainConfig()
s = settings()
sel = selection()
models_dir = s.data.path("models_dir")

st.title("Train")
how_to_read("Teaches a new model from past prices. Pick instruments and timeframes, a size (*preset*: `tiny` "
            "trains in seconds, `default` in minutes) and how many passes over the data (*epochs*), then press "
            "**Train**. The dates are split three ways: the model learns on the training years, the validation "
            "years pick its best epoch, and the test years stay unseen so the Performance page can judge it "
            "fairly. The new model then appears in the sidebar's model list.")
st.caption("Trains on the training period only; the validation period picks the epoch; the test period is never "
           "read, so `hrm evaluate` can judge the model on it. The same run from a terminal: `hrm train`.")

left, right = st.columns(2)
symbols = left.multiselect("Instruments", list(dict.fromkeys([*sel.symbols, *s.data.default_symbols])),
                           default=list(sel.symbols), key=K + "symbols")
intervals = left.multiselect("Timeframes", INTERVALS, default=[sel.interval], key=K + "intervals")
preset = right.selectbox("Preset", [p for p in PRESETS if "paper" not in p], index=list(PRESETS).index("default"),
                         key=K + "preset", help="Model size. tiny: seconds; default / flat: minutes on 2 CPU cores")
epochs = right.number_input("Epochs", 1, 200, base.epochs, key=K + "epochs",
                             help="Passes over the training windows; the best one on validation is kept.")
name = right.text_input("Model name", placeholder="default: preset + time", key=K + "name")

# Uploaded files train as instruments of their own; with any chosen, the dates default to a 70 / 15 / 15 %
# split of the chosen data's common span (the widgets' keys follow the choice, so the defaults do too).
files = {sym: path for sym, path in uploads().items() if sym in symbols}
bars, defaults = None, {k: getattr(base, k) for k in ("train_start", "train_end", "val_start", "val_end",
                                                      "test_start", "test_end")}
if files and intervals:
    with guard("read the chosen files"):
        bars = training_bars(symbols, intervals, settings=s, files=files)
        defaults = split_common_span(list(bars.values()))
        st.caption(f"Your files train as instruments of their own ({', '.join(files)}). Dates: 70 / 15 / 15 % of "
                   "the chosen data's common span; change them below.")
choice = ("." + "|".join([*sorted(files), *intervals])) if files else ""

with st.expander("Periods and options"):
    c = st.columns(3)
    dates = {}
    lo, hi = dt.date(1970, 1, 1), dt.date.today()  # without max_value Streamlit caps the pickers at value + 10 years
    for i, (label, key) in enumerate((("Train", "train"), ("Validation", "val"), ("Test (held out)", "test"))):
        for end, word in (("start", "from"), ("end", "to")):
            field = f"{key}_{end}"
            dates[field] = c[i].date_input(f"{label} {word}", dt.date.fromisoformat(defaults[field]),
                                           key=f"{K}{field}{choice}", min_value=lo, max_value=hi)
    c = st.columns(3)
    horizon = c[0].number_input("Label horizon [bars]", 1, 60, base.horizon, key=K + "horizon",
                              help="How far ahead the training labels look: the return over the next N bars.")
    stride = c[1].number_input("Use every k-th training window", 1, 50, base.stride, key=K + "stride")
    seed = c[2].number_input("Seed", 0, 10_000, base.seed, key=K + "seed")
    overwrite = st.checkbox("Overwrite a model of the same name", key=K + "overwrite")

if st.button("Train", type="primary", icon=":material/model_training:", key=K + "go"):
    with guard("train the model"):
        cfg = TrainConfig(preset=preset, symbols=tuple(symbols), intervals=tuple(intervals), epochs=int(epochs),
                          horizon=int(horizon), stride=int(stride), seed=int(seed),
                          **{k: v.isoformat() for k, v in dates.items()})
        model_name = check_model_name(name) if name.strip() else default_name(cfg)  # cannot leave models/
        with st.status(f"Training {model_name}...", expanded=True) as status:
            bar = st.progress(0.0, text="loading data")
            from hrm_core.training.train import train_and_save  # torch: loaded when a run starts, not to paint

            def progress(p) -> None:
                if p.kind == "batch":
                    bar.progress(p.fraction, text=f"epoch {p.epoch}/{p.epochs}, batch {p.step}/{p.total_steps}")
                elif p.message:
                    status.write(p.message)

            result, path = train_and_save(cfg, model_name, settings=s, progress=progress, overwrite=overwrite,
                                          bars=bars)
            bar.progress(1.0, text="done")
            status.update(label=f"Trained {model_name} in {result.seconds:.0f} s", state="complete")
        m = result.metrics
        st.success(f"Saved {model_name} to {path}: val accuracy {m['val_accuracy']:.3f}, "
                   f"net Sharpe {m['val_net_sharpe']:+.2f}. Pick it in the sidebar's model list.")
        st.dataframe([{k: h[k] for k in ("epoch", "loss", "policy", "value", "sizing", "q", "val_accuracy",
                                        "val_logloss", "val_net_sharpe")} for h in result.history], hide_index=True)

st.subheader("Models in models/")
cards = list_checkpoints(models_dir)
if cards:
    st.dataframe([{"model": c.name, "summary": c.summary, "path": c.path} for c in cards], hide_index=True)
else:
    st.caption(f"No models yet in {models_dir}.")
