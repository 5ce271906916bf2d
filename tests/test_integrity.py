"""A "done" is checked, not believed: resume regenerates whatever is not as it was written, a
run of another config cannot leave files a later resume takes for its own, and a second run on
the same prefix is refused while the first one lives. Real local Ray, real processes, SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lakebench_ray
from lakebench_ray.errors import CheckpointMismatchError
from lakebench_ray.control.lease import LeaseInfo
from lakebench_ray.planning import make_plan

from .helpers import ROOT, dir_hashes, file_bytes, local_receipts, sha256

SMALL = ["num_files=4", "rows_per_file=3000", "payload_kb=0.5", "customer_id_max=20000", "progress=false"]
# Bigger files for runs that must still be busy when the test acts on them.
SLOW = ["num_files=20", "rows_per_file=3000", "payload_kb=1", "customer_id_max=20000"]


def data_dir(out: Path) -> Path:
    return out / "customer" / "interactions"


def control_dir(out: Path) -> Path:
    return out / "_lakebench" / "customer" / "interactions"


def expected_hashes(config) -> dict[str, str]:
    params = make_plan(config).params
    return {f"part-{i:06d}.parquet": sha256(file_bytes(params, i)) for i in range(config.planned_files)}


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Change one byte in the middle of the file (payload pages), keeping its size."""
    data = bytearray(path.read_bytes())
    at = len(data) // 2 if offset is None else offset
    data[at] ^= 0x01
    with open(path, "r+b") as fh:  # in place, as bit rot or a stray writer would
        fh.seek(at)
        fh.write(bytes([data[at]]))


@pytest.mark.slow
def test_resume_regenerates_missing_changed_and_unrecorded_files(ray_local, tmp_path):
    args = [f"output.uri={tmp_path}", *SMALL]
    config = lakebench_ray.load_config(None, args)
    lakebench_ray.generate(config)
    (data_dir(tmp_path) / "part-000001.parquet").unlink()
    flip_byte(data_dir(tmp_path) / "part-000002.parquet")
    # The checkpoint as an earlier release kept it (one document), which a resume still reads;
    # file 3 recorded as done without a digest (as the first format did): not trusted.
    head = json.loads((control_dir(tmp_path) / "checkpoint" / "head.json").read_text())
    receipts = local_receipts(tmp_path)
    shutil.rmtree(control_dir(tmp_path) / "checkpoint")
    checkpoint_path = control_dir(tmp_path) / "checkpoint.json"
    checkpoint_path.write_text(json.dumps({
        "format": 2, "fingerprint": head["fingerprint"], "plan": head["plan"], "count": 4, "completed": [0, 1, 2, 3],
        "files": {str(i): r for i, r in receipts.items() if i != 3},
    }))

    out = []

    class Out:
        def write(self, text):
            out.append(text)

        def flush(self):
            pass

    report = lakebench_ray.generate(lakebench_ray.load_config(None, [*args, "resume=true"]), out=Out())
    assert sorted(f["file_id"] for f in report.files) == [1, 2, 3] and report.files_skipped == 1
    text = "".join(out)
    assert "3 of 4 recorded files are not as written" in text
    assert "part-000001.parquet (missing)" in text and "part-000002.parquet (changed since it was written)" in text
    assert "part-000003.parquet (no digest recorded)" in text
    assert dir_hashes(data_dir(tmp_path)) == expected_hashes(config)
    assert sorted(local_receipts(tmp_path)) == [0, 1, 2, 3] and not checkpoint_path.exists()


@pytest.mark.slow
def test_checkpoint_names_its_config_before_any_file_is_written(ray_local, tmp_path):
    """Whatever a run does to the files, the checkpoint it leaves names that run's config."""
    from lakebench_ray.sinks import LocalStore
    from lakebench_ray.runtime.checkpoint import start

    lakebench_ray.generate(lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *SMALL]))
    other = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *SMALL, "seed=43"])
    plan = make_plan(other)
    store = LocalStore(tmp_path)
    start(store, "customer/interactions", plan, other, print)
    doc = json.loads((control_dir(tmp_path) / "checkpoint" / "head.json").read_text())
    assert doc["fingerprint"] == plan.fingerprint and local_receipts(tmp_path) == {}


