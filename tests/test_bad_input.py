"""Every bad input is refused in seconds with one LakebenchError line, and nothing is written.

Config errors are checked in process (fast); one subprocess shows the command line's single line.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

import lakebench_ray
from lakebench_ray.errors import ClusterError, ConfigError, LakebenchError
from lakebench_ray.planning import make_plan

from .helpers import ROOT


def refuse(*overrides: str) -> str:
    """The one-line message of a refused config (loading and planning, as a run does first)."""
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        make_plan(lakebench_ray.load_config(None, list(overrides)))
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "override, needle",
    [
        ("scale=inf", "scale: must be a finite number, got inf"),
        ("scale=nan", "scale: must be a finite number"),
        ("file_size_mb=inf", "file_size_mb: must be a finite number, got inf"),
        ("payload_kb=nan", "payload_kb: must be a finite number, got nan"),
        ("row_group_mb=inf", "row_group_mb: must be a finite number, got inf"),
        ("ray.cpus_per_actor=inf", "ray.cpus_per_actor: must be a finite number"),
        ("outage_budget_s=-1", "outage_budget_s: must be at least 0"),
        ("resume=maybe", "resume: 'maybe' is not a valid boolean (true or false)"),
        ("output.prefix=../x", "output.prefix: '../x' has a '.' or '..' part and would write outside output.uri"),
        ("output.prefix=a/../../x", "would write outside output.uri"),
        ("output.prefix=./x", "would write outside output.uri"),
        ("scale=1e12", "more than 10,000,000: lower scale or num_files"),
        ("file_size_mb=1e9", "rows per file is more than a Parquet file's int32 row count allows"),
        ("rows_per_file=3000000000", "3,000,000,000 rows per file is more than"),
    ],
)
def test_bad_value_is_one_line(override, needle):
    assert needle in refuse(override)


@pytest.mark.parametrize(
    "override, message",
    [
        ("s3.part_size_mb=9999", "s3.part_size_mb: must be an integer from 5 (S3's minimum part size) to 5120, got 9999"),
        ("s3.part_size_mb=4", "s3.part_size_mb: must be an integer from 5 (S3's minimum part size) to 5120, got 4"),
        ("s3.retry_mode=bogus", "s3.retry_mode: must be 'standard' or 'adaptive', got 'bogus'"),
        ("s3.checksum=sha256", "s3.checksum: must be one of auto, crc32, md5, got 'sha256'"),
        ("s3.conditional_writes=maybe", "s3.conditional_writes: must be one of auto, require, off, got 'maybe'"),
        ("s3.read_timeout=0", "s3.read_timeout: must be a number of seconds > 0, got 0.0"),
        ("s3.endpoint_url=minio:9000", "s3.endpoint_url: 'minio:9000' is not an http(s) URL"),
    ],
)
def test_s3_settings_are_checked_by_the_stores_own_rules(override, message):
    """The config refuses what S3Options would refuse, with S3Options's message, before any work
    and whatever output.uri is (a local run too: the key is wrong either way)."""
    assert refuse(override).startswith(message)
    assert refuse("output.uri=s3://bucket", override).startswith(message)


def test_s3_file_too_large_for_ten_thousand_parts():
    message = refuse("output.uri=s3://bucket", "file_size_mb=200000", "payload_kb=64")
    assert "need more than 10,000 parts of s3.part_size_mb=16: raise s3.part_size_mb to at least" in message


def test_s3_file_beyond_five_tib():
    message = refuse("output.uri=s3://bucket", "rows_per_file=2000000000", "payload_kb=1024", "s3.part_size_mb=5120")
    assert "exceed the 5 TiB S3 object limit" in message


def test_largest_payload_calibrates():
    plan = make_plan(lakebench_ray.load_config(None, ["payload_kb=1024", "file_size_mb=64"]))
    assert 10 < plan.files.rows_per_file < 100


def test_large_s3_file_with_large_parts_is_fine():
    plan = make_plan(lakebench_ray.load_config(None, ["output.uri=s3://bucket", "file_size_mb=200000", "payload_kb=64",
                                                      "s3.part_size_mb=32"]))
    assert plan.files.num_files >= 1


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", ""])
def test_job_completion_index_must_be_a_number(monkeypatch, value):
    monkeypatch.setenv("JOB_COMPLETION_INDEX", value)
    with pytest.raises(ConfigError, match="JOB_COMPLETION_INDEX") if value else pytest.raises(ConfigError, match="partition"):
        lakebench_ray.load_config(None, ["partition.count=3"])


def test_cli_prints_one_line(tmp_path):
    out = tmp_path / "out"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "lakebench_ray", "generate", f"output.uri={out}", "scale=inf"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["lakebench-ray: error: scale: must be a finite number, got inf"]
    assert not out.exists()


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_stale_ray_address_file_fails_in_seconds(tmp_path):
    """A ray_current_cluster left by a head that died: one line in seconds, not a 150 s hang."""
    ray_tmp = tmp_path / "raytmp"
    (ray_tmp / "ray").mkdir(parents=True)
    (ray_tmp / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{dead_port()}")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_TMPDIR"] = str(ray_tmp)
    out = tmp_path / "out"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "lakebench_ray", "generate", f"output.uri={out}", "num_files=1"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "ray_current_cluster" in lines[0] and "does not answer" in lines[0] and "ray.address=local" in lines[0]
    assert elapsed < 30, elapsed
    assert not out.exists()


def test_stale_address_file_resolves_in_process(tmp_path, monkeypatch):
    from lakebench_ray.runtime import cluster

    (tmp_path / "ray").mkdir()
    (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{dead_port()}")
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ConfigError, match="stale"):
        cluster.resolve_address(None)
    # A private Ray is always possible, stale file or not.
    assert cluster.resolve_address("local") == "local"
    monkeypatch.setenv("RAY_ADDRESS", "local")
    assert cluster.resolve_address(None) == "local"


@pytest.mark.slow
def test_actor_larger_than_any_node_fails_at_once(ray_local, tmp_path):
    out = tmp_path / "out"
    config = lakebench_ray.load_config(None, [f"output.uri={out}", "num_files=1", "rows_per_file=100",
                                              "ray.cpus_per_actor=1000", "progress=false"])
    started = time.monotonic()
    with pytest.raises(ClusterError, match=r"ray.cpus_per_actor=1000 but the largest Ray node has 2 CPUs") as info:
        lakebench_ray.generate(config)
    assert time.monotonic() - started < 30
    assert "\n" not in str(info.value)
    assert not out.exists()


def test_all_refusals_are_lakebench_errors():
    assert issubclass(ConfigError, LakebenchError) and issubclass(ClusterError, LakebenchError)


def test_actors_that_cannot_start_stop_the_run(ray_local):
    """Workers that cannot build a generator actor (as on a Ray of another environment, where
    the package does not import) end the run after a few tries, in one line."""
    from lakebench_ray.runtime.pool import FilePool, PoolSettings

    class Foreign:
        def __init__(self):
            raise ImportError("No module named 'lakebench_ray'")

        def ready(self):  # pragma: no cover - never reached
            return ""

    cls = ray_local.remote(num_cpus=0, max_restarts=0)(Foreign)
    pool = FilePool(cls.remote, PoolSettings(num_actors=1, max_actors=None, cpus_per_actor=1, max_attempts=1,
                                             grow_interval_s=0.1),
                    on_result=lambda result: None)
    started = time.monotonic()
    try:
        with pytest.raises(ClusterError, match="no generator actor could start on this Ray") as info:
            pool.run([0, 1])
    finally:
        pool.shutdown()
    assert "No module named 'lakebench_ray'" in str(info.value) and "\n" not in str(info.value)
    assert time.monotonic() - started < 60
