"""What a run did, built from its files' results in one place, and written as ``report.json``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Iterable, Sequence

from .results import FileResult


@dataclasses.dataclass
class Report:
    """What a run did; also written as ``report.json`` in the control directory
    (``<uri>/_lakebench/<prefix>/``), with every file's size, CRC32 and version tag."""

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
    files: list
    finished_at: str = ""
    #: Data files under the prefix outside the plan, as ``output.existing`` had them treated:
    #: ``{"policy": "keep" | "replace", "count": n, "files": [names]}`` ({} when there were none).
    outside_plan: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_results(cls, *, config: dict, plan: dict, files_planned: int, files_skipped: int,
                     results: Sequence[FileResult], failed: Iterable, seconds: float,
                     generation_seconds: float, retries: int) -> "Report":
        """The report of a run that wrote ``results`` (planned files and sustained-mode extras)
        and gave up on ``failed`` (:class:`~.pool.FailedFile`)."""
        written_bytes = sum(r.bytes for r in results)
        return cls(
            config=config,
            plan=plan,
            files_planned=files_planned,
            files_written=len(results),
            files_skipped=files_skipped,
            rows=sum(r.rows for r in results),
            bytes=written_bytes,
            seconds=round(seconds, 3),
            generation_seconds=round(generation_seconds, 3),
            throughput_mb_s=round(written_bytes / 1e6 / generation_seconds, 1) if generation_seconds > 0 else 0.0,
            retries=retries,
            failed=[dataclasses.asdict(f) for f in failed],
            files=[r.as_dict() for r in sorted(results, key=lambda r: r.file_id)],
            finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        )

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    def summary_line(self) -> str:
        outside = self.outside_plan
        what = {"keep": "left there (output.existing=keep)", "replace": "deleted (output.existing=replace)"}
        tail = f"; {outside['count']} files outside the plan {what[outside['policy']]}" if outside else ""
        return (
            f"done: {self.files_written} files written ({self.files_skipped} already done), "
            f"{self.rows:,} rows, {self.bytes / 1e9:.2f} GB in {self.seconds:.1f}s "
            f"({self.throughput_mb_s:.0f} MB/s while generating), {self.retries} retries{tail}"
        )
