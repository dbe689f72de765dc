"""The dashboard's start-up warm-up: once per server process, after the first page has painted, import what
the other pages need and fill the engine's stores (hrm_core/served/warm.py) on a background thread; the sidebar
shows its progress. `make run` fills the stores before serving (`hrm warm`), so this usually only confirms them.
"""
from __future__ import annotations

import os
import threading
import time

from hrm_core.served.warm import WarmProgress, warm_stores

ENV = "HRM_WARM_UP"  # "0": import only, fill no store (the in-process test suite sets it)
# After the first page run the browser still loads and evaluates Plotly (4.7 MB) and draws for a few seconds.
# Importing torch and explain then (about 3 s holding the GIL) slowed the first chart from a median 5.9 to
# 7.0 s on 2 cores (5 runs each). A page that needs these modules sooner imports them itself.
FIRST_PAINT_GRACE_S = 4.0


def warm(progress: WarmProgress) -> None:
    time.sleep(FIRST_PAINT_GRACE_S)
    from hrm_core.runtime import configure_threads

    configure_threads()  # imports torch (about 1.3 s) here, after the first page has painted without it
    import explain.core  # noqa: F401  (about 1.5 s of imports the first switch would otherwise pay)
    import hrm_core.evaluation.evaluate  # noqa: F401
    import hrm_core.live.monitor  # noqa: F401
    import hrm_core.training.train  # noqa: F401
    from hrm_core.settings import load_settings

    if os.environ.get(ENV, "1") == "0":
        progress.finished = True
        return
    warm_stores(load_settings(), progress)


def start() -> tuple[threading.Thread, WarmProgress]:
    progress = WarmProgress()
    thread = threading.Thread(target=warm, args=(progress,), name="hrm-warm-up", daemon=True)
    thread.start()
    return thread, progress
