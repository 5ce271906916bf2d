"""The report of a run, in the control directory: a small summary document (``report.json``:
counts, plan, configuration, failures) beside a line per file written (``report-files.jsonl``:
size, CRC32, version tag, rows, timing, node of each file).

Per-file details are one JSON line each, spooled to a local temporary file while the run goes
and streamed to the store at its end, so the driver never holds a list of 2,000,000 results,
and whatever reads them (:meth:`Report.files`, :func:`iter_files`) reads a line at a time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import tempfile
from typing import Iterable, Iterator, Optional

from .. import layout
from ..errors import LakebenchError
from ..sinks import Store

#: Spool size kept in memory before the per-file lines go to a temporary file.
SPOOL_BYTES = 1 << 20


class FileLines:
    """This run's per-file lines as they arrive, with the totals the summary needs."""

    def __init__(self) -> None:
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b")
        self.count = 0
        self.rows = 0
        self.bytes = 0

    def add(self, entry: dict) -> None:
        """One written file (``FileResult.as_dict()``)."""
        self._spool.write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
        self.count += 1
        self.rows += int(entry["rows"])
        self.bytes += int(entry["bytes"])

    def upload(self, store: Store, key: str) -> None:
        """Stream the lines to ``key`` (all or nothing, as every store write)."""
        self._spool.flush()
        self._spool.seek(0)
        with store.open_writer(key) as writer:
            shutil.copyfileobj(self._spool, writer.stream, 1 << 20)
            writer.commit()
        self._spool.seek(0, 2)

    def close(self) -> None:
        self._spool.close()


def iter_files(store: Store, key: str) -> Iterator[dict]:
    """The per-file lines at ``key``, one at a time (none when absent)."""
    try:
        reader = store.open_reader(key)
    except (OSError, LakebenchError):  # absent
        return
    try:
        buffer = b""
        while True:
            chunk = reader.read(1 << 20)
            if not chunk:
                break
            lines = (buffer + chunk).split(b"\n")
            buffer = lines.pop()
            for line in lines:
                if line.strip():
                    yield json.loads(line)
        if buffer.strip():
            yield json.loads(buffer)
    finally:
        reader.close()


@dataclasses.dataclass
class Report:
    """What a run did: the summary written as ``report.json`` in the control directory
    (``<uri>/_lakebench/<prefix>/``); every file's size, CRC32 and version tag are in the lines
    beside it (``files_document``), read by :meth:`files`."""

    config: dict
    plan: dict
    files_planned: int
    files_written: int
    files_skipped: int
    rows: int
    bytes: int
    seconds: float
    generation_seconds: float  # from the first file handed out to the last one finished
    throughput_mb_s: float  # bytes written / generation_seconds
    retries: int
    failed: list
    files_document: str = ""  # the key of the per-file lines, relative to the output URI
    finished_at: str = ""
    #: Data files under the prefix outside the plan, as ``output.existing`` had them treated:
    #: ``{"policy": "keep" | "replace", "count": n, "files": [names]}`` ({} when there were none).
    outside_plan: dict = dataclasses.field(default_factory=dict)
    #: Files handed out again without spending an attempt (queued behind a file on a lost actor,
    #: or failed while the storage was away); with ``retries``, what the run did twice.
    requeued: int = 0
    #: What the store enforces and the mechanisms chosen from it (S3; {} for a directory).
    storage: dict = dataclasses.field(default_factory=dict)

    _store: Optional[Store] = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def from_lines(cls, *, config: dict, plan: dict, files_planned: int, files_skipped: int, lines: FileLines,
                   failed: Iterable, seconds: float, generation_seconds: float, retries: int, files_document: str,
                   store: Optional[Store] = None, requeued: int = 0) -> "Report":
        """The report of a run whose written files (planned files and sustained-mode extras)
        are ``lines``, and that gave up on ``failed`` (:class:`~lakebench_ray.runtime.pool.FailedFile`)."""
        return cls(
            config=config,
            plan=plan,
            files_planned=files_planned,
            files_written=lines.count,
            files_skipped=files_skipped,
            rows=lines.rows,
            bytes=lines.bytes,
            seconds=round(seconds, 3),
            generation_seconds=round(generation_seconds, 3),
            throughput_mb_s=round(lines.bytes / 1e6 / generation_seconds, 1) if generation_seconds > 0 else 0.0,
            retries=retries,
            requeued=requeued,
            failed=[dataclasses.asdict(f) for f in failed],
            files_document=files_document,
            finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            _store=store,
        )

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def files(self) -> list[dict]:
        """Every written file's entry, sorted by file id, read from the per-file lines (for a
        large run, iterate :func:`iter_files` instead)."""
        if self._store is None or not self.files_document:
            return []
        return sorted(iter_files(self._store, self.files_document), key=lambda f: f["file_id"])

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if not f.name.startswith("_")}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=1)

    def summary_line(self) -> str:
        outside = self.outside_plan
        what = {"keep": "left there (output.existing=keep)", "replace": "deleted (output.existing=replace)"}
        tail = f"; {outside['count']} files outside the plan {what[outside['policy']]}" if outside else ""
        return (
            f"done: {self.files_written} files written ({self.files_skipped} already done), "
            f"{self.rows:,} rows, {self.bytes / 1e9:.2f} GB in {self.seconds:.1f}s "
            f"({self.throughput_mb_s:.0f} MB/s while generating), {self.retries} retries{tail}"
        )


def read_summary(store: Store, prefix: str, count: int = 1, index: int = 0) -> dict:
    """A partition's report summary as written ({} when absent or unreadable)."""
    try:
        doc = json.loads(store.get_bytes(layout.report_key(prefix, count, index)) or b"{}")
    except (ValueError, RecursionError):
        return {}
    return doc if isinstance(doc, dict) else {}


def write(store: Store, report: Report, lines: FileLines, prefix: str, count: int, index: int) -> None:
    """The per-file lines first, then the summary that points at them: a summary is never
    there without its lines."""
    lines.upload(store, report.files_document)
    store.put_bytes(layout.report_key(prefix, count, index), report.to_json().encode())


__all__ = ["FileLines", "Report", "iter_files", "read_summary", "write"]
