"""Partitions and sustained mode on the local Ray runtime."""

from __future__ import annotations

import time

import lakebench_ray

from .helpers import dir_hashes

BASE = ["num_files=7", "rows_per_file=2500", "payload_kb=0.5", "customer_id_max=20000", "progress=false"]


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
    assert sorted(p.name for p in meta.glob("checkpoint-*.json")) == [f"checkpoint-000{i}-of-0003.json" for i in range(3)]


def test_partition_index_from_job_completion_index(monkeypatch):
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    config = lakebench_ray.load_config(None, ["partition.count=4"])
    assert config.partition_index() == 2


def test_sustained_mode_adds_unique_ids_and_stops_on_time(ray_local, tmp_path):
    duration = 8.0
    started = time.monotonic()
    report = lakebench_ray.generate(
        lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *BASE, "num_files=2", f"duration_s={duration}"])
    )
    elapsed = time.monotonic() - started
    ids = [f["file_id"] for f in report.files]
    assert len(ids) == len(set(ids)) and {0, 1} <= set(ids)
    extras = [i for i in ids if i >= 2]
    assert extras, "no file beyond the planned set"
    assert elapsed < duration + 10, elapsed  # the last files started before the deadline finish
    names = sorted(p.name for p in (tmp_path / "customer" / "interactions").glob("*.parquet"))
    assert names == [f"part-{i:06d}.parquet" for i in sorted(ids)]
    # Only planned files are checkpointed.
    import json

    checkpoint = json.loads((tmp_path / "_lakebench" / "customer" / "interactions" / "checkpoint.json").read_text())
    assert checkpoint["completed"] == [0, 1]
