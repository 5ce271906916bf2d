"""The same run on every S3 implementation the tests can start: SeaweedFS, moto's server, s3rver.

They differ in what they enforce: SeaweedFS checks conditional writes and every checksum; moto
checks conditional writes and no checksum; s3rver checks neither, and can neither list nor abort
multipart uploads. On each, with default settings: the run completes with at most one warning
line (exactly one where something is weaker), its files are byte-identical to a local run's,
``verify`` passes, the preflight's findings are in the report, and no probe object is left.
The lease is enforced where the server enforces conditional writes and best-effort (warned)
elsewhere; ``s3.conditional_writes=require`` refuses a server that ignores them. The slow cases:
resume after SIGKILL, and SIGTERM mid-upload leaving no upload and no partial object behind.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys

import pytest

import lakebench_ray
from lakebench_ray.errors import LeaseHeld, SinkError
from lakebench_ray.control.lease import Lease
from lakebench_ray.layout import checkpoint_dir, checkpoint_head_key, report_key
from lakebench_ray.sinks import open_store

from .conftest_s3 import new_bucket, ray_with_env, use_server
from .helpers import ROOT, file_bytes, s3_receipts, sha256
from .multinode import wait_for
from .s3server import S3ServerError
from .s3stores import MotoServer, S3rver, install_s3rver

PREFIX = "customer/interactions"
# Files of 6.5 MB: two parts each (s3.part_size_mb=5), so every run also shows that no upload is left open.
ARGS = ["num_files=2", "rows_per_file=1500", "payload_kb=2", "customer_id_max=20000", "progress=false",
        "s3.part_size_mb=5"]
STORES = ["seaweedfs", "moto", "s3rver"]


@pytest.fixture(scope="module", params=STORES)
def server(request, tmp_path_factory):
    """(name, S3ServerInfo) of a running server of each kind."""
    name = request.param
    if name == "seaweedfs":
        yield name, request.getfixturevalue("s3_server")
        return
    if name == "s3rver":
        why = install_s3rver()
        if why is not None:
            pytest.skip(f"s3rver is not available: {why}")
    process = (MotoServer if name == "moto" else S3rver)(tmp_path_factory.mktemp(name))
    try:
        info = process.start()
    except S3ServerError as exc:
        pytest.fail(f"could not start {name}: {exc}", pytrace=False)
    try:
        yield name, info
    finally:
        process.stop()


@pytest.fixture
def env(server, monkeypatch, tmp_path):
    """The environment of a process that uses the server through boto3's standard chain."""
    use_server(server[1], monkeypatch, tmp_path)
    return dict(os.environ)


@pytest.fixture
def bucket(server):
    with new_bucket(server[1].client()) as name:
        yield name


@pytest.fixture(scope="module")
def ray_with(server):
    """A local Ray whose workers see this server's credentials, as pods do from a Secret (one
    per server: the runs in this process and the CLI runs that join it share it)."""
    with ray_with_env(server[1].env) as started:
        yield started


