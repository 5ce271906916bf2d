"""The pool on a local Ray with stand-in actors: what happens to the calls queued on an actor."""

from __future__ import annotations

import collections
import os
import time

from lakebench_ray.runtime.pool import FilePool, PoolSettings


def stand_in(ray, marker: str):
    """An actor that returns its file id, and dies (once, whichever actor gets it) on file 1
    after long enough for the pool to have queued the next file behind it."""

    class StandIn:
        def ready(self) -> str:
            return ray.get_runtime_context().get_node_id()

        def generate(self, file_id: int) -> int:
            if file_id == 1 and not os.path.exists(marker):
                open(marker, "w").close()
                time.sleep(1.0)
                os._exit(1)
            time.sleep(0.05)
            return file_id

    return ray.remote(num_cpus=0, max_restarts=0, max_task_retries=0)(StandIn)


def test_a_lost_actor_gives_back_every_queued_file_charging_only_the_running_one(ray_local, tmp_path):
    cls = stand_in(ray_local, str(tmp_path / "died"))
    results, retries = [], []
    # One attempt per file: file 1 (running when its actor died) fails, the file queued behind
    # it never started and is written by the replacement.
    pool = FilePool(cls.remote, PoolSettings(num_actors=1, max_actors=None, cpus_per_actor=1, max_attempts=1,
                                             grow_interval_s=0.1, poll_s=0.1),
                    on_result=results.append, on_retry=lambda file_id, cause: retries.append(file_id))
    try:
        failed = pool.run(range(6))
    finally:
        pool.shutdown()
    assert [f.file_id for f in failed] == [1] and failed[0].attempts == 1
    assert sorted(results) == [0, 2, 3, 4, 5]
    assert not [n for n, c in collections.Counter(results).items() if c > 1]  # none recorded twice
    assert pool.evicted == 1 and not retries


def test_a_lost_actor_with_attempts_left_retries_the_running_file(ray_local, tmp_path):
    cls = stand_in(ray_local, str(tmp_path / "died"))
    results, retries = [], []
    pool = FilePool(cls.remote, PoolSettings(num_actors=2, max_actors=None, cpus_per_actor=1, max_attempts=3,
                                             grow_interval_s=0.1, poll_s=0.1),
                    on_result=results.append, on_retry=lambda file_id, cause: retries.append(file_id))
    try:
        failed = pool.run(range(10))
    finally:
        pool.shutdown()
    assert not failed and sorted(results) == list(range(10)) and retries == [1]
