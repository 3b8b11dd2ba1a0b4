"""The twin's own event journal: one append-only file of raw EVENT_DTYPE records per epoch.

`events/epoch-00000001.evt` holds records seq 1..N of epoch 1 back to back, so record `seq` sits at byte
offset (seq - 1) * 128 and rewind is a seek plus one read. No per-record fsync (the real core's journal
is the durable one; this is what its rewind serves): a crash may lose the unflushed tail, and a torn last
record is ignored because the length is floored to whole records.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from core_bridge.protocol import EVENT_DTYPE, EVENT_SIZE

_NAME = re.compile(r"^epoch-(\d{8})\.evt$")


class EventLog:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = None
        self.epoch = 0
        self.last_seq = 0

    def path(self, epoch: int) -> Path:
        return self.dir / f"epoch-{epoch:08d}.evt"

    def epochs(self) -> list[int]:
        out = []
        for p in self.dir.iterdir():
            m = _NAME.match(p.name)
            if m:
                out.append(int(m.group(1)))
        return sorted(out)

    def open_epoch(self, epoch: int) -> None:
        """Start appending to a new epoch (seq restarts at 1)."""
        self.close()
        self._fd = os.open(self.path(epoch), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self.epoch = epoch
        self.last_seq = 0

    def append(self, records: np.ndarray) -> None:
        """Append a contiguous run that continues the current epoch."""
        if self._fd is None:
            raise RuntimeError("event log not open")
        n = len(records)
        if n == 0:
            return
        first = int(records["seq"][0])
        if first != self.last_seq + 1:
            raise ValueError(f"append of seq {first} after {self.last_seq}")
        os.write(self._fd, np.ascontiguousarray(records).tobytes())
        self.last_seq = first + n - 1

    def append_bytes(self, first_seq: int, payload: bytes | memoryview, count: int) -> None:
        """Fast path for pre-encoded record bytes (stream mode)."""
        if self._fd is None:
            raise RuntimeError("event log not open")
        if first_seq != self.last_seq + 1:
            raise ValueError(f"append of seq {first_seq} after {self.last_seq}")
        os.write(self._fd, payload)
        self.last_seq = first_seq + count - 1

    def last_seq_of(self, epoch: int) -> int | None:
        """Highest seq recorded for `epoch`, or None if the epoch is unknown."""
        if epoch == self.epoch and self._fd is not None:
            return self.last_seq
        p = self.path(epoch)
        try:
            return p.stat().st_size // EVENT_SIZE
        except FileNotFoundError:
            return None

    def read(self, epoch: int, from_seq: int, count: int) -> np.ndarray:
        """Records from_seq .. from_seq+count-1 of `epoch` (the caller checked the range)."""
        with open(self.path(epoch), "rb") as fh:
            fh.seek((from_seq - 1) * EVENT_SIZE)
            buf = fh.read(count * EVENT_SIZE)
        return np.frombuffer(buf, dtype=EVENT_DTYPE).copy()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
