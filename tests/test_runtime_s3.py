"""Runs into the S3 test server: same bytes as a local run, faults, resume, preflight errors."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import zlib

import pytest

import lakebench_ray
from lakebench_ray.errors import GenerationFailed

from .conftest_s3 import ray_with_env
from .helpers import ROOT, dir_hashes, file_bytes, s3_receipts, sha256

pytestmark = pytest.mark.slow
PREFIX = "customer/interactions"
# Files of 6.5 MB: two parts each (s3.part_size_mb=5), so every file is a multipart upload.
ARGS = ["num_files=3", "rows_per_file=1500", "payload_kb=2", "customer_id_max=20000", "progress=false",
        "s3.part_size_mb=5"]


@pytest.fixture(scope="module")
def ray_s3(s3_server):
    """A local Ray whose every worker sees the test server's credentials in its environment."""
    with ray_with_env(s3_server.env) as started:
        yield started


def s3_config(bucket: str, *extra: str):
    return lakebench_ray.load_config(None, [f"output.uri=s3://{bucket}", *ARGS, *extra])


def object_hashes(client, bucket: str) -> dict[str, str]:
    listing = client.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/part-").get("Contents", [])
    return {o["Key"].rsplit("/", 1)[-1]: sha256(client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in listing}


def expected(config) -> dict[str, str]:
    from lakebench_ray.planning import make_plan

    params = make_plan(config).params
    return {f"part-{i:06d}.parquet": sha256(file_bytes(params, i)) for i in range(config.planned_files)}


def test_s3_run_equals_local_run(ray_s3, s3_env, s3_bucket, s3_client, tmp_path):
    report = lakebench_ray.generate(s3_config(s3_bucket))
    assert report.files_written == 3
    local = tmp_path / "local"
    lakebench_ray.generate(lakebench_ray.load_config(None, [f"output.uri={local}", *ARGS]))
    assert object_hashes(s3_client, s3_bucket) == dir_hashes(local / PREFIX)
    receipts = s3_receipts(s3_client, s3_bucket, PREFIX)
    assert sorted(receipts) == [0, 1, 2]
    report_doc = json.loads(s3_client.get_object(Bucket=s3_bucket, Key=f"_lakebench/{PREFIX}/report.json")["Body"].read())
    assert report_doc["files_written"] == 3
    secret, access = os.environ["AWS_SECRET_ACCESS_KEY"], os.environ["AWS_ACCESS_KEY_ID"]
    assert secret and access and secret not in json.dumps(report_doc) and access not in json.dumps(report_doc)
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    # Only data files under the data prefix; checkpoint and report in the control directory;
    # no lease or probe left behind.
    keys = sorted(o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"])
    control = [k for k in keys if k.startswith("_lakebench/")]
    assert keys == [*control, *(f"{PREFIX}/part-{i:06d}.parquet" for i in range(3))]
    assert [k for k in control if not k.startswith(f"_lakebench/{PREFIX}/checkpoint/")] == [
        f"_lakebench/{PREFIX}/report-files.jsonl", f"_lakebench/{PREFIX}/report.json"]
    lines = [json.loads(line) for line in s3_client.get_object(
        Bucket=s3_bucket, Key=f"_lakebench/{PREFIX}/report-files.jsonl")["Body"].read().splitlines()]
    by_id = {f["file_id"]: f for f in lines}
    # Each file's digest: the CRC32 of its bytes, which S3 also keeps as the object's full-object
    # checksum (verified by the server on completion), and its ETag as the version tag.
    for i in range(3):
        key = f"{PREFIX}/part-{i:06d}.parquet"
        data = s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        head = s3_client.head_object(Bucket=s3_bucket, Key=key, ChecksumMode="ENABLED")
        recorded = receipts[i]
        assert recorded["crc32"] == f"{zlib.crc32(data):08x}" and recorded["size"] == len(data)
        assert base64.b64decode(head["ChecksumCRC32"]) == zlib.crc32(data).to_bytes(4, "big")
        assert head.get("ChecksumType") == "FULL_OBJECT" and recorded["tag"] == head["ETag"]
        assert by_id[i]["crc32"] == recorded["crc32"]


def test_s3_resume_regenerates_deleted_and_replaced_objects(ray_s3, s3_env, s3_bucket, s3_client):
    config = s3_config(s3_bucket)
    lakebench_ray.generate(config)
    s3_client.delete_object(Bucket=s3_bucket, Key=f"{PREFIX}/part-000000.parquet")
    key = f"{PREFIX}/part-000002.parquet"
    data = bytearray(s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 1  # same size, other bytes: a new ETag
    s3_client.put_object(Bucket=s3_bucket, Key=key, Body=bytes(data))
    report = lakebench_ray.generate(s3_config(s3_bucket, "resume=true"))
    assert sorted(f["file_id"] for f in report.files) == [0, 2] and report.files_skipped == 1
    assert object_hashes(s3_client, s3_bucket) == expected(config)


def test_transient_faults_still_give_identical_bytes(ray_s3, s3_env, s3_bucket, s3_client, s3_fault_proxy):
    s3_fault_proxy.fail_part_uploads("503", times=3)
    s3_fault_proxy.fail_part_uploads("drop", times=2)
    config = s3_config(s3_bucket, f"s3.endpoint_url={s3_fault_proxy.endpoint}")
    report = lakebench_ray.generate(config)
    assert report.ok and report.files_written == 3
    assert s3_fault_proxy.stats.faults["503"] == 3 and s3_fault_proxy.stats.faults["drop"] == 2
    assert object_hashes(s3_client, s3_bucket) == expected(config)


def test_permanent_failure_fails_the_run_and_leaves_nothing(ray_s3, s3_env, s3_bucket, s3_client, s3_fault_proxy):
    s3_fault_proxy.fail_part_uploads("503", times=None)
    config = s3_config(s3_bucket, f"s3.endpoint_url={s3_fault_proxy.endpoint}", "num_files=1", "s3.max_attempts=2",
                       "ray.max_file_attempts=2")
    with pytest.raises(GenerationFailed, match=r"\(part-000000\.parquet\): (SinkError|StorageUnavailable): "):
        lakebench_ray.generate(config)
    assert s3_client.list_objects_v2(Bucket=s3_bucket, Prefix=f"{PREFIX}/part-").get("KeyCount", 0) == 0
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    head = s3_client.get_object(Bucket=s3_bucket, Key=f"_lakebench/{PREFIX}/checkpoint/head.json")["Body"].read()
    assert json.loads(head)["fingerprint"] and s3_receipts(s3_client, s3_bucket, PREFIX) == {}


def test_resume_after_driver_sigkill_during_uploads(ray_s3, s3_env, s3_server, s3_bucket, s3_client):
    # Files of 8.7 MB (two parts): several still to do when the driver is killed.
    args = [f"output.uri=s3://{s3_bucket}", "num_files=8", "rows_per_file=2000", "payload_kb=2", "customer_id_max=20000",
            "s3.part_size_mb=5", "checkpoint.every_files=1", "progress=false"]
    env = dict(os.environ, **s3_server.env)
    gcs = ray_s3.get_runtime_context().gcs_address
    proc = subprocess.Popen([sys.executable, "-m", "lakebench_ray", "generate", *args, f"ray.address={gcs}", "ray.num_actors=1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def done() -> int:
        return len(s3_receipts(s3_client, s3_bucket, PREFIX))

    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and done() < 2:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert 2 <= done() < 8
    config = lakebench_ray.load_config(None, [*args, "resume=true"])
    report = lakebench_ray.generate(config)
    assert report.files_skipped >= 2 and report.files_skipped + report.files_written == 8
    assert object_hashes(s3_client, s3_bucket) == expected(config)
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def run_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lakebench_ray", "generate", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "case, needle",
    [
        ("endpoint", "cannot reach S3 endpoint http://127.0.0.1:1"),
        ("bucket", "does not exist at"),
        ("credentials", "credentials"),
    ],
)
def test_preflight_errors_one_line(s3_env, s3_server, s3_bucket, case, needle):
    env = dict(os.environ)
    uri = f"s3://{s3_bucket}"
    extra = []
    if case == "endpoint":
        extra.append("s3.endpoint_url=http://127.0.0.1:1")
    elif case == "bucket":
        uri = "s3://no-such-bucket-lakebench"
    else:
        env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret-key-value"
    result = run_cli(env, f"output.uri={uri}", "num_files=1", *extra)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "wrong-secret-key-value" not in result.stderr and s3_server.secret_key not in result.stderr
    if case == "bucket":
        assert "create it or set output.create_bucket=true" in lines[0]


def test_second_run_on_an_s3_prefix_is_refused_naming_the_holder(ray_s3, s3_env, s3_server, s3_bucket, s3_client):
    """A live lease (held and renewed by this test process) refuses a real second run in one
    line, before it touches anything. The run joins the module's Ray (the lease is taken once
    Ray is joined, so a Ray of its own would only cost a start)."""
    from lakebench_ray.control.lease import Lease
    from lakebench_ray.sinks import open_store

    store = open_store(f"s3://{s3_bucket}")
    lease = Lease(store, PREFIX, ttl_s=2).acquire().start_renewing()
    try:
        result = run_cli(dict(os.environ, **s3_server.env), f"output.uri=s3://{s3_bucket}", "num_files=1",
                         "progress=false", f"ray.address={ray_s3.get_runtime_context().gcs_address}")
    finally:
        lease.release()
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"is being written by run {lease.holder} on host {lease.host} (pid {os.getpid()}" in lines[0]
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket).get("Contents", [])]
    assert keys == [], keys  # nothing written, and our lease released
