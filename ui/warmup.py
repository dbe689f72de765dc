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
# Wait before importing: when the first page's script ends, the browser is still loading Plotly's 4.7 MB bundle
# and drawing the first chart on the same 2 cores. Measured (cold start to the first chart, 3 runs each, stores
# filled): 6.2-6.9 s warming at once, 4.9-5.3 s after 3 s.
DELAY_S = 2.5
DELAY_ENV = "HRM_WARM_DELAY_S"


def warm(progress: WarmProgress) -> None:
    time.sleep(float(os.environ.get(DELAY_ENV, DELAY_S)))
    from hrm_core.runtime import configure_threads

    configure_threads()  # imports torch (about 1.3 s) here, after the first page has painted without it
    import explain  # noqa: F401  (about 1.5 s of imports the first switch would otherwise pay)
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
