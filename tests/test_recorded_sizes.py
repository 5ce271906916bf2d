"""Rows per file is measured once, by the run that makes a dataset, and read back afterwards.

Calibration depends on the installed pyarrow, yet rows per file shapes every byte and the
fingerprint. These tests make calibration answer differently after a run (as an upgraded pyarrow
could) and show that ``verify`` and a resumed run still take the recorded sizes; and that
without the record the change would have been detected (verify fails, the checkpoint is refused).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

import lakebench_ray
from lakebench_ray import planning
from lakebench_ray.errors import CheckpointMismatchError
from lakebench_ray.planning import find_recorded_sizing, make_plan
from lakebench_ray.sinks import LocalStore
from lakebench_ray.verify import verify
from lakebench_ray.verify.run import verify_dataset

PREFIX = "customer/interactions"
# No rows_per_file: the run calibrates it for 1 MiB files.
CALIBRATED = ["num_files=3", "file_size_mb=1", "payload_kb=0.5", "row_group_mb=0.25", "customer_id_max=20000",
              "progress=false"]


def config_for(root: Path, *extra: str):
    return lakebench_ray.load_config(None, [f"output.uri={root}", *CALIBRATED, *extra])


def other_calibration(monkeypatch, shift: int = 7) -> None:
    """From now on calibration measures ``shift`` more rows per file than it did."""
    measure = planning.calibrate

    def shifted(*args, **kwargs):
        found = measure(*args, **kwargs)
        return dataclasses.replace(found, rows_per_file=found.rows_per_file + shift)

    monkeypatch.setattr(planning, "calibrate", shifted)


class Collect:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass


@pytest.fixture
def dataset(ray_local, tmp_path):
    """A finished calibrated dataset; returns (root, config, the plan the run used)."""
    config = config_for(tmp_path)
    report = lakebench_ray.generate(config)
    assert report.ok and report.files_written == 3
    assert report.plan["rows_per_file_calibrated"]
    return tmp_path, config, make_plan(config)


@pytest.mark.slow
def test_verify_and_resume_take_the_recorded_sizes(dataset, monkeypatch):
    root, config, written = dataset
    other_calibration(monkeypatch)
    measured = make_plan(config)
    assert measured.files.rows_per_file == written.files.rows_per_file + 7
    assert measured.fingerprint != written.fingerprint

    # Without the record, the new measurement would fail a sound dataset ...
    store = LocalStore(root)
    assert not verify_dataset(store, PREFIX, measured).ok
    # ... with it, verify passes and names the sizes the run used.
    result = verify(config)
    assert result.ok, result.problems
    assert result.plan["rows_per_file"] == written.files.rows_per_file
    assert result.plan["config_fingerprint"] == written.fingerprint

    # Resume accepts the checkpoint and regenerates nothing.
    out = Collect()
    report = lakebench_ray.generate(config_for(root, "resume=true"), out=out)
    assert report.files_written == 0 and report.files_skipped == 3
    assert f"{written.files.rows_per_file:,} rows per file as recorded in" in out.text
    assert report.plan["config_fingerprint"] == written.fingerprint
    doc = json.loads((root / "_lakebench" / PREFIX / "checkpoint" / "head.json").read_text())
    assert doc["fingerprint"] == written.fingerprint
    assert doc["plan"]["rows_per_file"] == written.files.rows_per_file


@pytest.mark.slow
def test_without_the_sizes_recorded_the_checkpoint_would_be_refused(dataset, monkeypatch):
    """The same resume, with the checkpoint's sizes and the report removed and the footers no
    longer readable as ours: the new measurement is another configuration, and is refused."""
    root, config, written = dataset
    control = root / "_lakebench" / PREFIX
    doc = json.loads((control / "checkpoint" / "head.json").read_text())
    del doc["plan"]
    (control / "checkpoint" / "head.json").write_text(json.dumps(doc))
    (control / "report.json").unlink()
    other_calibration(monkeypatch)
    store = LocalStore(root)
    # Footers still record the sizes: they are enough.
    found = find_recorded_sizing(store, PREFIX, config)
    assert found is not None and found.rows_per_file == written.files.rows_per_file
    assert "footer" in found.source
    assert verify(config).ok

    for path in (root / PREFIX).glob("part-*.parquet"):
        path.rename(root / ("moved-" + path.name))  # out of the prefix, where they would be refused as foreign
    assert find_recorded_sizing(store, PREFIX, config) is None
    with pytest.raises(CheckpointMismatchError):
        lakebench_ray.generate(config_for(root, "resume=true"))


@pytest.mark.slow
def test_a_record_of_other_targets_is_not_used(dataset):
    """A changed file size asks for other files: the old sizes are not applied to it (and the
    footers, of that old configuration, are not consulted either)."""
    root, config, written = dataset
    store = LocalStore(root)
    assert find_recorded_sizing(store, PREFIX, config).rows_per_file == written.files.rows_per_file
    assert find_recorded_sizing(store, PREFIX, config_for(root, "file_size_mb=2")) is None
    assert find_recorded_sizing(store, PREFIX, config_for(root, "seed=7")) is None
    # Only footers left: the targets are unknown, the fingerprint still decides.
    shutil.rmtree(root / "_lakebench")
    assert find_recorded_sizing(store, PREFIX, config_for(root, "seed=7")) is None
    assert find_recorded_sizing(store, PREFIX, config).fingerprint == written.fingerprint
