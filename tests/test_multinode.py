"""Fault tolerance and growth on real multi-node Ray clusters (ray.cluster_utils.Cluster)."""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import pytest
import ray
from ray.cluster_utils import Cluster

import lakebench_ray

from .helpers import file_bytes, s3_receipts, sha256
from .multinode import FAST_FAILURE, Background, checkpoint_count, wait_for

pytestmark = pytest.mark.slow

ARGS = ["rows_per_file=30000", "payload_kb=2", "customer_id_max=20000", "progress=false", "checkpoint.every_files=1"]


@pytest.fixture
def cluster(monkeypatch):
    """A multi-node cluster in a temp dir of its own: ``Cluster`` records its head in
    ``RAY_TMPDIR/ray/ray_current_cluster`` and deletes that file at shutdown, which would
    re-point (then forget) the default address of a Ray the user runs."""
    ray.shutdown()  # the shared local runtime makes way for this test's cluster
    private = tempfile.mkdtemp(prefix="lbray-")  # short: Ray's socket paths live below it
    monkeypatch.setenv("RAY_TMPDIR", private)
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


def expected_hashes(config) -> dict[str, str]:
    from lakebench_ray.planning import make_plan

    params = make_plan(config).params
    return {f"part-{i:06d}.parquet": sha256(file_bytes(params, i)) for i in range(config.planned_files)}


def written_hashes(root) -> dict[str, str]:
    return {p.name: sha256(p.read_bytes()) for p in (root / "customer" / "interactions").glob("*.parquet")}


def test_actor_killed_mid_file(cluster, tmp_path):
    cluster.add_node(num_cpus=2)
    ray.init(address=cluster.address)
    config = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", "num_files=8", *ARGS])
    run = Background(config)
    wait_for(lambda: checkpoint_count(tmp_path) >= 1, 120, "a first file")
    names = wait_for(
        lambda: [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith("lakebench-generator-")],
        30, "named generator actors")
    ray.kill(ray.get_actor(names[0]), no_restart=True)
    report = run.result()
    assert report.retries >= 1, "the killed actor had no file in flight"
    assert written_hashes(tmp_path) == expected_hashes(config)
    assert not [p for p in (tmp_path / "customer" / "interactions").iterdir() if p.name.startswith(".")]


def test_grows_onto_a_new_node(cluster, tmp_path):
    first = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address)
    config = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", "num_files=16", *ARGS])
    run = Background(config)
    wait_for(lambda: checkpoint_count(tmp_path) >= 1, 120, "a first file")
    second = cluster.add_node(num_cpus=1)
    report = run.result()
    nodes = {f["node_id"] for f in report.files}
    assert second.node_id in nodes and first.node_id in nodes, nodes
    assert written_hashes(tmp_path) == expected_hashes(config)


def test_node_lost_while_writing_to_s3(s3_env, s3_bucket, s3_client, cluster):
    """Head + 2 workers; one worker dies hard mid-run: the run completes, complete and identical."""
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    ray.init(address=cluster.address)
    config = lakebench_ray.load_config(
        None, [f"output.uri=s3://{s3_bucket}", "num_files=8", "s3.part_size_mb=5", *ARGS])
    run = Background(config)

    def done() -> int:
        return len(s3_receipts(s3_client, s3_bucket))

    wait_for(lambda: done() >= 1, 120, "a first file", interval=0.1)
    cluster.remove_node(workers[1], allow_graceful=False)
    report = run.result()
    assert report.ok and report.retries >= 1
    listing = s3_client.list_objects_v2(Bucket=s3_bucket, Prefix="customer/interactions/part-")["Contents"]
    got = {o["Key"].rsplit("/", 1)[-1]: sha256(s3_client.get_object(Bucket=s3_bucket, Key=o["Key"])["Body"].read()) for o in listing}
    assert got == expected_hashes(config)
    assert s3_client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []
    assert {f["node_id"] for f in report.files} >= {workers[0].node_id}