def keys(client, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def open_uploads(client, bucket: str) -> list | None:
    """The server's open uploads, or None when it cannot list them (s3rver)."""
    try:
        return client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    except Exception as exc:  # noqa: BLE001 - botocore's ClientError
        if "NotImplemented" in str(exc):
            return None
        raise


def expected(config) -> dict[str, str]:
    from lakebench_ray.planning import make_plan

    params = make_plan(config).params
    return {f"part-{i:06d}.parquet": sha256(file_bytes(params, i)) for i in range(config.planned_files)}


def object_hashes(client, bucket: str) -> dict[str, str]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/part-").get("Contents", [])
    return {o["Key"].rsplit("/", 1)[-1]: sha256(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read())
            for o in listing}


# -- fast: one run per store -------------------------------------------------------------------------
@pytest.mark.slow
def test_default_run_is_byte_identical_verifies_and_warns_once_at_most(server, ray_with, env, bucket, caplog, capsys):
    name, info = server
    client = info.client()
    config = lakebench_ray.load_config(None, [f"output.uri=s3://{bucket}", *ARGS])
    with caplog.at_level(logging.WARNING):
        report = lakebench_ray.generate(config)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    out = capsys.readouterr().out
    assert report.ok and report.files_written == 2
    assert object_hashes(client, bucket) == expected(config)
    storage = report.storage
    mechanisms = storage["mechanisms"]
    assert f"S3 at {info.endpoint} enforces: " in out
    weaker = mechanisms["lease"] == "best-effort" or mechanisms["checksum"] == "none"
    assert len(warnings) == int(weaker), warnings
    if name == "s3rver":  # it ignores conditional writes and checksums: the warned fallback
        assert mechanisms == {**mechanisms, "lease": "best-effort", "checksum": "none"}
        assert "best-effort" in warnings[0] and "checks no checksum" in warnings[0]
    if name == "seaweedfs":  # it enforces everything asked of it
        assert mechanisms["lease"] == "conditional" and mechanisms["checksum"] == "crc32" and not warnings
    recorded = json.loads(client.get_object(Bucket=bucket, Key=report_key(PREFIX))["Body"].read())
    assert recorded["storage"] == storage
    # Only data, checkpoint and report: no probe, no lease; no open upload where it can be listed.
    found = keys(client, bucket)
    control = [k for k in found if k.startswith(f"_lakebench/{PREFIX}/")]
    assert found == [*control, *(f"{PREFIX}/part-{i:06d}.parquet" for i in range(2))]
    assert report_key(PREFIX) in control and not [k for k in control if "probe" in k or "lease" in k]
    assert open_uploads(client, bucket) in ([], None)
    from lakebench_ray.verify.run import verify

    result = verify(config)
    assert result.ok, result.problems


def test_lease_is_enforced_or_best_effort_and_require_refuses(server, env, bucket):
    name, info = server
    client = info.client()
    store = open_store(f"s3://{bucket}")
    findings = store.preflight()
    conditional = findings.record["mechanisms"]["lease"] == "conditional"
    assert conditional == (findings.record["capabilities"]["conditional_create"]
                           and findings.record["capabilities"]["compare_and_swap"])
    first = Lease(store, PREFIX, ttl_s=30).acquire()
    try:
        other = open_store(f"s3://{bucket}", mechanisms=findings.open_args["mechanisms"])
        with pytest.raises(LeaseHeld, match="is being written by"):
            Lease(other, PREFIX, ttl_s=30).acquire(wait_s=0)
        assert first.renew()
    finally:
        first.release()
    assert keys(client, bucket) == []  # released, and no probe left
    required = open_store(f"s3://{bucket}", {"conditional_writes": "require"})
    if conditional:
        required.preflight()
    else:
        with pytest.raises(SinkError, match="ignores conditional writes") as refused:
            required.preflight()
        assert "\n" not in str(refused.value)
    assert keys(client, bucket) == []  # refused or not, the probe is gone


def test_plan_shows_what_the_store_enforces(server, env, bucket, capsys):
    from lakebench_ray.cli import main

    assert main(["plan", f"output.uri=s3://{bucket}", "num_files=2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["storage"]) == {"endpoint", "capabilities", "mechanisms"}
    assert main(["plan", f"output.uri=s3://{bucket}", "num_files=2"]) == 0
    assert f"storage          S3 at {server[1].endpoint} enforces: conditional create " in capsys.readouterr().out
    assert keys(server[1].client(), bucket) == []


# -- slow: signals -----------------------------------------------------------------------------------
def start(args: list[str], env: dict, address: str = "local") -> subprocess.Popen:
    """A run in its own process group (a pod: killed whole), with its own Ray unless ``address``
    names one to join."""
    return subprocess.Popen([sys.executable, "-m", "lakebench_ray", "generate", *args, f"ray.address={address}"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def checkpointed(client, bucket: str) -> int:
    """Files the run's checkpoint records so far."""
    try:
        return len(s3_receipts(client, bucket, PREFIX))
    except (ValueError, KeyError):  # not written yet, or being written
        return 0


# Files of 8.7 MB (two parts): the signal lands while files are still to do and one is mid-upload.
SIGNAL_ARGS = ["rows_per_file=2000", "payload_kb=2", "customer_id_max=20000", "checkpoint.every_files=1",
               "ray.num_actors=1", "s3.part_size_mb=5", "progress=false"]


@pytest.mark.slow
def test_resume_after_sigkill_gives_the_same_bytes(server, ray_with, env, bucket):
    """A run killed whole (driver and its own Ray, as a pod) after its first checkpoint; the
    resume (in this process, on the server's shared Ray) gives the same bytes as one run."""
    if server[0] == "s3rver":
        pytest.skip("s3rver writes objects in place: a client killed mid-PUT leaves a torn object in the "
                    "bucket, listed without its metadata, and s3rver then answers the bucket's listing with HTTP 500")
    client = server[1].client()
    args = [f"output.uri=s3://{bucket}", "num_files=10", *SIGNAL_ARGS]
    proc = start(args, env)
    try:
        wait_for(lambda: checkpointed(client, bucket) >= 1 or proc.poll() is not None, 180, "a first checkpoint")
        assert proc.poll() is None, proc.stderr.read()
    finally:
        # The whole run, its Ray included, as when a pod is killed: a checkpoint actor that lived
        # on would still be rewriting the checkpoint, which s3rver does not replace atomically.
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    config = lakebench_ray.load_config(None, [*args, "resume=true"])
    report = lakebench_ray.generate(config)
    assert report.ok and report.files_skipped >= 1 and report.files_skipped + report.files_written == 10
    assert object_hashes(client, bucket) == expected(config)
    assert open_uploads(client, bucket) in ([], None)
    assert not [k for k in keys(client, bucket) if "/.probe-" in k or k.endswith("lease.json")]


@pytest.mark.slow
def test_sigterm_mid_upload_leaves_no_upload_nor_partial_object(server, ray_with, env, bucket):
    """SIGTERM to the driver (it joins the server's shared Ray, as a driver joins its cluster):
    what is in flight is aborted before it exits."""
    name, info = server
    client = info.client()
    args = [f"output.uri=s3://{bucket}", "num_files=8", *SIGNAL_ARGS]
    listable = open_uploads(client, bucket) is not None
    proc = start(args, env, ray_with.get_runtime_context().gcs_address)

    def uploading() -> bool:
        if listable:  # a data file's upload (not the preflight's probe)
            return any(u["Key"].startswith(PREFIX) for u in open_uploads(client, bucket))
        # s3rver cannot list uploads: a part on its disk once the run is past its preflight (the
        # checkpoint is saved before any file) says one is under way.
        if checkpoint_head_key(checkpoint_dir(PREFIX)) not in keys(client, bucket):
            return False
        return any(name.isdigit() for _, _, names in os.walk(os.path.join(info.data_dir, "data", bucket))
                   for name in names)

    try:
        wait_for(lambda: uploading() or proc.poll() is not None, 180, "an upload under way", interval=0.02)
        assert proc.poll() is None, proc.stderr.read()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM" in stderr
    assert open_uploads(client, bucket) in ([], None)
    # Every data object is a complete file of the plan; the checkpoint names only such files.
    config = lakebench_ray.load_config(None, args)
    want = expected(config)
    found = object_hashes(client, bucket)
    assert all(want[k] == v for k, v in found.items()) and len(found) < 8
    assert checkpointed(client, bucket) <= len(found)
