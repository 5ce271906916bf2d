"""Sustained churn on a real multi-node cluster: while 160 files are written, a random
generator actor is killed every 2 s and worker nodes are removed and added. The run completes,
every file is byte-identical to a clean run, the report counts the retries, and every file is
completed exactly once (no two writers finished the same file)."""

from __future__ import annotations

import random
import time

import pytest
import ray

import lakebench_ray

from .multinode import Background
from .test_multinode import cluster, expected_hashes, written_hashes  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

ARGS = ["num_files=160", "rows_per_file=12000", "payload_kb=1", "customer_id_max=20000", "progress=false",
        "ray.max_file_attempts=20", "checkpoint.every_files=8"]
CHAOS_S = 24  # bounded: the chaos stops by then even if the run goes on


def generator_actors() -> list[str]:
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a["name"].startswith("lakebench-generator-"))


def test_run_survives_actor_kills_and_node_churn(cluster, tmp_path):  # noqa: F811
    workers = [cluster.add_node(num_cpus=1) for _ in range(3)]
    ray.init(address=cluster.address)
    config = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *ARGS])
    run = Background(config)
    rng = random.Random(7)
    kills = churn = 0
    started = time.monotonic()
    step = 0
    while run.thread.is_alive() and time.monotonic() - started < CHAOS_S:
        time.sleep(2)
        step += 1
        names = generator_actors()
        if names:
            try:
                ray.kill(ray.get_actor(rng.choice(names)), no_restart=True)
                kills += 1
            except ValueError:  # it ended between the listing and the kill
                pass
        if step % 4 == 0:  # every 8 s: one worker node goes away, a new one arrives
            cluster.remove_node(workers.pop(rng.randrange(len(workers))), allow_graceful=False)
            workers.append(cluster.add_node(num_cpus=1))
            churn += 1
    report = run.result(timeout=300)
    assert kills >= 3 and churn >= 1, (kills, churn)
    assert report.ok and report.files_written == 160
    ids = [f["file_id"] for f in report.files]
    assert sorted(ids) == list(range(160)), "a file was completed twice, or not at all"
    assert report.retries > 0, report.retries  # files lost with their actors were retried, and counted
    assert written_hashes(tmp_path) == expected_hashes(config)
    leftovers = [p.name for p in (tmp_path / "customer" / "interactions").iterdir() if not p.name.startswith("part-")]
    assert leftovers == []