def cli(*args: str, env=None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "lakebench_ray", "generate", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_for(predicate, seconds: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.stderr.read()}")
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.slow
def test_stale_checkpoint_never_blesses_a_mixed_dataset(ray_local, tmp_path):
    """The issue's case: a finished seed-42 dataset; a seed-43 run (resume=false) is killed after
    it replaced some files but before its first periodic checkpoint save; resume with seed 42
    must refuse in one line or end with a correct dataset, never report done over seed-43 files."""
    gcs = ray_local.get_runtime_context().gcs_address
    base = [f"output.uri={tmp_path}", *SLOW, "progress=false"]
    seed42 = lakebench_ray.load_config(None, base)
    lakebench_ray.generate(seed42)
    before = {p.name: p.stat().st_ino for p in data_dir(tmp_path).glob("part-*.parquet")}

    proc = cli(*base, "seed=43", "checkpoint.every_files=1000", "checkpoint.every_seconds=1000",
               f"ray.address={gcs}", "ray.num_actors=1")
    try:
        def replaced():
            now = {p.name: p.stat().st_ino for p in data_dir(tmp_path).glob("part-*.parquet")}
            return [n for n, ino in now.items() if before.get(n) != ino]

        changed = wait_for(replaced, 120, "a seed-43 file to land", proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert 1 <= len(replaced()) < 20, "the seed-43 run finished before it was killed"
    assert changed

    # Resume with seed 42: refused in one line, naming the other configuration.
    result = subprocess.run([sys.executable, "-m", "lakebench_ray", "generate", *base, "resume=true",
                             f"ray.address={gcs}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "written by another configuration" in lines[0], result.stderr
    with pytest.raises(CheckpointMismatchError):
        lakebench_ray.generate(lakebench_ray.load_config(None, [*base, "resume=true"]))
    # Starting over with seed 42 ends with the correct dataset.
    lakebench_ray.generate(seed42)
    assert dir_hashes(data_dir(tmp_path)) == expected_hashes(seed42)


def tree(root: Path, *, leave_out: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under root (relative path -> bytes), but the names in ``leave_out``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in leave_out}


@pytest.mark.slow
def test_second_run_on_the_prefix_is_refused_and_the_first_finishes_intact(ray_local, tmp_path):
    """Two real processes on one prefix: the second is refused in one line naming the first,
    touches nothing (the first's checkpoint and a partial write it has yet to clean up survive),
    and the first ends with a correct dataset.

    The first run is held after it took the prefix and before it writes a file, by an actor of
    this process that occupies every CPU of the cluster it runs on: its generator actor cannot
    start until the test lets it, so the first run is still there when the second one asks,
    however fast or slow the machine."""
    gcs = ray_local.get_runtime_context().gcs_address
    # A short lease, so that the second run sees the first one renew it within a second.
    base = [f"output.uri={tmp_path}", *SMALL, "checkpoint.lease_ttl_s=4", f"ray.address={gcs}"]
    hold = ray_local.remote(num_cpus=ray_local.cluster_resources()["CPU"])(_Holder).remote()
    ray_local.get(hold.ready.remote(), timeout=120)
    first = cli(*base, "ray.num_actors=1")
    lease_path = control_dir(tmp_path) / "lease.json"
    try:
        said = []
        while not any("files to write" in line for line in said):  # past its lease, checkpoint and clean-up
            line = first.stdout.readline()
            assert line, f"the first run ended early: {first.stderr.read()}"
            said.append(line)
        holder = LeaseInfo.parse(lease_path.read_bytes())
        assert holder is not None and holder.pid == first.pid
        partial = data_dir(tmp_path) / ".part-000003.parquet.tmp-7-abcd"  # as a run killed earlier left it
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(b"half a file")
        before = tree(tmp_path, leave_out=("lease.json",))  # the lease is the first run's to renew
        second = subprocess.run([sys.executable, "-m", "lakebench_ray", "generate", *base], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode != 0
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"is being written by run {holder.holder} on host {holder.host} (pid {first.pid}" in lines[0]
        assert tree(tmp_path, leave_out=("lease.json",)) == before
        assert first.poll() is None and not list(data_dir(tmp_path).glob("part-*"))  # held until now
        ray_local.kill(hold)
        stdout, stderr = first.communicate(timeout=300)
    finally:
        ray_local.kill(hold)
        if first.poll() is None:
            first.kill()
            first.wait(timeout=30)
    assert first.returncode == 0, stderr
    assert "done: 4 files written" in stdout
    config = lakebench_ray.load_config(None, base[:-1])
    assert dir_hashes(data_dir(tmp_path)) == expected_hashes(config)
    assert sorted(p.name for p in data_dir(tmp_path).iterdir()) == sorted(expected_hashes(config))
    assert not lease_path.exists(), "the lease was not released"


class _Holder:
    """Holds CPUs of the cluster for as long as it lives."""

    def ready(self) -> bool:
        return True


@pytest.mark.slow
def test_expired_lease_of_a_killed_run_is_taken_over_with_a_note(ray_local, tmp_path):
    now = time.time()
    stale = LeaseInfo(holder="0123456789ab", host="pod-that-died", pid=7, started_at="2026-01-01T00:00:00+00:00",
                      renewed_at=now - 300, expires_at=now - 240, prefix="customer/interactions", partition="0/1")
    control_dir(tmp_path).mkdir(parents=True)
    (control_dir(tmp_path) / "lease.json").write_bytes(stale.to_bytes())
    os.utime(control_dir(tmp_path) / "lease.json", (now - 300, now - 300))  # last written 5 minutes ago
    # What the dead run left: a temp file of one of its files (removed: its holder is gone).
    data_dir(tmp_path).mkdir(parents=True)
    (data_dir(tmp_path) / ".part-000001.parquet.tmp-7-abcd").write_bytes(b"half a file")
    # A dataset under a nested prefix is another run's business: its temp files stay.
    nested = data_dir(tmp_path) / "nested" / ".part-000002.parquet.tmp-9-ffff"
    nested.parent.mkdir()
    nested.write_bytes(b"someone else's")
    out = []

    class Out:
        def write(self, text):
            out.append(text)

        def flush(self):
            pass

    report = lakebench_ray.generate(lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *SMALL]), out=Out())
    assert report.ok and report.files_written == 4
    text = "".join(out)
    assert "took over the lease" in text and "0123456789ab on host pod-that-died" in text
    assert "removed 1 partial write(s)" in text
    assert sorted(p.name for p in data_dir(tmp_path).iterdir()) == ["nested", *(f"part-{i:06d}.parquet" for i in range(4))]
    assert nested.exists()
    assert not (control_dir(tmp_path) / "lease.json").exists()


@pytest.mark.slow
def test_a_run_that_loses_its_lease_stops_without_reporting_done(ray_local, tmp_path):
    """Another run takes the lease over (as after this one stalled past its expiry): this run
    stops at its next finished file with one line, writes no report, and leaves the lease alone."""
    import threading

    from lakebench_ray.errors import LeaseLost
    from lakebench_ray.sinks import LocalStore

    config = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *SLOW, "num_files=40", "progress=false",
                                              "ray.num_actors=1", "checkpoint.lease_ttl_s=1"])
    outcome = {}

    def run():
        try:
            outcome["report"] = lakebench_ray.generate(config)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    store = LocalStore(tmp_path)
    key = "_lakebench/customer/interactions/lease.json"
    wait_for(lambda: list(data_dir(tmp_path).glob("part-*.parquet")), 120, "a first file")
    now = time.time()
    thief = LeaseInfo(holder="0badc0ffee00", host="elsewhere", pid=1, started_at="2026-01-01T00:00:00+00:00",
                      renewed_at=now, expires_at=now + 600, prefix="customer/interactions", partition="0/1")
    for _ in range(50):  # bounded: the run renews every ttl/4, and a renewal between read and swap wins
        data, tag = store.read_tagged(key)
        if store.replace_if(key, thief.to_bytes(), tag):
            break
    else:
        raise AssertionError("could not take the lease over in 50 tries")
    thread.join(timeout=120)
    assert not thread.is_alive()
    error = outcome.get("error")
    assert isinstance(error, LeaseLost), outcome
    assert "\n" not in str(error) and "0badc0ffee00 on host elsewhere" in str(error)
    assert not (control_dir(tmp_path) / "report.json").exists()
    assert len(list(data_dir(tmp_path).glob("part-*.parquet"))) < 40
    assert LeaseInfo.parse(store.get_bytes(key)).holder == "0badc0ffee00"


@pytest.mark.slow
def test_a_lease_taken_over_after_the_last_renewal_is_noticed_before_done(ray_local, tmp_path):
    """A second run takes the lease over while this one writes (this one stalled past its ttl;
    the second watched it on its own clock, a fake one here), and this run renews no more before
    its end (ttl 60: the next renewal is 15 s away). Its checkpoint save and report confirm the
    lease first: it stops with one line naming the new holder and never reports done."""
    from lakebench_ray.errors import LeaseLost
    from lakebench_ray.control.lease import Clock, Lease
    from lakebench_ray.sinks import LocalStore

    class Instant(Clock):  # the second run's clock: its wait for a renewal passes at once
        elapsed = 0.0

        def monotonic(self):
            return self.elapsed

        def sleep(self, seconds):
            self.elapsed += seconds

    taken = []

    class Out:
        def write(self, text):
            if "files to write" in text and not taken:  # the run holds its lease and starts writing
                taken.append(Lease(LocalStore(tmp_path), "customer/interactions", ttl_s=60, clock=Instant())
                             .acquire(note=lambda _: None))

        def flush(self):
            pass

    config = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *SMALL, "checkpoint.lease_ttl_s=60"])
    with pytest.raises(LeaseLost) as err:
        lakebench_ray.generate(config, out=Out())
    assert taken and f"taken over by run {taken[0].holder} on host" in str(err.value) and "\n" not in str(err.value)
    assert not (control_dir(tmp_path) / "report.json").exists()
    assert json.loads((control_dir(tmp_path) / "lease.json").read_bytes())["holder"] == taken[0].holder
    taken[0].release()


@pytest.mark.slow
def test_a_byte_flipped_with_its_mtime_kept_is_repaired_as_verify_says(ray_local, tmp_path):
    """A resume trusts size and version tag (mtime, inode), so it keeps such a file; verify
    catches it and says how to repair it, and doing so repairs it."""
    from lakebench_ray.verify import verify

    config = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *SMALL])
    lakebench_ray.generate(config)
    victim = data_dir(tmp_path) / "part-000001.parquet"
    st = victim.stat()
    flip_byte(victim)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    (problem,) = [p for p in verify(config).problems if "part-000001" in p]
    assert "delete it and run generate again with resume=true" in problem, problem
    victim.unlink()
    report = lakebench_ray.generate(lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *SMALL, "resume=true"]))
    assert report.files_written == 1 and verify(config).ok
