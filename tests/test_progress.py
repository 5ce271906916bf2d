"""The progress line: files, rate and an ETA that a resume does not fool."""

from __future__ import annotations

import pytest

import io

from lakebench_ray.runtime.progress import Progress

pytestmark = pytest.mark.unit  # no Ray, servers or processes (guarded in conftest)


def test_eta_counts_only_files_made_in_this_run():
    out = io.StringIO()
    progress = Progress(100, done=90, stream=out)
    start = progress.started
    assert progress.line(start + 10).endswith("eta --:--")  # nothing made yet: no estimate
    progress.update(files=5)
    # 5 files in 10 s, 5 to go: 10 s more. (Counting the 90 resumed files would say ~0 s.)
    line = progress.line(start + 10)
    assert "95/100 files" in line and line.endswith("eta 00:10")


def test_plain_lines_in_logs_at_most_every_interval():
    out = io.StringIO()
    progress = Progress(4, stream=out, interval=3600)
    progress.update(files=1, rows=10, nbytes=2_000_000)
    progress.update(files=1, rows=10, nbytes=2_000_000)
    progress.close()
    lines = out.getvalue().splitlines()
    assert 1 <= len(lines) <= 2 and lines[-1].startswith("[############------------] 2/4 files 20 rows 4.0 MB")


def test_sustained_mode_shows_extra_files_and_time_left():
    """A sustained run ends at a time: the line counts the files past the plan and the time left,
    instead of a finished "6/6 files" while hundreds more are written."""
    now = [1000.0]
    out = io.StringIO()
    progress = Progress(6, stream=out, deadline=1000.0 + 90, clock=lambda: now[0])
    progress.update(files=6)
    progress.update(extra=250)
    now[0] += 30
    line = progress.line()
    assert "6/6 planned + 250 extra files" in line and line.endswith("left 01:00")
    assert line.startswith("[########----------------]")  # a third of the time gone
