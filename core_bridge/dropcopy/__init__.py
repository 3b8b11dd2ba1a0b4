"""Drop-copy capture: the core's sequenced drop copy, gap-filled by rewind, into the durable journal.

Why (design principle 1): the core never waits for us; we subscribe, and whatever we miss we ask for again,
so the journal holds every event in sequence order however slow or restarted either side was.

    config    `CaptureConfig` (endpoints, keys, tuning; `from_home`) and `CaptureStats` (the counters)
    rewind    `GapFiller`: journal position, gap detection, rewind windows, the idle `hello` probe
    backoff   `RewindBackoff`: failed rewinds back off exponentially (bounded) and escalate once
    service   `CaptureService` (live stream, loop, seal requests, post-trade view, status files) and
              `run_capture`
    __main__  `python -m core_bridge.dropcopy`

New code imports from those modules; the names below are re-exported so `core_bridge.dropcopy.X` keeps
working.
"""

from core_bridge.dropcopy.config import CaptureConfig, CaptureStats
from core_bridge.dropcopy.rewind import REWIND_WINDOW, GapFiller
from core_bridge.dropcopy.service import CaptureService, run_capture

__all__ = ["REWIND_WINDOW", "CaptureConfig", "CaptureService", "CaptureStats", "GapFiller", "run_capture"]
