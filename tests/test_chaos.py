"""Sustained churn on a real multi-node cluster: while 96 files are written, generator actors
are killed and worker nodes are removed and added. The run completes, every file is
byte-identical to a clean run, the report counts the retries, and every file is completed
exactly once (no two writers finished the same file).

The chaos follows the run, not the clock: each round waits for a few more files to be done, and
while a node is replaced (starting one takes seconds) the run's actors are held still, so every
kill and every churn lands mid-run whatever the machine's speed."""

from __future__ import annotations

import random

import pytest
import ray

import lakebench_ray

from .multinode import Background, actor_pids, held, part_count, wait_for
from .test_multinode import cluster, expected_hashes, head_cluster, written_hashes  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

FILES = 96
ARGS = [f"num_files={FILES}", "rows_per_file=2000", "payload_kb=0.5", "customer_id_max=20000", "progress=false",
        "ray.max_file_attempts=20", "checkpoint.every_files=8"]
KILLS, CHURNS = 4, 2  # kills in rounds 1..4, a node replaced in rounds 2 and 4 (both first workers, at random)
SPACING = 3  # files done between two rounds: the actors started after a round get to work


def generator_actors() -> list[str]:
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                  if a["name"].startswith("lakebench-generator-"))


def test_run_survives_actor_kills_and_node_churn(cluster, tmp_path):  # noqa: F811
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    ray.init(address=cluster.address)
    config = lakebench_ray.load_config(None, [f"output.uri={tmp_path}", *ARGS])
    run = Background(config)
    rng = random.Random(7)
    kills = churn = 0
    mark = 0
    for round_ in range(1, max(KILLS, 2 * CHURNS) + 1):
        mark += SPACING
        wait_for(lambda: part_count(tmp_path) >= mark or not run.thread.is_alive(), 120, f"{mark} files done")
        if not run.thread.is_alive():
            break
        names = generator_actors()
        if names:
            try:
                ray.kill(ray.get_actor(rng.choice(names)), no_restart=True)
                kills += 1
            except ValueError:  # it ended between the listing and the kill
                pass
        if round_ % 2 == 0:  # one worker node goes away hard, a new one arrives
            with held(actor_pids(workers)):
                assert part_count(tmp_path) < FILES, "the run ended before the churn"
                cluster.remove_node(workers.pop(rng.randrange(len(workers))), allow_graceful=False)
                workers.append(cluster.add_node(num_cpus=1))
            churn += 1
    report = run.result(timeout=300)
    assert kills >= 3 and churn >= 1, (kills, churn)
    assert report.ok and report.files_written == FILES
    ids = [f["file_id"] for f in report.files]
    assert sorted(ids) == list(range(FILES)), "a file was completed twice, or not at all"
    assert report.retries > 0, report.retries  # files lost with their actors were retried, and counted
    assert written_hashes(tmp_path) == expected_hashes(config)
    leftovers = [p.name for p in (tmp_path / "customer" / "interactions").iterdir() if not p.name.startswith("part-")]
    assert leftovers == []
