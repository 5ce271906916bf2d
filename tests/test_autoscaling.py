"""An autoscaling cluster: a head with no worker CPUs makes the autoscaler launch workers.

The head is ``ray start --head --block --autoscaling-config=FILE`` with Ray's fake multi-node
provider (what ``ray.cluster_utils.AutoscalingCluster`` starts, without the forced stop of every
Ray on the machine that it runs), in its own process group: the fixture stops exactly
that group, and the fake worker nodes (children of the head's autoscaler) with it.
"""

from __future__ import annotations

import json
import os

import pytest
import ray

import lakebench_ray

from .multinode import Background, wait_for
from .rayhead import RayHead

pytestmark = pytest.mark.slow

WORKER_TYPES = {
    "ray.worker.cpu": {
        "resources": {"CPU": 1, "object_store_memory": 300 * 2**20},
        "node_config": {},
        "min_workers": 0,
        "max_workers": 2,
    }
}


def autoscaling_config(gcs_address: str) -> dict:
    return {
        "cluster_name": "lakebench-fake",
        "max_workers": 4,
        "provider": {
            "type": "fake_multinode",
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            "gcs_address": gcs_address,  # else the provider assumes port 6379
        },
        "head_node_type": "ray.head.default",
        "available_node_types": {
            **WORKER_TYPES,
            "ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
        },
        "auth": {},
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 0.05,
        "docker": {},
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
    }


@pytest.fixture
def autoscaling_cluster():
    ray.shutdown()  # the shared local runtime makes way for this test's cluster
    env = dict(os.environ, AUTOSCALER_UPDATE_INTERVAL_S="1", RAY_FAKE_CLUSTER="1")
    head = RayHead("--num-cpus=0", "--include-dashboard=false", env=env)
    config_file = os.path.join(head.temp_dir, "autoscaling.json")
    with open(config_file, "w") as handle:
        json.dump(autoscaling_config(head.address), handle)
    head.extra_args.append(f"--autoscaling-config={config_file}")
    with head:
        try:
            ray.init(address=head.address)
            yield head
        finally:
            ray.shutdown()


def test_autoscaler_launches_workers_for_the_run(autoscaling_cluster, tmp_path):
    assert ray.cluster_resources().get("CPU", 0) == 0
    config = lakebench_ray.load_config(
        None, [f"output.uri={tmp_path}", "num_files=6", "rows_per_file=2000", "payload_kb=0.5",
               "customer_id_max=20000", "progress=false"])
    from ray._private.ray_constants import AUTOSCALER_RESOURCE_REQUEST_CHANNEL
    from ray.experimental.internal_kv import _internal_kv_get

    def requested() -> list:
        raw = _internal_kv_get(AUTOSCALER_RESOURCE_REQUEST_CHANNEL)
        return json.loads(raw) if raw else []

    run = Background(config)
    asked = wait_for(requested, 60, "a resource request to the autoscaler")
    assert {"CPU": 1.0} in asked
    report = run.result()
    assert report.files_written == 6
    nodes = {f["node_id"] for f in report.files}
    head = ray.get_runtime_context().get_node_id()
    assert head not in nodes and len(nodes) >= 1, nodes
    # The request is released at the end, so the cluster can shrink.
    assert requested() == []
