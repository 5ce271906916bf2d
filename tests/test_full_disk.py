"""A full disk, and an output that turns read-only mid-run, end the run in one line naming the
file and the cause (no traceback, each cause said once), with no temp file left on the full
disk. Real file systems: a 3 MB tmpfs and a read-only bind mount, in a private mount namespace
(``unshare -m``; skipped where that is not allowed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from .helpers import ROOT

pytestmark = pytest.mark.slow

RUN = (f"{sys.executable} -m lakebench_ray generate output.uri=$OUT rows_per_file=5000 payload_kb=0.5 "
       "customer_id_max=20000 progress=false ray.address=local")


def in_mount_namespace(script: str, tmp_path) -> subprocess.CompletedProcess:
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"no private mount namespace here: {probe.stderr.decode().strip()}")
    out = tmp_path / "out"
    out.mkdir()
    return subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, OUT=str(out)))


def test_a_full_disk_ends_in_one_line_naming_the_file_and_leaves_no_temp_file(tmp_path):
    done = in_mount_namespace(f"""mount -t tmpfs -o size=3m tmpfs "$OUT" || exit 99
{RUN} num_files=3; rc=$?
find "$OUT" -name '.*tmp-*' | sed 's/^/LEFT /'
exit $rc""", tmp_path)
    if done.returncode == 99:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    last = lines[-1]
    assert last.startswith("lakebench-ray: error: 3 file(s) failed after 3 attempts"), last
    assert "/customer/interactions/part-0000" in last and "no space left on the device" in last, last
    assert last.count("no space left") == 1, "the same cause said once per file"
    assert "LEFT" not in done.stdout, done.stdout


def test_an_output_that_turns_read_only_mid_run_ends_in_one_line(tmp_path):
    done = in_mount_namespace(f"""mount --bind "$OUT" "$OUT" || exit 99
{RUN} num_files=40 ray.num_actors=1 & pid=$!
while [ -z "$(find "$OUT" -name 'part-*.parquet' 2>/dev/null)" ]; do kill -0 $pid 2>/dev/null || break; sleep 0.2; done
# Refused while a file is open for writing ("busy"): tried again until it lands between two.
tries=0
until mount -o remount,bind,ro "$OUT" 2>/dev/null; do
  tries=$((tries+1)); [ $tries -gt 600 ] && {{ kill $pid; exit 99; }}; sleep 0.02
done
wait $pid""", tmp_path)
    if done.returncode == 99:
        pytest.skip(f"cannot bind-mount read-only here: {done.stderr.strip()[-500:]}")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("lakebench-ray: error: ") and "read-only" in last, last
