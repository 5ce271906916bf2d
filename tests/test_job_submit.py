"""`ray job submit` against a head started by the test (`ray start --head --block` in its own
process group, dashboard on loopback)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray


from .helpers import ROOT, local_receipts
from .multinode import wait_for
from .rayhead import RayHead, free_port, job_client

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def ray_cli(*args: str, env: dict, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ray"), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def head():
    """A head of this module's own (its own process group; stopped by signalling that group)."""
    ray.shutdown()  # a driver of the shared local runtime would only compete for the 2 CPUs
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}")  # `python` is this venv's
    env.pop("RAY_ADDRESS", None)
    # `ray job stop` sends SIGTERM, then SIGKILL after this many seconds (default 3): give the
    # driver Kubernetes' grace period, as a deployment should.
    env["RAY_JOB_STOP_WAIT_TIME_S"] = "30"
    dashboard = free_port()
    with RayHead("--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard}", "--num-cpus=2",
                 "--include-dashboard=true", env=env):
        address = f"http://127.0.0.1:{dashboard}"
        wait_for(lambda: _answers(dashboard), 90, "the dashboard", interval=0.5)
        yield address, env


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def submit(address: str, env: dict, *generate_args: str) -> str:
    for _ in range(60):  # the dashboard answers before the head's job agent is up: bounded retries
        result = ray_cli(
            "job", "submit", "--address", address, "--working-dir", ".", "--no-wait", "--",
            "python", "-m", "lakebench_ray", "generate", *generate_args, env=env,
        )
        if result.returncode == 0 or "No available agent" not in result.stderr + result.stdout:
            break
        time.sleep(1)
    assert result.returncode == 0, result.stderr + result.stdout
    for word in (result.stdout + result.stderr).split():
        if word.strip("'\"").startswith("raysubmit_"):
            return word.strip("'\".,")
    raise AssertionError(f"no submission id in: {result.stdout}{result.stderr}")


def wait_status(address: str, job_id: str, timeout: float = 240) -> str:
    client = job_client(address)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get_job_status(job_id)
        if status.is_terminal():
            return status.value
        time.sleep(0.25)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s (still {status.value})")


def job_logs(address: str, job_id: str) -> str:
    return job_client(address).get_job_logs(job_id)


def test_job_succeeds_and_writes_files(head, tmp_path):
    address, env = head
    out = tmp_path / "bronze"
    job = submit(address, env, f"output.uri={out}", "num_files=3", "rows_per_file=4000", "payload_kb=1", "customer_id_max=10000")
    assert wait_status(address, job) == "SUCCEEDED"
    files = sorted((out / "customer" / "interactions").glob("part-*.parquet"))
    assert [f.name for f in files] == [f"part-{i:06d}.parquet" for i in range(3)]
    logs = job_logs(address, job)
    assert "3/3 files" in logs and "done: 3 files written" in logs
    report = json.loads((out / "_lakebench" / "customer" / "interactions" / "report.json").read_text())
    assert report["files_written"] == 3


def test_job_with_bad_config_fails_with_one_line(head, tmp_path):
    address, env = head
    job = submit(address, env, f"output.uri={tmp_path}", "scal=3")
    assert wait_status(address, job) == "FAILED"
    logs = job_logs(address, job)
    assert "lakebench-ray: error: unknown config key 'scal': did you mean 'scale'?" in logs
    assert "Traceback" not in logs



def test_job_stop_saves_the_checkpoint(head, tmp_path):
    """`ray job stop` sends the driver SIGTERM: it stops, aborts what is in flight and saves
    the checkpoint, so a resumed job finishes the set."""
    address, env = head
    out = tmp_path / "bronze"
    # Far more files than the job can write before the stop lands (each is ~1.5 MB, and the stop
    # comes seconds after the first): the run is stopped mid-way however fast the machine is.
    args = [f"output.uri={out}", "num_files=2000", "rows_per_file=2000", "payload_kb=0.25", "customer_id_max=20000",
            "checkpoint.every_files=1", "ray.num_actors=1"]
    job = submit(address, env, *args)
    data = out / "customer" / "interactions"
    wait_for(lambda: len(local_receipts(out)) >= 1, 180, "a first file")
    stopped = ray_cli("job", "stop", "--address", address, job, env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert wait_status(address, job) == "STOPPED"
    logs = job_logs(address, job)
    assert "lakebench-ray: error: stopped by SIGTERM" in logs and "Traceback" not in logs, logs[-2000:]
    assert not [p.name for p in data.iterdir() if p.name.startswith(".")], "temp files left behind"
    saved = sorted(local_receipts(out))
    assert 1 <= len(saved) < 2000
    assert set(saved) <= {int(p.name[5:11]) for p in data.glob("part-*.parquet")}
