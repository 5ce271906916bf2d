"""Lakebench's own datagen Job template, rendered with Jinja2 and run pod by pod through the image's
entrypoint against the S3 test server over TLS with a private CA.

``../shared/lakebench/datagen-job.yaml.j2`` (beside the repository) is Lakebench's Indexed Job; its
``args`` and ``env`` are the contract the image must meet. Each pod's container is run as the
kubelet would: its arguments to the entrypoint, its environment with Secret references resolved
and the CA Secret "mounted" in a directory. The bucket must then hold exactly the files
Lakebench's generator writes for those arguments, and ``verify`` must pass.

Whether a pod reaches files past its plan before its ``--duration`` ends depends on how fast the
machine starts Ray: pod 1 therefore runs the same command line in this process with the driver on
a clock that steps a second per reading (``helpers.SteppingClock``), so it always writes some,
and the others run as real pods with a real clock, whose files past the plan (if any) must follow
Lakebench's sequence as well.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from lakebench_ray import layout

from .conftest_s3 import AWS_ENV_VARS_TO_CLEAR, ray_with_env
from .helpers import ROOT, SteppingClock

pytestmark = pytest.mark.slow
TEMPLATE = ROOT.parent / "shared" / "lakebench" / "datagen-job.yaml.j2"
PODS = 2  # the partition rule is the same for any count; each pod run is a Ray start
# Seconds of --duration: on the stepping clock of the pod run in this process, 2 files past its
# plan (readings: the run's start, the pool's start, then one per id until the deadline).
DURATION = 4


def render(values: dict) -> dict:
    jinja2 = pytest.importorskip("jinja2", reason="rendering Lakebench's template needs jinja2 (test extras)")
    if not TEMPLATE.is_file():
        pytest.skip(f"Lakebench's datagen Job template is not beside the repository ({TEMPLATE} is missing)")
    text = jinja2.Environment(autoescape=False).from_string(TEMPLATE.read_text()).render(**values)
    return yaml.safe_load(text)


def pod_command(job: dict, index: int, secrets: dict[str, dict[str, str]], mounts_root: Path):
    """The container of pod ``index`` as the kubelet would start it: (argv, environment)."""
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    volumes = {v["name"]: v["secret"]["secretName"] for v in spec.get("volumes", [])}
    paths = {}
    for mount in container.get("volumeMounts", []):
        local = mounts_root / f"pod-{index}" / mount["name"]
        local.mkdir(parents=True, exist_ok=True)
        for key, value in secrets[volumes[mount["name"]]].items():
            (local / key).write_text(value)
        paths[mount["mountPath"]] = str(local)
    env = {}
    for item in container["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
        else:
            value = item["value"]
            for mount_path, local in paths.items():
                if value.startswith(mount_path + "/"):
                    value = local + value[len(mount_path):]
            env[item["name"]] = value
    env["JOB_COMPLETION_INDEX"] = str(index)  # set by Kubernetes for an Indexed Job
    return [str(a) for a in container["args"]], env


def lakebench_files(args: list[str], node_id: int, extra_cycles: int) -> set[str]:
    """The file names Lakebench's generator writes for these arguments: its documented count and
    partition rule, then ``extra_cycles`` ids of the --duration sequence."""
    opt = {args[i]: args[i + 1] for i in range(len(args) - 1) if args[i].startswith("--") and not args[i + 1].startswith("--")}
    total = max(1, int(float(opt["--target-tb"]) * 2**40 / (float(opt["--file-size-mb"]) * 2**20)))
    nodes = int(opt["--total-nodes"])
    ids = {f for f in range(total) if f % nodes == node_id}
    ids |= {total + cycle * nodes + node_id for cycle in range(extra_cycles)}
    return {f"part-{i:06d}.parquet" for i in ids}


def run_pod_here(argv: list[str], env: dict[str, str], monkeypatch, capsys) -> tuple[int, str]:
    """The pod's command line through the image's command (``lakebench-ray lakebench-job``) in
    this process, with its environment, on a private Ray whose workers have that environment too,
    and the driver on the stepping clock: (exit code, what it printed)."""
    import lakebench_ray.runtime.driver as driver
    from lakebench_ray.cli import main

    for name in (*AWS_ENV_VARS_TO_CLEAR, "AWS_REGION", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(driver, "time", SteppingClock())
    capsys.readouterr()
    with ray_with_env(env):
        code = main(["lakebench-job", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_rendered_job_pods_write_lakebench_files_over_tls(s3_tls_server, s3_tls_bucket, tmp_path, monkeypatch, capsys):
    ca_pem = Path(s3_tls_server.ca_cert).read_text()
    job = render({
        "namespace": "lakebench", "name": "c360", "datagen_image": "lakebench-ray:test",
        "datagen_parallelism": PODS, "datagen_workers": 2, "datagen_mode": "continuous",
        "datagen_target_tb": "0.000007",  # 7 files of 1 MiB, rendered as Lakebench renders a target
        "datagen_file_size_mb": 1, "datagen_payload_kb": 2, "bucket_bronze": s3_tls_bucket,
        "datagen_path_prefix": "customer/interactions/", "datagen_seed": 42, "datagen_dirty_ratio": 0.08,
        "datagen_timestamp_start": "2024-01-01", "datagen_timestamp_end": "2024-01-15",
        "datagen_resume": True, "datagen_duration": DURATION,
        "s3_endpoint": s3_tls_server.endpoint, "s3_region": s3_tls_server.region, "s3_path_style": True,
        "s3_verify_ssl": True, "s3_ca_cert_pem": ca_pem,
    })
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed" and job["spec"]["completions"] == PODS
    secrets = {
        "lakebench-s3-credentials": {"accessKey": s3_tls_server.access_key, "secretKey": s3_tls_server.secret_key},
        "lakebench-ca-certificate": {"ca.crt": ca_pem},
    }
    base_env = {k: v for k, v in os.environ.items()
                if k not in AWS_ENV_VARS_TO_CLEAR and k not in ("AWS_REGION", "RAY_ADDRESS")}
    base_env.update(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
                    AWS_EC2_METADATA_DISABLED="true",
                    PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    ray_tmp = Path(tempfile.mkdtemp(prefix="lbtpl-", dir="/tmp"))
    outputs = []
    try:
        # Each pod, then pod 0 again as Kubernetes restarts a pod: with --resume it skips its files.
        for index in [*range(PODS), 0]:
            argv, env = pod_command(job, index, secrets, tmp_path / "mounts")
            assert env["S3_CA_CERT"].endswith("/ca.crt") and "--resume" in argv and "--duration" in argv
            if index == 1:
                code, said = run_pod_here(argv, {**base_env, **env}, monkeypatch, capsys)
                assert code == 0, said[-3000:]
                outputs.append(said)
                continue
            result = subprocess.run(["sh", str(ROOT / "docker" / "entrypoint.sh"), *argv], cwd=tmp_path,
                                    env={**base_env, **env, "RAY_TMPDIR": str(ray_tmp)},
                                    capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, result.stderr[-3000:]
            outputs.append(result.stdout + result.stderr)
        secret = s3_tls_server.secret_key
        assert all(secret not in text for text in outputs)
        assert not [p for p in ray_tmp.rglob("*") if p.is_file() and not p.is_symlink()
                    and secret.encode() in p.read_bytes()]
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert "0 of 4 files to write" in outputs[-1]  # the restarted pod resumed from its checkpoint (0, 2, 4, 6)

    client = s3_tls_server.client()
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3_tls_bucket, Prefix="customer/interactions/"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    names = {k.rsplit("/", 1)[-1] for k in keys}
    assert all(k.startswith("customer/interactions/part-") for k in keys)  # control files live elsewhere
    # Per pod: its planned ids and a gap-free run of its --duration ids, as Lakebench's generator
    # (pod 1, on the stepping clock, at least one).
    expected: set[str] = set()
    extras = []
    argv, _ = pod_command(job, 0, secrets, tmp_path / "mounts")
    for index in range(PODS):
        cycles = 0
        while lakebench_files(argv, index, cycles + 1) - lakebench_files(argv, index, cycles) <= names:
            cycles += 1
        extras.append(cycles)
        expected |= lakebench_files(argv, index, cycles)
    assert names == expected, sorted(names ^ expected)
    assert len(names) == 7 + sum(extras) and extras[1] > 0, extras
    control = [o["Key"] for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=s3_tls_bucket, Prefix=layout.control_dir("customer/interactions") + "/") for o in page.get("Contents", [])]
    reports = [json.loads(client.get_object(Bucket=s3_tls_bucket, Key=k)["Body"].read())
               for k in control if k.rsplit("/", 1)[-1].startswith("report-") and k.endswith(".json")]  # summaries, not per-file lines
    assert len(reports) == PODS

    verify_env = {**base_env, **s3_tls_server.env}
    result = subprocess.run(
        [sys.executable, "-m", "lakebench_ray", "verify", f"output.uri=s3://{s3_tls_bucket}", "num_files=7",
         "file_size_mb=1", "payload_kb=2", "seed=42", "dirty_ratio=0.08", "timestamp_start=2024-01-01",
         "timestamp_end=2024-01-15", f"duration_s={DURATION}", "progress=false"],
        cwd=ROOT, env=verify_env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    print(f"extra files per pod: {extras}")
