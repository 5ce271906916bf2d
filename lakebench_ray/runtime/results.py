"""What a generator actor returns for a file, typed, from the actor to the report.

Every completed file crosses from an actor to the driver once, so its result is small on the
wire: :meth:`FileResult.__reduce__` pickles the values alone (no field names, no ``__dict__``),
against a dict that carries every key as a string. No Ray here: the driver's tests and the
report build on it without a cluster.
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True, slots=True)
class FileResult:
    file_id: int
    key: str
    rows: int
    bytes: int
    #: What the checkpoint records and a resume or verify compares against.
    crc32: str
    tag: str
    #: The actor's wall seconds for the file, and when it started (epoch seconds).
    seconds: float
    started_at: float
    node_id: str
    pid: int
    #: The actor process's peak resident memory so far (Linux), for sizing actors' memory.
    peak_rss_mb: Optional[float] = None
    #: ISO UTC [start, end) of a live file's events (``timestamp_live``), else None.
    live_window: Optional[tuple[str, str]] = None

    def __reduce__(self):
        return (FileResult, tuple(getattr(self, f.name) for f in dataclasses.fields(FileResult)))

    def receipt(self) -> dict:
        """What the checkpoint keeps of the file: size, CRC32 and the store's version tag."""
        return {"size": self.bytes, "crc32": self.crc32, "tag": self.tag}

    def as_dict(self) -> dict:
        """The file's entry in ``report.json`` (``live_window`` only for live files)."""
        entry = {f.name: getattr(self, f.name) for f in dataclasses.fields(FileResult)}
        window = entry.pop("live_window")
        if window:
            entry["live_window"] = list(window)
        return entry
