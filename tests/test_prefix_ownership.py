"""A run owns its data prefix: data files outside its plan (a bigger run's, another
configuration's, leftovers) are refused in one line before anything is written, unless
``output.existing`` says to replace them (once the run's own files are complete) or keep them
(the report and verify say so). A local directory and a real local Ray."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import lakebench_ray
from lakebench_ray.errors import PrefixNotOwned
from lakebench_ray.verify import verify

from .helpers import dir_hashes, local_receipts

SMALL = ["rows_per_file=3000", "payload_kb=0.5", "customer_id_max=20000", "progress=false"]
# scale 10 then scale 1, with files big enough that scale 10 makes 5 of them and scale 1 one.
SCALE = ["file_size_mb=20480"]


def data_dir(out: Path) -> Path:
    return out / "customer" / "interactions"


def checkpoint(out: Path) -> dict:
    head = json.loads((out / "_lakebench" / "customer" / "interactions" / "checkpoint" / "head.json").read_bytes())
    return {"head": head, "completed": sorted(local_receipts(out))}


def run(out: Path, *overrides: str) -> tuple[lakebench_ray.Report, str]:
    text = io.StringIO()
    report = lakebench_ray.generate(lakebench_ray.load_config(None, [f"output.uri={out}", *SMALL, *overrides]), out=text)
    return report, text.getvalue()


@pytest.mark.slow
def test_a_smaller_run_into_a_bigger_dataset_is_refused_or_keeps_or_replaces_as_asked(ray_local, tmp_path):
    big, _ = run(tmp_path, *SCALE, "scale=10", "seed=43")
    assert big.files_written == 5
    before = dir_hashes(tmp_path)
    before_checkpoint = checkpoint(tmp_path)

    with pytest.raises(PrefixNotOwned) as err:
        run(tmp_path, *SCALE, "scale=1", "seed=42")
    message = str(err.value)
    assert "\n" not in message and "holds 4 data file(s)" in message and "part-000001.parquet" in message
    assert "output.existing=replace" in message and "output.existing=keep" in message
    assert dir_hashes(tmp_path) == before and checkpoint(tmp_path) == before_checkpoint, "written before refusing"
    assert not (tmp_path / "_lakebench" / "customer" / "interactions" / "lease.json").exists()

    kept, text = run(tmp_path, *SCALE, "scale=1", "seed=42", "output.existing=keep")
    assert "warning: 4 data file(s) outside this run's plan" in text and "part-000004.parquet" in text
    assert "4 files outside the plan left there (output.existing=keep)" in kept.summary_line()
    assert len(list(data_dir(tmp_path).glob("part-*.parquet"))) == 5
    config = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *SMALL, *SCALE, "scale=1", "seed=42"])
    result = verify(config)
    assert not result.ok
    assert "extra file part-000004.parquet (left there by the run: output.existing=keep)" in result.problems

    replaced, text = run(tmp_path, *SCALE, "scale=1", "seed=42", "resume=true", "output.existing=replace")
    assert "will be deleted once this run's files are complete" in text
    assert "4 files outside the plan deleted" in replaced.summary_line()
    assert sorted(p.name for p in data_dir(tmp_path).iterdir()) == ["part-000000.parquet"]
    assert verify(config).ok


@pytest.mark.slow
def test_resume_with_fewer_files_neither_keeps_nor_records_the_rest(ray_local, tmp_path):
    """resume=true num_files=4 after 6: refused (2 files outside the plan); kept on request, but
    the checkpoint records the plan's 4, never the 6."""
    run(tmp_path, "num_files=6")
    with pytest.raises(PrefixNotOwned, match="holds 2 data file"):
        run(tmp_path, "num_files=4", "resume=true")
    assert checkpoint(tmp_path)["completed"] == list(range(6))
    report, _ = run(tmp_path, "num_files=4", "resume=true", "output.existing=keep")
    assert report.files_skipped == 4 and report.files_written == 0
    assert checkpoint(tmp_path)["completed"] == [0, 1, 2, 3]


def test_lakebench_job_keeps_what_is_not_its_own_as_lakebench_does():
    from lakebench_ray.lakebench.job import load_job_config

    config = load_job_config(["--bucket", "bronze", "--target-tb", "0.001", "--file-size-mb", "512"], environ={})
    assert config.output.existing == "keep"


@pytest.mark.slow
def test_a_by_file_resume_with_another_file_count_names_it(ray_local, tmp_path):
    from lakebench_ray.errors import CheckpointMismatchError

    run(tmp_path, "num_files=3", "timestamp_order=by_file")
    with pytest.raises(CheckpointMismatchError, match="timestamp_order=by_file .* this run's 2 files .* num_files"):
        run(tmp_path, "num_files=2", "timestamp_order=by_file", "resume=true", "output.existing=keep")


@pytest.mark.slow
def test_control_files_of_an_older_release_are_named_not_ignored(ray_local, tmp_path):
    old = data_dir(tmp_path) / "_lakebench"
    old.mkdir(parents=True)
    (old / "checkpoint.json").write_text('{"fingerprint": "x", "completed": [0]}')
    _, text = run(tmp_path, "num_files=1", "resume=true")
    assert f"warning: {old} holds control files of an older release (checkpoint.json)" in text, text
    assert "delete" in text
