"""An autoscaling cluster: a head with no worker CPUs makes the autoscaler launch workers.

``ray.cluster_utils.AutoscalingCluster`` runs ``ray stop --force`` when it starts and stops, so this
module runs last (file name) and shuts the shared local Ray down first. Its 2.60 wheel lacks the
example config file it reads, so the base config is given inline.
"""

from __future__ import annotations

import copy
import os
import sys

import pytest
import ray
from ray.cluster_utils import AutoscalingCluster

import lakebench_ray

from .multinode import Background, wait_for

pytestmark = pytest.mark.slow

BASE_CONFIG = {
    "cluster_name": "lakebench-fake",
    "max_workers": 4,
    "provider": {
        "type": "fake_multinode",
        "use_node_id_as_ip": True,
        "disable_node_updaters": True,
        "disable_launch_config_check": True,
    },
    "head_node_type": "ray.head.default",
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


class InlineAutoscalingCluster(AutoscalingCluster):
    def _generate_config(self, head_resources, worker_node_types, autoscaler_v2=False, **config_kwargs):
        config = copy.deepcopy(BASE_CONFIG)
        config["available_node_types"] = dict(worker_node_types)
        config["available_node_types"]["ray.head.default"] = {"resources": head_resources, "node_config": {}, "max_workers": 0}
        config.update(config_kwargs)
        return config


@pytest.fixture
def autoscaling_cluster(monkeypatch):
    ray.shutdown()
    monkeypatch.setenv("PATH", f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}")  # its `ray` CLI
    cluster = InlineAutoscalingCluster(
        head_resources={"CPU": 0},
        worker_node_types={
            "ray.worker.cpu": {
                "resources": {"CPU": 1, "object_store_memory": 300 * 2**20},
                "node_config": {},
                "min_workers": 0,
                "max_workers": 2,
            }
        },
    )
    cluster.start()
    try:
        ray.init("auto")
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_autoscaler_launches_workers_for_the_run(autoscaling_cluster, tmp_path):
    assert ray.cluster_resources().get("CPU", 0) == 0
    config = lakebench_ray.load_config(
        None, [f"output.uri={tmp_path}", "num_files=6", "rows_per_file=20000", "payload_kb=2",
               "customer_id_max=20000", "progress=false"])
    import json

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
