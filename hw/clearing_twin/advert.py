"""How a clearing-twin service says where it listens: `<home>/run/<name>.json`, written atomically while it
serves and removed on a clean stop, like a twin core's endpoint file. A reader trusts the file only while
the process it names is alive."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_advert(path: Path) -> dict[str, Any] | None:
    """What a running service advertised at `path`, or None (no file, or its process is gone)."""
    try:
        doc = json.loads(path.read_text())
        os.kill(int(doc["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return doc  # type: ignore[no-any-return]


def advertise_until_stopped(path: Path, doc: dict[str, Any], stop: threading.Event | None,
                            close: Callable[[], None]) -> None:
    """Write `doc` (with this pid) to `path`, wait for `stop`, then `close` the server and remove the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), **doc}, indent=2))
    tmp.replace(path)
    stop = stop or threading.Event()
    try:
        stop.wait()
    finally:
        close()
        path.unlink(missing_ok=True)
