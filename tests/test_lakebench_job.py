"""Lakebench's datagen Job contract: its arguments and environment mapped onto the normal config,
and pods run through the entry point into the S3 test server.

The pods run here join one local Ray started with the server's credentials (``RAY_ADDRESS``, as
pods of a RayJob join their cluster) instead of each starting its own: what they check is the
files the Job writes, not a Ray start, which ``tests/test_lakebench_template.py`` (pods exactly as
Kubernetes starts them), the README's command and the SIGTERM test do."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lakebench_ray.errors import ConfigError, UsageError
from lakebench_ray.lakebench.job import job_layer, job_notes, lakebench_num_files, load_job_config, parse_job_args

from .conftest_s3 import AWS_ENV_VARS_TO_CLEAR, ray_with_env
from .helpers import ROOT

BASE = ["--target-tb", "0.009766", "--bucket", "bronze"]


def test_file_count_is_lakebench_formula():
    # Scale 1 as Lakebench renders it ("0.009766" TiB): 20 files of 512 MiB, 160 of 64 MiB.
    assert lakebench_num_files(0.009766, 512) == 20
    assert lakebench_num_files(0.009766, 64) == 160
    assert lakebench_num_files(0.09766, 512) == 200
    assert lakebench_num_files(1e-9, 512) == 1  # never zero
    assert lakebench_num_files(5 / 2**20, 1) == 5


def test_arguments_map_onto_the_config():
    config = load_job_config(
        [*BASE, "--mode", "batch", "--file-size-mb", "64", "--payload-kb", "1", "--prefix", "customer/interactions/",
         "--seed", "7", "--dirty-ratio", "0.1", "--total-nodes", "4", "--workers", "2", "--timestamp-start",
         "2024-03-01", "--timestamp-end", "2024-04-01", "--resume", "--duration", "90"],
        {"JOB_COMPLETION_INDEX": "3"},
    )
    assert config.num_files == 160 and config.file_size_mb == 64 and config.payload_kb == 1
    assert config.output.uri == "s3://bronze" and config.output.prefix == "customer/interactions"
    assert config.seed == 7 and config.dirty_ratio == 0.1
    assert (config.partition.count, config.partition_index()) == (4, 3)
    assert config.ray.num_actors == 2
    assert (config.timestamp_start, config.timestamp_end) == ("2024-03-01", "2024-04-01")
    assert config.resume is True and config.resume_mismatch == "restart"
    assert config.duration_s is None  # Lakebench's generator ignores --duration outside --mode continuous
    assert config.fixed_rows_per_file == 64 * 2**20 // 4200  # Lakebench's formula for 64 MiB files
    continuous = load_job_config([*BASE, "--mode", "continuous", "--duration", "90"], {})
    assert continuous.duration_s == 90 and continuous.fixed_rows_per_file == 127_826


def test_duration_without_continuous_mode_is_a_note():
    assert job_notes(parse_job_args([*BASE, "--mode", "batch", "--duration", "1800"], {})) == [
        "--duration 1800 applies only with --mode continuous (as in Lakebench's generator): "
        "this --mode batch Job writes the planned files and exits"
    ]
    assert job_notes(parse_job_args([*BASE, "--mode", "continuous", "--duration", "1800"], {})) == []
    assert job_notes(parse_job_args(BASE, {})) == []


def test_node_id_argument_wins_over_the_environment():
    args = parse_job_args([*BASE, "--total-nodes", "3", "--node-id", "1"], {"JOB_COMPLETION_INDEX": "2"})
    assert args.node_id == 1
    assert parse_job_args([*BASE, "--total-nodes", "3"], {}).node_id is None
    assert load_job_config([*BASE, "--total-nodes", "3"], {}).partition_index() == 0


def test_workers_share_the_pod_cpus_or_use_a_cluster():
    args = parse_job_args([*BASE, "--workers", "3"], {})
    assert job_layer(args, {}, cpus=2)["ray"] == {"num_actors": 3, "cpus_per_actor": 0.6666}
    assert job_layer(args, {}, cpus=4)["ray"] == {"num_actors": 3}
    assert job_layer(args, {"RAY_ADDRESS": "10.0.0.1:6379"}, cpus=1)["ray"] == {"num_actors": 3}
    continuous = parse_job_args([*BASE, "--mode", "continuous", "--workers", "3"], {})
    assert job_layer(continuous, {}, cpus=2)["ray"] == {"num_actors": None}


@pytest.mark.parametrize(
    "argv, needle",
    [
        ([*BASE, "--bogus", "1"], "unrecognized arguments: --bogus 1"),
        ([*BASE, "--work", "2"], "unrecognized arguments: --work 2"),  # no prefix matching
        (["--bucket", "b"], "the following arguments are required: --target-tb"),
        ([*BASE, "--mode", "fast"], "argument --mode: invalid choice: 'fast'"),
        ([*BASE, "--target-tb", "-1"], "argument --target-tb: must be a finite number greater than 0"),
        ([*BASE, "--workers", "0"], "argument --workers: must be greater than 0"),
    ],
)
def test_bad_arguments_are_usage_errors(argv, needle):
    with pytest.raises(UsageError, match=needle.replace("(", r"\(")):
        parse_job_args(argv, {})


def test_values_are_checked_like_any_config():
    with pytest.raises(ConfigError, match="dirty_ratio: must be between 0 and 1"):
        load_job_config([*BASE, "--dirty-ratio", "2"], {})
    with pytest.raises(ConfigError, match="node id 4 is not below --total-nodes 4"):
        parse_job_args([*BASE, "--total-nodes", "4"], {"JOB_COMPLETION_INDEX": "4"})


def pod_env(s3_server, **extra: str) -> dict[str, str]:
    """A pod's environment as Lakebench's Job sets it (S3_REGION, not AWS_REGION)."""
    env = {k: v for k, v in os.environ.items() if k not in AWS_ENV_VARS_TO_CLEAR and k != "AWS_REGION"}
    env.update(
        AWS_ACCESS_KEY_ID=s3_server.access_key, AWS_SECRET_ACCESS_KEY=s3_server.secret_key,
        AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        S3_ENDPOINT=s3_server.endpoint, S3_REGION=s3_server.region, S3_PATH_STYLE="true",
    )
    env.pop("RAY_ADDRESS", None)
    env.update(extra)
    return env


def run_job(argv, env, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lakebench_ray", "lakebench-job", *argv], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_unknown_argument_refused_in_one_line_nothing_written(s3_server, s3_client, s3_bucket):
    result = run_job(["--target-tb", "0.001", "--bucket", s3_bucket, "--threads", "4"], pod_env(s3_server))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "lakebench-ray: error: lakebench-job: unrecognized arguments: --threads 4 "
        "(see lakebench-ray lakebench-job --help)"
    ]
    assert s3_client.list_objects_v2(Bucket=s3_bucket).get("KeyCount", 0) == 0


def test_the_translations_import_neither_ray_nor_boto3_nor_omegaconf():
    code = ("import sys, lakebench_ray.lakebench.job, lakebench_ray.lakebench.config_file, lakebench_ray.lakebench.secret; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'boto3', 'botocore', 'omegaconf'}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


@pytest.fixture
def ray_of_pods(s3_server):
    """The ``RAY_ADDRESS`` of a local Ray whose workers have the server's credentials."""
    with ray_with_env(s3_server.env) as ray:
        yield ray.get_runtime_context().gcs_address


