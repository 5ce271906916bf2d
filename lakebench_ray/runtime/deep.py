"""``verify --deep`` on a Ray cluster: regenerate files in parallel tasks, keeping only digests.

Each task generates one file into a digest-only sink (nothing is written anywhere) and returns
its size and CRC32; the loyalty table is shared once through the object store, as in a run.
"""

from __future__ import annotations

import ray

from ..core import GenParams, build_loyalty_table
from ..planning import RunPlan
from . import cluster


def _regenerate(params: dict, loyalty, file_id: int):
    from ..verify.content import regenerate_digest

    return regenerate_digest(GenParams(**params), loyalty, file_id)


def regenerate_on_ray(address: str | None):
    """A ``regenerate(plan, ids)`` for :func:`lakebench_ray.verify.verify` that runs on the Ray
    cluster at ``address`` (joined if needed, and left as found)."""

    def regenerate(plan: RunPlan, ids: list[int]) -> dict[int, tuple[int, str]]:
        # Checked and bounded as a run joins: a port that is not Ray is refused in seconds.
        own = cluster.connect(address)
        try:
            loyalty = ray.put(build_loyalty_table(plan.params.seed, plan.params.customer_id_max, plan.params.profile))
            task = ray.remote(num_cpus=1, max_retries=3)(_regenerate)
            params = plan.params.as_dict()
            refs = [task.remote(params, loyalty, i) for i in ids]
            return {i: tuple(value) for i, value in zip(ids, ray.get(refs))}
        finally:
            if own:
                ray.shutdown()

    return regenerate


__all__ = ["regenerate_on_ray"]
