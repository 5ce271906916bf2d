"""Partitions and sustained mode on the local Ray runtime."""

from __future__ import annotations

import pytest

import lakebench_ray

from .helpers import SteppingClock, dir_hashes, local_receipts

BASE = ["num_files=7", "rows_per_file=1000", "payload_kb=0.25", "customer_id_max=20000", "progress=false"]


@pytest.fixture
def stepping_clock(monkeypatch):
    import lakebench_ray.runtime.driver as driver

    clock = SteppingClock()
    monkeypatch.setattr(driver, "time", clock)
    return clock


@pytest.mark.slow
def test_partitions_together_make_one_run(ray_local, tmp_path):
    whole = tmp_path / "whole"
    lakebench_ray.generate(lakebench_ray.load_config(None, [f"output.uri={whole}", *BASE]))
    split = tmp_path / "split"
    written = []
    for index in range(3):
        report = lakebench_ray.generate(
            lakebench_ray.load_config(None, [f"output.uri={split}", *BASE, "partition.count=3", f"partition.index={index}"])
        )
        written.append(sorted(f["file_id"] for f in report.files))
    assert written == [[0, 3, 6], [1, 4], [2, 5]]
    assert dir_hashes(split) == dir_hashes(whole)
    meta = split / "_lakebench" / "customer" / "interactions"
    assert sorted(p.name for p in meta.glob("checkpoint-*")) == [f"checkpoint-000{i}-of-0003" for i in range(3)]
    assert [sorted(local_receipts(split, index=i, count=3)) for i in range(3)] == [[0, 3, 6], [1, 4], [2, 5]]


def test_partition_index_from_job_completion_index(monkeypatch):
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    config = lakebench_ray.load_config(None, ["partition.count=4"])
    assert config.partition_index() == 2


@pytest.mark.slow
def test_sustained_mode_adds_unique_ids_and_stops_on_time(ray_local, tmp_path, stepping_clock):
    """Past the plan, ids follow on without a gap until the deadline, and none is handed out
    after it (on the stepping clock a reading is a second, so fewer readings than ``duration_s``
    seconds can have been ids past the plan), and every file handed out is finished."""
    duration = 6
    report = lakebench_ray.generate(
        lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *BASE, "num_files=2", f"duration_s={duration}"])
    )
    ids = [f["file_id"] for f in report.files]
    assert len(ids) == len(set(ids)) and {0, 1} <= set(ids)
    extras = sorted(i for i in ids if i >= 2)
    assert extras, "no file beyond the planned set"
    assert extras == list(range(2, 2 + len(extras))) and len(extras) < duration, extras
    names = sorted(p.name for p in (tmp_path / "customer" / "interactions").glob("*.parquet"))
    assert names == [f"part-{i:06d}.parquet" for i in sorted(ids)]
    # Only planned files are checkpointed.
    assert sorted(local_receipts(tmp_path)) == [0, 1]


@pytest.mark.slow
def test_live_sustained_files_carry_events_from_their_generation_time(ray_local, tmp_path, stepping_clock):
    """timestamp_live: files past the plan hold events from the trailing window before each was
    generated, sorted; the window is in the footer and the report; planned files are unchanged.
    (The run's duration is on the stepping clock, so files past the plan are made however long
    the planned ones take; the windows are on the real clock of the actors that make the files.)"""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    window = 30.0
    report = lakebench_ray.generate(lakebench_ray.load_config(
        None, [f"output.uri={tmp_path}", *BASE, "num_files=2", "duration_s=5", "timestamp_live=true",
               f"timestamp_live_window_s={window}"]))
    data = tmp_path / "customer" / "interactions"
    epoch = dt.datetime(1970, 1, 1)
    live = [f for f in report.files if f["file_id"] >= 2]
    assert live, "no live file"
    for entry in report.files:
        path = data / f"part-{entry['file_id']:06d}.parquet"
        meta = pq.ParquetFile(path).metadata.metadata
        ts = pq.read_table(path, columns=["event_timestamp"]).column(0).cast(pa.int64()).to_numpy() / 1e6
        if entry["file_id"] < 2:
            assert b"lakebench.live_window" not in meta and "live_window" not in entry
            assert ts.min() < dt.datetime(2025, 12, 31).timestamp()  # the configured window
            continue
        start, end = ((dt.datetime.fromisoformat(x) - epoch).total_seconds() for x in entry["live_window"])
        assert meta[b"lakebench.live_window"].decode() == "/".join(entry["live_window"])
        assert end - start == window
        began = entry["started_at"]
        assert began - 1 <= end <= began + entry["seconds"] + 1, (began, end)  # ends when it was made
        assert start <= ts.min() and ts.max() < end and (abs(ts.max() - end) < window)
        assert (ts[1:] >= ts[:-1]).all()


def test_live_needs_sustained_mode():
    import pytest

    with pytest.raises(lakebench_ray.ConfigError, match="timestamp_live: only sustained runs"):
        lakebench_ray.load_config(None, ["timestamp_live=true"])