@pytest.mark.slow
def test_pods_write_the_lakebench_file_set_ignore_duration_and_restart_over_an_edited_config(
        s3_server, s3_client, s3_bucket, ray_of_pods, monkeypatch):
    """Two pods of an Indexed ``--mode batch --duration N`` Job (what Lakebench renders for
    sustained pipelines at small scale; JOB_COMPLETION_INDEX 0 and 1) write exactly the 5 planned
    files between them, each file with the row count of Lakebench's formula; pod 0 run again with
    ``--resume`` after the user edited the dates exits 0 having rewritten its own files, and only
    those, for the new configuration, which ``verify`` passes."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    from lakebench_ray.format.parquet import META_FINGERPRINT
    from lakebench_ray.planning import make_plan

    argv = ["--target-tb", repr(5 / 2**20), "--mode", "batch", "--file-size-mb", "1", "--payload-kb", "1",
            "--bucket", s3_bucket, "--prefix", "customer/interactions/", "--seed", "42", "--dirty-ratio", "0.08",
            "--total-nodes", "2", "--workers", "2", "--duration", "600"]
    edited = [*argv, "--timestamp-start", "2024-06-01", "--resume"]
    pod = [{"JOB_COMPLETION_INDEX": str(index), "RAY_ADDRESS": ray_of_pods} for index in (0, 1)]
    mine = [[i for i in range(5) if i % 2 == index] for index in (0, 1)]

    def files() -> dict[int, dict]:
        found = {}
        for obj in s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="customer/interactions/")["Contents"]:
            body = s3_client.get_object(Bucket=s3_bucket, Key=obj["Key"])["Body"].read()
            meta = pq.ParquetFile(pa.BufferReader(body)).metadata
            assert obj["Key"].startswith("customer/interactions/part-"), obj["Key"]  # control files live elsewhere
            found[int(obj["Key"][-14:-8])] = {"rows": meta.num_rows,
                                               "fingerprint": meta.metadata[META_FINGERPRINT.encode()].decode()}
        return found

    plans = [make_plan(load_job_config(argv, pod[index])) for index in (0, 1)]
    for index in (0, 1):
        result = run_job(argv, pod_env(s3_server, **pod[index]))
        assert result.returncode == 0, result.stderr
        assert f"{len(mine[index])} of {len(mine[index])} files to write" in result.stdout
        assert "--duration 600 applies only with --mode continuous" in result.stdout
    first = files()
    assert sorted(first) == list(range(5))
    assert plans[0].files.num_files == 5 and plans[0].files.rows_per_file == max(1000, 2**20 // 4200)
    assert {f["rows"] for f in first.values()} == {plans[0].files.rows_per_file}
    for index in (0, 1):
        assert {first[i]["fingerprint"] for i in mine[index]} == {plans[index].fingerprint}

    result = run_job(edited, pod_env(s3_server, **pod[0]))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "of another configuration" in warnings[0] and "starts over" in warnings[0]
    new_plan = make_plan(load_job_config(edited, pod[0]))
    assert new_plan.fingerprint != plans[0].fingerprint
    second = files()
    assert sorted(second) == sorted(first)
    assert {second[i]["fingerprint"] for i in mine[0]} == {new_plan.fingerprint}
    assert {second[i]["rows"] for i in mine[0]} == {new_plan.files.rows_per_file}
    assert {i: second[i] for i in mine[1]} == {i: first[i] for i in mine[1]}  # pod 1's files are its own

    from lakebench_ray.verify import run_cli

    for name, value in pod_env(s3_server).items():
        if name.startswith(("AWS_", "S3_")):
            monkeypatch.setenv(name, value)
    assert run_cli(load_job_config(edited, pod[0]), out=io.StringIO()) == 0


def test_lakebench_rows_per_file_is_selectable_in_any_config():
    from lakebench_ray.config import load_config
    from lakebench_ray.planning import make_plan

    plan = make_plan(load_config(None, ["rows_per_file=lakebench", "file_size_mb=1.5", "num_files=2"]))
    assert plan.files.rows_per_file == max(1000, int(1.5 * 2**20) // 4200) and plan.summary()["rows_per_file_rule"] == "lakebench"
    assert make_plan(load_config(None, ["rows_per_file=lakebench", "file_size_mb=1"])).files.rows_per_file == 1000
    assert make_plan(load_config(None, ["rows_per_file=5000"])).summary()["rows_per_file_rule"] == "given"
    with pytest.raises(ConfigError, match="rows_per_file: expected a whole number, lakebench"):
        load_config(None, ["rows_per_file=lakebnech"])
    with pytest.raises(ConfigError, match="resume_mismatch: expected one of refuse, restart"):
        load_config(None, ["resume_mismatch=ignore"])
