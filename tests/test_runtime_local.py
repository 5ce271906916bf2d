"""End to end on a real local Ray runtime, writing to a local directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

import lakebench_ray
from lakebench_ray.errors import CheckpointMismatchError

from .helpers import ROOT, dir_hashes, file_bytes, local_receipts, sha256

SMALL = ["num_files=4", "rows_per_file=3000", "payload_kb=0.5", "customer_id_max=20000", "progress=false"]


def config_for(out: Path, *extra: str):
    return lakebench_ray.load_config(None, [f"output.uri={out}", *SMALL, *extra])


def data_dir(out: Path) -> Path:
    return out / "customer" / "interactions"


def control_dir(out: Path) -> Path:
    return out / "_lakebench" / "customer" / "interactions"


def empty_dirs(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir() and not any(p.iterdir())]


@pytest.mark.slow
def test_runs_in_one_process_leave_no_checkpoint_actor_behind(ray_local, tmp_path):
    """As in a notebook: Ray stays up between runs, and each run's checkpoint actor ends with it."""
    import ray

    def checkpoint_actors() -> list[str]:
        return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                if a["name"].startswith("lakebench-checkpoint-")]

    before = set(checkpoint_actors())  # (runs of other tests in this process)
    for run in range(2):
        assert lakebench_ray.generate(config_for(tmp_path / str(run), "num_files=2")).ok
    deadline = time.monotonic() + 30
    while set(checkpoint_actors()) - before and time.monotonic() < deadline:  # a killed actor's name goes shortly
        time.sleep(0.2)
    assert not set(checkpoint_actors()) - before


def test_generate_end_to_end(ray_local, tmp_path):
    config = config_for(tmp_path)
    report = lakebench_ray.generate(config)
    assert report.ok and report.files_written == 4 and report.rows == 4 * 3000
    names = sorted(p.name for p in data_dir(tmp_path).glob("*.parquet"))
    assert names == [f"part-{i:06d}.parquet" for i in range(4)]
    # Same bytes as the pure core makes them.
    from lakebench_ray.planning import make_plan

    params = make_plan(config).params
    for i in range(4):
        assert sha256((data_dir(tmp_path) / f"part-{i:06d}.parquet").read_bytes()) == sha256(file_bytes(params, i))
    meta = control_dir(tmp_path)
    saved = json.loads((meta / "report.json").read_text())
    lines = sorted((json.loads(line) for line in (meta / "report-files.jsonl").read_text().splitlines()),
                   key=lambda f: f["file_id"])
    assert saved["files_written"] == 4 and len(lines) == 4 and report.files == lines
    assert all(f["node_id"] and f["seconds"] > 0 for f in lines)
    receipts = local_receipts(tmp_path)
    head = json.loads((meta / "checkpoint" / "head.json").read_text())
    assert sorted(receipts) == [0, 1, 2, 3] and head["fingerprint"] == params.fingerprint()
    # Every file's digest, computed while it streamed out, is the CRC32 of the bytes on disk,
    # in the checkpoint and in the report.
    for i in range(4):
        data = (data_dir(tmp_path) / f"part-{i:06d}.parquet").read_bytes()
        recorded = receipts[i]
        assert recorded["crc32"] == f"{zlib.crc32(data):08x}" and recorded["size"] == len(data)
        assert lines[i]["crc32"] == recorded["crc32"] and lines[i]["tag"] == recorded["tag"]
    # Only data files under the data prefix; control files beside it; no empty folder anywhere.
    assert sorted(p.name for p in data_dir(tmp_path).iterdir()) == names
    assert sorted(p.name for p in meta.iterdir()) == ["checkpoint", "report-files.jsonl", "report.json"]
    assert empty_dirs(tmp_path) == []
    # The API leaves a Ray it did not start running.
    assert ray_local.is_initialized()


@pytest.mark.slow
def test_pool_size_does_not_change_bytes(ray_local, tmp_path):
    hashes = []
    for actors in (1, 2):
        out = tmp_path / f"a{actors}"
        lakebench_ray.generate(config_for(out, f"ray.num_actors={actors}"))
        hashes.append(dir_hashes(out))
    assert hashes[0] == hashes[1] and len(hashes[0]) == 4


@pytest.mark.slow
def test_loyalty_table_is_shared_read_only(ray_local):
    """Actors get a read-only view of the object store's copy, not a private copy."""
    import numpy as np

    from lakebench_ray.core import build_loyalty_table
    from lakebench_ray.runtime.actors import GeneratorActor

    table = build_loyalty_table(42, 4_000_000, "lakebench")
    ref = ray_local.put(table)
    cls = ray_local.remote(num_cpus=0)(GeneratorActor)
    params = {"rows_per_file": 10, "row_group_rows": 10, "customer_id_max": 4_000_000}
    actors = [cls.remote(params, ref, {"uri": "/tmp/unused"}, "p") for _ in range(2)]
    infos = ray_local.get([a.loyalty_info.remote() for a in actors])
    for info in infos:
        assert info["writeable"] is False and info["owndata"] is False
        assert info["nbytes"] == table.nbytes
        # The view lies in a shared mapping of the object store ('s' flag, plasma file), which
        # is what makes it one copy per node instead of one per actor.
        assert info["mapping_shared"], info["mapping"]
    assert len({info["pid"] for info in infos}) == 2
    # Both actors map the same bytes of the same object-store file: one copy for the node.
    assert len({(info["mapping"].split()[-2], info["offset_in_mapping"]) for info in infos}) == 1
    for a in actors:
        ray_local.kill(a)
    assert np.array_equal(ray_local.get(ref), table)


@pytest.mark.slow
def test_checkpoint_of_other_config_is_refused(ray_local, tmp_path):
    lakebench_ray.generate(config_for(tmp_path, "num_files=2"))
    with pytest.raises(CheckpointMismatchError, match="another configuration"):
        lakebench_ray.generate(config_for(tmp_path, "num_files=2", "seed=7", "resume=true"))
    # Resuming with the same config skips everything.
    report = lakebench_ray.generate(config_for(tmp_path, "num_files=2", "resume=true"))
    assert report.files_written == 0 and report.files_skipped == 2


@pytest.mark.slow
def test_resume_after_driver_sigkill(ray_local, tmp_path):
    """SIGKILL the driver mid-run, resume, and get the complete, byte-identical set."""
    out = tmp_path / "run"
    gcs = ray_local.get_runtime_context().gcs_address
    args = [
        sys.executable, "-m", "lakebench_ray", "generate", f"output.uri={out}", "num_files=20",
        "rows_per_file=3000", "payload_kb=1", "customer_id_max=20000", "checkpoint.every_files=1",
        f"ray.address={gcs}", "ray.num_actors=1",
    ]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if len(local_receipts(out)) >= 2:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("the run never checkpointed two files")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    done = sorted(local_receipts(out))
    assert len(done) < 20, "the driver finished before it was killed"

    report = lakebench_ray.generate(
        lakebench_ray.load_config(None, args[4:-2] + ["resume=true", "progress=false"])
    )
    assert report.files_skipped >= len(done) and report.files_written + report.files_skipped == 20
    reference = tmp_path / "reference"
    lakebench_ray.generate(lakebench_ray.load_config(None, args[4:-2] + [f"output.uri={reference}", "progress=false"]))
    assert dir_hashes(out) == dir_hashes(reference)
    leftovers = [p.name for p in data_dir(out).iterdir() if p.name.startswith(".")]
    assert leftovers == [], "temp files left behind"
