"""Fault tolerance and growth on real multi-node Ray clusters (ray.cluster_utils.Cluster)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time

import pytest
import ray
from ray.cluster_utils import Cluster

import lakebench_ray

from .helpers import file_bytes, s3_receipts, sha256
from .multinode import FAST_FAILURE, Background, actor_pids, checkpoint_count, held, part_count, wait_for

pytestmark = pytest.mark.slow

#: Small files: what each test needs is files still to do when it acts, and the expected bytes
#: are computed again in this process (each file here is ~9 MB; 30000 rows of 2 KB were 130 MB).
#: Ray's process title of an actor while it runs ``generate``.
WRITING = "ray::GeneratorActor.generate"
ARGS = ["rows_per_file=4000", "payload_kb=1", "customer_id_max=20000", "progress=false", "checkpoint.every_files=1"]


@contextlib.contextmanager
def private_cluster():
    """A multi-node cluster's head (no CPUs) in a temp dir of its own: ``Cluster`` records its
    head in ``RAY_TMPDIR/ray/ray_current_cluster`` and deletes that file at shutdown, which would
    re-point (then forget) the default address of a Ray the user runs."""
    ray.shutdown()  # the shared local runtime makes way for this cluster
    private = tempfile.mkdtemp(prefix="lbray-")  # short: Ray's socket paths live below it
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_TMPDIR", private)
        c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "_system_config": FAST_FAILURE})
        try:
            yield c
        finally:
            ray.shutdown()
            c.shutdown()
            for _ in range(20):  # bounded: a node's last log writer may recreate its session dir
                shutil.rmtree(private, ignore_errors=True)
                time.sleep(0.25)
                if not os.path.exists(private):
                    break


@pytest.fixture(scope="module")
def head_cluster():
    """One head for the module's tests that need nothing of the test's environment (a head's
    processes keep the environment they started with: a test that sets S3 credentials takes
    :func:`cluster_here`)."""
    with private_cluster() as c:
        yield c


@pytest.fixture
def cluster(head_cluster):
    """The shared head, with the worker nodes a test adds removed after it (and its driver gone):
    the next test starts from a head alone, as on a fresh cluster."""
    before = set(head_cluster.worker_nodes)
    try:
        yield head_cluster
    finally:
        ray.shutdown()
        for node in set(head_cluster.worker_nodes) - before:
            head_cluster.remove_node(node, allow_graceful=False)


@pytest.fixture
def cluster_here():
    """A cluster of the test's own, started in the environment the test's fixtures set up."""
    with private_cluster() as c:
        yield c


def expected_hashes(config) -> dict[str, str]:
    from lakebench_ray.planning import make_plan

    params = make_plan(config).params
    return {f"part-{i:06d}.parquet": sha256(file_bytes(params, i)) for i in range(config.planned_files)}


def written_hashes(root) -> dict[str, str]:
    return {p.name: sha256(p.read_bytes()) for p in (root / "customer" / "interactions").glob("*.parquet")}


def test_node_lost_while_writing_to_s3(s3_env, s3_bucket, s3_client, cluster_here):
    """Head + 2 workers; one worker dies hard mid-run: the run completes, complete and identical.
    Files of ~13 MB go up in 3 parts of 5 MB, so the lost node leaves an upload open; once the
    first file is done each worker still has ~5 files to write when the node goes."""
    workers = [cluster_here.add_node(num_cpus=1) for _ in range(2)]
    ray.init(address=cluster_here.address)
    config = lakebench_ray.load_config(
        None, [f"output.uri=s3://{s3_bucket}", "num_files=12", "s3.part_size_mb=5", *ARGS, "rows_per_file=6000"])
    run = Background(config)

    def done() -> int:
        return len(s3_receipts(s3_client, s3_bucket))

    wait_for(lambda: done() >= 1, 120, "a first file", interval=0.1)
    wait_for(lambda: actor_pids(workers[1:], WRITING), 120, "the second worker's actor writing", interval=0.01)
    cluster_here.remove_node(workers[1], allow_graceful=False)
    report = run.result()
    assert report.ok and report.retries >= 1
    listing = s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="customer/interactions/part-")["Contents"]
    got = {o["Key"].rsplit("/", 1)[-1]: sha256(s3_client.get_object(Bucket=s3_bucket, Key=o["Key"])["Body"].read()) for o in listing}
    assert got == expected_hashes(config)
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert {f["node_id"] for f in report.files} >= {workers[0].node_id}


def test_actor_killed_mid_file(cluster, tmp_path):
    node = cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address)
    # 24 files for 2 actors: once the first is done, each actor still has ~11 files to write
    # (two of them queued on it at any time), so the kill a few milliseconds later finds it mid-file.
    config = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", "num_files=24", *ARGS])
    run = Background(config)
    wait_for(lambda: checkpoint_count(tmp_path) >= 1, 120, "a first file")
    # Both actors up and writing (one may still be starting when the other's first file is done):
    # whichever is killed then has a file in flight.
    wait_for(lambda: len(actor_pids([node], WRITING)) == 2, 120, "both actors writing", interval=0.01)
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith("lakebench-generator-")]
    ray.kill(ray.get_actor(names[0]), no_restart=True)
    report = run.result()
    assert report.retries >= 1, "the killed actor had no file in flight"
    assert written_hashes(tmp_path) == expected_hashes(config)
    assert not [p for p in (tmp_path / "customer" / "interactions").iterdir() if p.name.startswith(".")]


def test_grows_onto_a_new_node(cluster, tmp_path):
    """A node added mid-run gets actors and files. The first node's actor is held still (SIGSTOP)
    from its first file until the new node has written one, so the files left to do are still
    there when the new node is up, however long it takes to start."""
    first = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address)
    config = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", "num_files=16", *ARGS])
    run = Background(config)
    wait_for(lambda: checkpoint_count(tmp_path) >= 1, 120, "a first file")
    with held(wait_for(lambda: actor_pids([first]), 30, "the first node's generator actor")):
        done = part_count(tmp_path)  # (a file the held actor was renaming is counted here)
        assert done < 16, "the run ended before a node could be added"
        second = cluster.add_node(num_cpus=1)
        wait_for(lambda: part_count(tmp_path) > done, 120, "a file from the new node")
    report = run.result()
    nodes = {f["node_id"] for f in report.files}
    assert second.node_id in nodes and first.node_id in nodes, nodes
    assert written_hashes(tmp_path) == expected_hashes(config)
