"""``--lakebench-config FILE``: a Lakebench config file read as this project's settings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from lakebench_ray.config import load_config
from lakebench_ray.errors import ConfigError
from lakebench_ray.lakebench.config_file import parse_file_size_mb, read_lakebench_config, target_tb_for_scale

from .helpers import ROOT
from .test_kuberay import validators  # noqa: F401 - the CRD schema fixture

SHARED = ROOT.parent / "shared" / "lakebench"
needs_shared = pytest.mark.skipif(
    not (SHARED / "lakebench-example.yaml").is_file(),
    reason=f"Lakebench's example configs are not beside the repository ({SHARED} is missing)",
)
#: Placeholder S3 settings, as a user would give them through the environment.
PLACEHOLDER_ENV = {"S3_ENDPOINT": "http://s3.example.internal:80", "AWS_ACCESS_KEY_ID": "PLACEHOLDERKEY",
                   "AWS_SECRET_ACCESS_KEY": "placeholder-secret-value"}


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "lakebench_ray", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=120)


def write(tmp_path, text: str, name: str = "lakebench.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def config_of(path, env=None, overrides=()):
    settings = read_lakebench_config(path, env if env is not None else {})
    return load_config(None, overrides, layers=[(settings.source, settings.layer)]), settings


@needs_shared
def test_plan_of_the_example_prints_its_scale_bucket_prefix_size_and_dates():
    source = yaml.safe_load((SHARED / "lakebench-example.yaml").read_text())
    datagen = source["architecture"]["workload"]["datagen"]
    result = cli("plan", "--lakebench-config", str(SHARED / "lakebench-example.yaml"), env=PLACEHOLDER_ENV)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"  scale: {float(datagen['scale'])}\n" in out
    assert f"    uri: s3://{source['platform']['storage']['s3']['buckets']['bronze']}\n" in out
    assert "    prefix: customer/interactions\n" in out
    assert f"  file_size_mb: {float(parse_file_size_mb('', datagen['file_size']))}\n" in out
    assert f"  timestamp_start: '{datagen['timestamp_start']}'\n" in out
    assert f"  timestamp_end: '{datagen['timestamp_end']}'\n" in out
    # Scale 1 of 64 MiB files: 0.009766 TiB, 160 files, as Lakebench's generator counts them.
    assert "files            160 " in out
    assert f"    endpoint_url: {PLACEHOLDER_ENV['S3_ENDPOINT']}\n" in out  # the placeholder, filled in
    assert "PLACEHOLDER" not in out and "placeholder-secret-value" not in out


@needs_shared
def test_placeholder_endpoint_blocks_only_what_reaches_the_storage(tmp_path):
    example = str(SHARED / "lakebench-example.yaml")
    warning = ("lakebench-ray: warning: platform.storage.s3.endpoint: '<YOUR_S3_ENDPOINT>' is a placeholder "
               "(left out): fill it in or set S3_ENDPOINT before generating")
    for command in (["plan"], ["sample", "-n", "1"], ["kuberay"]):
        result = cli(*command, "--lakebench-config", example)
        assert result.returncode == 0 and result.stderr.strip().splitlines() == [warning], result.stderr
    result = cli("generate", "--lakebench-config", example)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        warning,
        "lakebench-ray: error: platform.storage.s3.endpoint: '<YOUR_S3_ENDPOINT>' is a placeholder: fill it in "
        f"or set S3_ENDPOINT (in Lakebench config '{example}')",
    ]


@needs_shared
def test_full_reference_loads_ignoring_what_does_not_apply():
    config, _ = config_of(SHARED / "lakebench-full-reference.yaml")
    assert config.scale == 10 and config.file_size_mb == 512
    assert config.num_files == 199  # round(100/1024, 6) TiB of 512 MiB files
    assert config.output.uri == "s3://lakebench-bronze" and config.output.prefix == "customer/interactions"


def test_nested_form_maps_every_key(tmp_path):
    path = write(tmp_path, """
        name: x
        platform:
          storage:
            s3:
              endpoint: https://s3.lab:443
              region: eu-west-1
              path_style: false
              access_key: AK
              secret_key: SK
              buckets: {bronze: my-bronze, silver: s, gold: g}
              create_buckets: false
              ca_cert: /etc/ssl/lab-ca.pem
              verify_ssl: true
        architecture:
          pipeline:
            mode: sustained
            medallion:
              bronze: {format: parquet, path_template: raw/c360/}
          workload:
            schema: customer360
            datagen:
              scale: 2
              mode: continuous
              parallelism: 8
              generators: 4
              file_size: 128MB
              dirty_data_ratio: 0.05
              timestamp_start: 2024-06-01
              timestamp_end: "2024-07-01"
    """)
    config, settings = config_of(path)
    assert config.s3.endpoint_url == "https://s3.lab:443" and config.s3.region == "eu-west-1"
    assert config.s3.path_style is False and config.s3.verify_ssl is True and config.s3.ca_cert == "/etc/ssl/lab-ca.pem"
    assert config.output.uri == "s3://my-bronze" and config.output.prefix == "raw/c360"
    assert config.output.create_bucket is False
    # round(20/1024, 6) = 0.019531 TiB, as Lakebench renders it: 159 files of 128 MiB, not 160.
    assert config.scale == 2 and config.file_size_mb == 128 and config.num_files == 159
    assert config.dirty_ratio == 0.05
    assert (config.timestamp_start, config.timestamp_end) == ("2024-06-01", "2024-07-01")
    assert "AK" not in repr(config.to_dict()) and "SK" not in str(config.to_yaml())
    env: dict[str, str] = {"AWS_SESSION_TOKEN": "old"}
    settings.apply_credentials(env)
    assert env == {"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK"}


def test_flat_fields_win_and_variables_are_substituted(tmp_path):
    path = write(tmp_path, """
        endpoint: ${LB_ENDPOINT}
        secret_ref: ${LB_SECRET:-lakebench-s3-credentials}
        scale: ${LB_SCALE:-3}
        platform:
          storage:
            s3:
              endpoint: http://ignored:80
        architecture:
          workload:
            datagen:
              scale: 50
              file_size: ${LB_SIZE:-64mb}
    """)
    config, settings = config_of(path, {"LB_ENDPOINT": "http://minio.lab:9000"})
    assert config.s3.endpoint_url == "http://minio.lab:9000"
    assert config.scale == 3 and config.file_size_mb == 64
    assert config.num_files == int(target_tb_for_scale(3) * 2**40 / (64 * 2**20))
    assert settings.secret_ref == "lakebench-s3-credentials" and settings.access_key is None
    env: dict[str, str] = {}
    settings.apply_credentials(env)
    assert env == {}  # secret_ref: the environment's own credentials
    with pytest.raises(ConfigError, match=r"endpoint: \$\{LB_ENDPOINT\} is not set .*export LB_ENDPOINT"):
        read_lakebench_config(path, {})


def test_overrides_apply_on_top(tmp_path):
    path = write(tmp_path, "scale: 1\nendpoint: http://minio:9000\n")
    config, _ = config_of(path, overrides=["num_files=3", "output.prefix=elsewhere", "seed=7"])
    assert (config.num_files, config.output.prefix, config.seed) == (3, "elsewhere", 7)


@pytest.mark.parametrize("text, size", [("512mb", 512), ("64MB", 64), ("1gb", 1024), ("1.5mb", 1), ("1.5GB", 1536),
                                        (" 32 mb", 32), (str(3 * 2**20), 3)])
def test_file_sizes_are_floored_to_whole_mib_as_lakebench_passes_them(text, size):
    assert parse_file_size_mb("file_size", text) == size


@pytest.mark.parametrize("text", ["256MiB", "512m", "huge", "", 128])
def test_sizes_lakebench_cannot_read_are_refused(text):
    with pytest.raises(ConfigError, match="is not a size such as 512mb"):
        parse_file_size_mb("file_size", text)


@pytest.mark.parametrize(
    "text, needle",
    [
        ("architecture:\n  workload:\n    schema: financial\n", "schema: 'financial' is not generated here"),
        ("cycles: 3\n", "architecture.pipeline.cycles: 3: Lakebench runs 3 datagen Jobs"),
        ("architecture:\n  pipeline:\n    cycles: 2\n", "pass --cycle K (1 to 2)"),
        ("cycles: 51\n", "cycles: expected a whole number from 1 to 50"),
        ("architecture:\n  pipeline:\n    medallion:\n      bronze:\n        path_template: 'c/{date}'\n",
         "path_template: 'c/{date}' is a pattern"),
        ("architecture:\n  workload:\n    datagen:\n      file_size: huge\n", "file_size: 'huge' is not a size"),
        ("architecture:\n  workload:\n    datagen:\n      file_size: 100kb\n", "file_size: must be at least 1mb"),
        ("architecture:\n  workload:\n    datagen:\n      dirty_data_ratio: 3\n", "dirty_ratio: must be between 0 and 1"),
        ("scale: -1\n", "datagen.scale: must be from 0.01 to 10000"),
        ("- a list\n", "must hold a mapping"),
    ],
)
def test_what_cannot_be_honoured_is_refused_in_one_line(tmp_path, text, needle):
    path = write(tmp_path, "endpoint: http://minio:9000\n" + text if not text.startswith("-") else text)
    result = cli("plan", "--lakebench-config", str(path))
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_customer360_values_change_nothing_and_are_noted(tmp_path):
    plain = write(tmp_path, "endpoint: http://minio:9000\n", "plain.yaml")
    path = write(tmp_path, """
        endpoint: http://minio:9000
        architecture:
          workload:
            customer360:
              unique_customers: 1000
              channels: [web]
    """)
    (config, settings), (same, _) = config_of(path), config_of(plain)
    assert config == same and config.num_files == 199
    assert settings.notes == ("architecture.workload.customer360 (channels, unique_customers): Lakebench does not "
                              "pass these to its generator, so the files do not change",)


def test_a_cycle_is_its_slice_of_the_dates_and_volume(tmp_path):
    path = write(tmp_path, """
        cycles: 3
        architecture: {workload: {datagen: {scale: 3, file_size: 64mb, timestamp_start: "2024-01-01",
                                            timestamp_end: "2024-01-31"}}}
    """)
    windows = [(c.timestamp_start, c.timestamp_end, c.num_files)
               for c in (load_config(None, [], layers=[("x", read_lakebench_config(path, {}, cycle=k).layer)])
                         for k in (1, 2, 3))]
    assert windows == [("2024-01-01", "2024-01-11", 160), ("2024-01-11", "2024-01-21", 160),
                       ("2024-01-21", "2024-01-31", 160)]
    with pytest.raises(ConfigError, match="--cycle 4: the config has 3 cycle"):
        read_lakebench_config(path, {}, cycle=4)


def test_kuberay_uses_lakebench_secrets_and_never_writes_keys(tmp_path):
    secret = "s3cr3t-VALUE-never-in-manifests"
    path = write(tmp_path, f"""
        name: lab
        platform:
          storage:
            s3:
              endpoint: https://s3.lab:443
              access_key: AKIALAKEBENCH
              secret_key: {secret}
              ca_cert: /home/me/ca.pem
        architecture:
          workload:
            datagen: {{scale: 1, file_size: 64mb}}
    """)
    result = cli("kuberay", "--lakebench-config", str(path))
    assert result.returncode == 0, result.stderr
    assert secret not in result.stdout and "AKIALAKEBENCH" not in result.stdout
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    config = yaml.safe_load(next(d for d in docs if d["kind"] == "ConfigMap")["data"]["config.yaml"])
    assert config["num_files"] == 160 and config["output"]["uri"] == "s3://lakebench-bronze"
    assert config["s3"]["ca_cert"] is None  # the pods get the CA from Lakebench's Secret
    text = result.stdout
    assert "lakebench-ca-certificate" in text and "lakebench-s3-credentials" in text


def test_kuberay_manifests_of_a_lakebench_config_are_valid_rayjobs(validators, tmp_path):
    from .test_kuberay import schema_errors

    path = write(tmp_path, """
        endpoint: https://s3.lab:443
        secret_ref: team-s3
        platform:
          storage:
            s3:
              ca_cert: /home/me/ca.pem
        architecture:
          workload:
            datagen: {scale: 1}
    """)
    result = cli("kuberay", "--lakebench-config", str(path), "--namespace", "lab")
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    rayjob = next(d for d in docs if d["kind"] == "RayJob")
    assert schema_errors(validators, rayjob) == []
    assert "team-s3" in result.stdout and "lakebench-ca-certificate" in result.stdout
