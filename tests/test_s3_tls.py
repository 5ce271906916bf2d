"""S3 behind TLS with a private CA (a throwaway CA made by the test): trusted through S3_CA_CERT,
refused in preflight without it, usable with S3_VERIFY_SSL=false, and no credentials in any log."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from lakebench_ray.errors import SinkError
from lakebench_ray.sinks.s3 import S3Options, S3Store

from .conftest_s3 import AWS_ENV_VARS_TO_CLEAR
from .helpers import ROOT

SMALL = ["num_files=2", "rows_per_file=400", "payload_kb=1", "customer_id_max=10000", "progress=false"]


@pytest.fixture
def ray_tmpdir():
    """A Ray temp dir of the command's own (short: Ray's socket paths are limited), scanned for
    secrets afterwards and removed."""
    path = Path(tempfile.mkdtemp(prefix="lbtls-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def tls_env(server, ray_tmpdir: Path, **changes) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in AWS_ENV_VARS_TO_CLEAR and k not in ("AWS_REGION", "RAY_ADDRESS")}
    env.update(server.env)
    env.update(AWS_CONFIG_FILE="/nonexistent", AWS_SHARED_CREDENTIALS_FILE="/nonexistent", RAY_TMPDIR=str(ray_tmpdir))
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def generate(bucket: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lakebench_ray", "generate", f"output.uri=s3://{bucket}", *SMALL],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def secret_in_files(root: Path, secret: str) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                if secret.encode() in path.read_bytes():
                    found.append(str(path))
            except OSError:
                pass
    return found


def part_files(server, bucket: str) -> list[str]:
    listing = server.client().list_objects_v2(Bucket=bucket, Prefix="customer/interactions/part-")
    return [o["Key"].rsplit("/", 1)[-1] for o in listing.get("Contents", [])]


@pytest.mark.slow
def test_private_ca_through_s3_ca_cert(s3_tls_server, s3_tls_bucket, ray_tmpdir):
    env = tls_env(s3_tls_server, ray_tmpdir)
    assert env["S3_CA_CERT"] == s3_tls_server.ca_cert and env["S3_ENDPOINT"].startswith("https://")
    result = generate(s3_tls_bucket, env)
    assert result.returncode == 0, result.stderr
    assert part_files(s3_tls_server, s3_tls_bucket) == ["part-000000.parquet", "part-000001.parquet"]
    secret = s3_tls_server.secret_key
    assert secret not in result.stdout + result.stderr
    assert any(ray_tmpdir.rglob("*.log")), "the run's Ray logs are there to scan"
    assert secret_in_files(ray_tmpdir, secret) == []


def test_without_the_ca_preflight_refuses_naming_the_certificate_problem(s3_tls_server, s3_tls_bucket, ray_tmpdir):
    result = generate(s3_tls_bucket, tls_env(s3_tls_server, ray_tmpdir, S3_CA_CERT=None))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"lakebench-ray: error: the TLS certificate of S3 endpoint {s3_tls_server.endpoint} "
                               "is not trusted by the system's CAs (self-signed certificate in certificate chain)")
    assert "set s3.ca_cert (S3_CA_CERT)" in lines[0]
    assert part_files(s3_tls_server, s3_tls_bucket) == []
    assert s3_tls_server.secret_key not in result.stdout + result.stderr


@pytest.mark.slow
def test_verify_ssl_false_works_and_says_so_once(s3_tls_server, s3_tls_bucket, ray_tmpdir):
    env = tls_env(s3_tls_server, ray_tmpdir, S3_CA_CERT=None, S3_VERIFY_SSL="false")
    result = generate(s3_tls_bucket, env)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert output.count("TLS certificate verification is off") == 1, output
    assert "InsecureRequestWarning" not in output
    assert part_files(s3_tls_server, s3_tls_bucket) == ["part-000000.parquet", "part-000001.parquet"]
    assert s3_tls_server.secret_key not in output
    assert secret_in_files(ray_tmpdir, s3_tls_server.secret_key) == []


def test_a_ca_file_without_a_certificate_is_one_line(s3_tls_server, tmp_path, monkeypatch):
    bogus = tmp_path / "not-a-ca.pem"
    bogus.write_text("hello\n")
    store = S3Store("s3://any-bucket", S3Options(endpoint_url=s3_tls_server.endpoint, ca_cert=str(bogus)))
    with pytest.raises(SinkError, match=r"s3.ca_cert '.*not-a-ca.pem' holds no usable PEM certificate"):
        store.preflight()


def test_the_wrong_ca_is_named(s3_tls_server, tmp_path, monkeypatch):
    from .tls import make_ca

    other = make_ca(tmp_path / "other-ca")
    for name, value in s3_tls_server.env.items():
        monkeypatch.setenv(name, value)
    store = S3Store("s3://any-bucket", S3Options(endpoint_url=s3_tls_server.endpoint, ca_cert=str(other.ca_cert)))
    with pytest.raises(SinkError, match=r"is not trusted by the CA in s3.ca_cert '.*other-ca/ca.pem' \("):
        store.preflight()
