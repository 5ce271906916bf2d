"""Joining a Ray that this environment cannot use fails in one line, writing nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from .helpers import ROOT
from .rayhead import RayHead

pytestmark = pytest.mark.slow


def test_foreign_ray_fails_in_one_line(tmp_path):
    """A head from another environment (here: one that requires Ray's authentication token,
    joined by a driver configured without): one line at the end (Ray's own messages stay on
    stderr above it, never hidden in a file), nothing written, no file left behind."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    out = tmp_path / "out"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with RayHead("--num-cpus=1", "--include-dashboard=false", env=env) as other:
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "lakebench_ray", "generate", f"output.uri={out}", "num_files=1",
             f"ray.address={other.address}"],
            # Ray itself asks the head for its cluster id 20 times, a second apart, before it gives
            # up (RAY_NUM_REDIS_GET_RETRIES): what this test waits for is what comes after.
            cwd=ROOT, env=dict(os.environ, RAY_AUTH_MODE="disabled", TMPDIR=str(tmp), RAY_NUM_REDIS_GET_RETRIES="3"),
            capture_output=True, text=True, timeout=120)
        seconds = time.monotonic() - started
    print(f"foreign Ray refused in {seconds:.1f}s")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    assert lines[-1].startswith(f"lakebench-ray: error: cannot join Ray at {other.address}"), lines[-1]
    assert "Authentication token" in lines[-1] and "ray.address=local" in lines[-1], lines[-1]
    assert seconds < 60
    assert not out.exists()
    assert not list(tmp.glob("lakebench-ray-*")), "a file was left behind"
