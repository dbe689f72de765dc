"""Your own data: a CSV/Parquet OHLCV file uploaded in the sidebar becomes an instrument for this session.

The file goes through hrm_core.data.market.load_bars(path=...), the same reading, column normalisation and validation
as the CLI's --csv, so a broken file gets the same one-line message. Files are stored content-addressed beside
the market cache (uploads/<sha256>/<name>.csv), so the cached loaders key on the file and a re-upload is free.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import streamlit as st

from hrm_core.data.bars import BAR_SPAN, read_ohlcv_file, snippet
from hrm_core.data.market import INTERVALS, load_bars
from hrm_core.errors import HRMError
from ui.keys import SIDEBAR

KEY = "sidebar.upload."  # session-state namespace of the uploader (inside the sidebar's)
MAX_UPLOAD_MB = 20  # also server.maxUploadSize in .streamlit/config.toml (Streamlit enforces it in the browser)
TYPES = ("csv", "txt", "parquet", "pq")
INFER = "infer from the file"


def uploads() -> dict[str, str]:
    """Instrument name -> stored file of this session's uploads."""
    return st.session_state.setdefault(KEY + "files", {})


def upload_path(symbol: str) -> str | None:
    """The stored file behind an uploaded instrument, or None for a ticker."""
    return uploads().get(symbol)


def file_token(symbol: str) -> str | None:
    """An uploaded instrument's file as a link carries it: '<content hash>/<file name>' under the uploads folder."""
    path = upload_path(symbol)
    return f"{Path(path).parent.name}/{Path(path).name}" if path else None


def adopt_linked_file(symbol: str, token: str, folder: Path) -> str | None:
    """Make a linked upload an instrument of this session; a sentence saying why it cannot be, else None."""
    if not symbol or not re.fullmatch(r"[0-9a-f]{16}/[A-Za-z0-9_][A-Za-z0-9_.-]*", token or ""):
        return f"The link's file {snippet(str(token), 60)!r} is not an uploaded file of this app."
    path = folder / token
    if not path.is_file():
        return (f"The link's file {Path(token).name} ({symbol}) is not on this server any more: upload it again in "
                "the sidebar (Your own data).")
    uploads()[symbol] = str(path)
    extra = st.session_state.setdefault(SIDEBAR + "extra", [])
    if symbol not in extra:
        extra.append(symbol)
    return None


def infer_interval(path: str | Path) -> str:
    """The finest app interval the file's bars are not finer than (hourly, daily or weekly bars)."""
    index = read_ohlcv_file(path).index
    if len(index) < 2:
        return "1d"
    step = np.diff(index.asi8).min()
    return next((iv for iv in INTERVALS if BAR_SPAN[iv].value * 1.05 >= step), INTERVALS[-1])


def store(data: bytes, filename: str, folder: Path) -> Path:
    """Write the upload content-addressed under `folder`, keeping its type suffix; return the path."""
    stem, suffix = Path(filename).stem, Path(filename).suffix.lower()
    suffix = suffix if suffix.lstrip(".") in TYPES else ".csv"
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)[:60].strip("._") or "upload"
    path = folder / hashlib.sha256(data).hexdigest()[:16] / f"{safe}{suffix}"  # the badge shows the file name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return path


def add_upload(folder: Path) -> None:
    """Button callback (runs before the script): validate the chosen file and make it the charted instrument."""
    st.session_state[KEY + "message"] = None
    file = st.session_state.get(KEY + "file")
    if file is None:
        st.session_state[KEY + "message"] = "Choose a CSV or Parquet file first."
        return
    name = snippet(st.session_state.get(KEY + "name", "").strip() or Path(file.name).stem, 40)
    if file.size > MAX_UPLOAD_MB * 1024 * 1024:
        st.session_state[KEY + "message"] = (f"{snippet(file.name, 60)} was not added: it is "
                                             f"{file.size / 2**20:.1f} MB, over the {MAX_UPLOAD_MB} MB limit. "
                                             "Trim it to the columns time, open, high, low, close, volume, or "
                                             "to fewer years.")
        return
    try:
        path = store(file.getvalue(), file.name, folder)
        chosen = st.session_state.get(KEY + "interval", INFER)
        interval = infer_interval(path) if chosen == INFER else chosen
        res = load_bars(name, interval, path=path)  # the same reading and checks as `--csv`
    except HRMError as exc:
        st.session_state[KEY + "message"] = f"{snippet(file.name, 60)} was not added: {exc}"
        return
    uploads()[name] = str(path)
    extra = st.session_state.setdefault(SIDEBAR + "extra", [])
    if name not in extra:
        extra.append(name)
    st.session_state[SIDEBAR + "symbols"] = [name, *(s for s in st.session_state.get(SIDEBAR + "symbols", [])
                                                      if s != name)]
    st.session_state[SIDEBAR + "interval"] = interval
    st.session_state[KEY + "name"] = ""  # the next file gets its own name
    st.session_state[KEY + "added"] = (f"Added {name}: {len(res.bars):,} {interval} bars, "
                                       f"{res.bars.index[0]:%Y-%m-%d} to {res.bars.index[-1]:%Y-%m-%d}.")


def draw_uploader(sb, folder: Path) -> None:
    """The sidebar's "Your own data" box: file, name, interval, add; one message for a file that was refused."""
    message = st.session_state.get(KEY + "message")
    with sb.expander("Your own data (CSV / Parquet)", expanded=bool(message), icon=":material/upload_file:"):
        st.file_uploader(f"OHLCV file, up to {MAX_UPLOAD_MB} MB", type=list(TYPES), key=KEY + "file",
                         max_upload_size=MAX_UPLOAD_MB,
                         help="Columns time (or date), open, high, low, close and volume (a column of 0 if unknown); any common "
                              "spelling and delimiter. Checked like `hrm ... --csv FILE`. Kept for this session.")
        st.text_input("Instrument name", key=KEY + "name", placeholder="default: the file name", max_chars=40)
        st.selectbox("Bar interval", [INFER, *INTERVALS], key=KEY + "interval",
                     help="The interval of the file's bars; coarser timeframes are resampled from them.")
        st.button("Add to instruments", key=KEY + "add", on_click=add_upload, args=(folder,),
                  icon=":material/add:", width="stretch")
        if message:
            st.warning(message, icon=":material/info:")
        elif st.session_state.get(KEY + "added"):
            st.caption(st.session_state[KEY + "added"])
