"""SIGTERM / SIGINT on a real `lakebench-ray generate`, and losing the checkpoint actor.

A stopped run exits non-zero with one line, well within Kubernetes' 30 s grace period, leaves no
temp file or open multipart upload, and its checkpoint lets resume=true finish the same bytes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import ray

import lakebench_ray
from lakebench_ray.layout import report_key

from .helpers import ROOT, file_bytes, local_receipts, s3_receipts, sha256
from .multinode import Background, checkpoint_count, wait_for

PREFIX = "customer/interactions"
# Where the run keeps its checkpoint and report, as the runtime names them.
REPORT = report_key(PREFIX)
# Files a run is still busy with when the test acts on it after its first one or two: enough of
# them, each small (they are written twice, and computed once more here to compare).
ARGS = ["rows_per_file=3000", "payload_kb=1", "customer_id_max=20000", "checkpoint.every_files=1", "ray.num_actors=1"]
# Over S3, files of more than one 5 MiB part, so that a run is stopped during a multipart upload.
S3_ARGS = ["rows_per_file=6000", "payload_kb=2", "customer_id_max=20000", "checkpoint.every_files=1", "ray.num_actors=1"]


def expected(config) -> dict[str, str]:
    from lakebench_ray.planning import make_plan

    params = make_plan(config).params
    return {f"part-{i:06d}.parquet": sha256(file_bytes(params, i)) for i in range(config.planned_files)}


def start(args: list[str], env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lakebench_ray", "generate", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen, signum: int, ready, timeout: float = 120) -> tuple[float, str]:
    """Wait until ``ready()``, send ``signum``; returns (seconds to exit, stderr)."""
    try:
        wait_for(lambda: ready() or proc.poll() is not None, timeout, "the run to write a first file", interval=0.05)
        assert proc.poll() is None, f"the run ended before the signal: {proc.stderr.read()}"
        sent = time.monotonic()
        os.kill(proc.pid, signum)
        proc.wait(timeout=60)
        return time.monotonic() - sent, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "*** " not in stderr and "SIGSEGV" not in stderr, stderr
    return lines[0]


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_resumes(ray_local, tmp_path):
    """The driver owns its Ray here (ray.address=local), as a fresh pod does; the resume runs in
    this process, on the local Ray the other tests here share."""
    out = tmp_path / "run"
    args = [f"output.uri={out}", "num_files=20", *ARGS, "progress=false"]
    proc = start([*args, "ray.address=local"])
    seconds, stderr = stop(proc, signal.SIGTERM, lambda: checkpoint_count(out) >= 1)
    print(f"SIGTERM to exit: {seconds:.1f}s")
    assert proc.returncode == 128 + signal.SIGTERM
    line = one_line(stderr)
    assert line.startswith("lakebench-ray: error: stopped by SIGTERM: ") and "checkpointed" in line, line
    assert "resume=true" in line
    assert seconds < 20, seconds
    data = out / PREFIX
    assert not [p.name for p in data.iterdir() if p.name.startswith(".")], "temp files left behind"
    saved = sorted(local_receipts(out))
    present = sorted(int(p.name[5:11]) for p in data.glob("part-*.parquet"))
    assert set(saved) <= set(present) and len(saved) < 20
    config = lakebench_ray.load_config(None, [*args, "resume=true"])
    report = lakebench_ray.generate(config)
    assert report.files_skipped == len(saved) and report.files_written == 20 - len(saved)
    assert {p.name: sha256(p.read_bytes()) for p in data.glob("part-*.parquet")} == expected(config)


@pytest.mark.slow
def test_sigint_on_s3_leaves_no_open_upload(s3_env, s3_server, s3_bucket, s3_client, tmp_path):
    args = [f"output.uri=s3://{s3_bucket}", "num_files=8", *S3_ARGS, "s3.part_size_mb=5", "progress=false"]
    proc = start([*args, "ray.address=local"], env=dict(os.environ, **s3_server.env))

    def uploading() -> bool:  # a data file's upload, not the storage check's probe (which is not under PREFIX)
        uploads = s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
        return any(u["Key"].startswith(f"{PREFIX}/part-") for u in uploads)

    seconds, stderr = stop(proc, signal.SIGINT, uploading)
    print(f"SIGINT to exit: {seconds:.1f}s")
    assert proc.returncode == 128 + signal.SIGINT
    assert one_line(stderr).startswith("lakebench-ray: error: stopped by SIGINT: ")
    assert seconds < 20, seconds
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert len(s3_receipts(s3_client, s3_bucket)) < 8


def checkpoint_actor():
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
             if a["name"].startswith("lakebench-checkpoint-")]
    return ray.get_actor(names[-1]) if names else None


@pytest.mark.parametrize("restart", [True, False], ids=["restarted", "gone"])
@pytest.mark.slow
def test_checkpoint_actor_lost_mid_run(ray_local, tmp_path, restart, caplog):
    """Restarted, it is sent again what this run did; gone for good, the driver keeps the
    checkpoint. Either way: a complete checkpoint and a report, no ActorDiedError."""
    # Many small files: the run is still far from done when the actor is lost, on any machine.
    config = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", "num_files=40", *ARGS, "rows_per_file=1000",
                                              "payload_kb=0.25", "progress=false"])
    run = Background(config)
    wait_for(lambda: checkpoint_count(tmp_path) >= 2, 120, "two files checkpointed")
    ray.kill(checkpoint_actor(), no_restart=not restart)
    assert checkpoint_count(tmp_path) < 34 and run.thread.is_alive(), "the run ended before the actor was lost"
    report = run.result()
    assert "the checkpoint actor was lost" in caplog.text
    if not restart:
        assert "the driver keeps the checkpoint from now on" in caplog.text
    assert report.ok and report.files_written == 40
    assert sorted(local_receipts(tmp_path)) == list(range(40))
    assert json.loads((tmp_path / REPORT).read_text())["files_written"] == 40
