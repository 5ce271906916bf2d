"""The RayCluster a KubeRay run creates: head and worker pods, their resources, volumes and the
environment they read S3 credentials from.

Apart from :mod:`lakebench_ray.kuberay.rayjob` (which checks the arguments and renders the
manifests) because this is the part a cluster operator reads and adjusts: what runs where, with
how much memory, and where secrets come from. Plain dictionaries in, plain dictionaries out.
"""

from __future__ import annotations

import math
from typing import Any

#: Ray version of the image (``Dockerfile``: ``FROM rayproject/ray:<RAY_VERSION>-py311``).
RAY_VERSION = "2.60.0"
CONFIG_DIR = "/etc/lakebench"
CONFIG_KEY = "config.yaml"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_KEY}"
CA_DIR = "/etc/ssl/lakebench"

MIB = 1 << 20
#: /dev/shm is the object store plus this much room for other users of shared memory.
SHM_MARGIN_BYTES = 512 * MIB
HEAD_CPUS = "2"
HEAD_MEMORY = "6Gi"

#: (environment variable, key in the Secret, required)
SECRET_ENV = (
    ("AWS_ACCESS_KEY_ID", "accessKey", True),
    ("AWS_SECRET_ACCESS_KEY", "secretKey", True),
    ("AWS_SESSION_TOKEN", "sessionToken", False),
    ("S3_ENDPOINT", "endpoint", False),
    ("AWS_REGION", "region", False),
    ("S3_PATH_STYLE", "pathStyle", False),
    ("S3_VERIFY_SSL", "verifySsl", False),
)


def cluster_spec_for(
    *,
    image: str,
    config_map_name: str,
    secret_name: str,
    worker_max_replicas: int,
    worker_cpus: int,
    worker_memory: str,
    object_store_bytes: int,
    ca_cert_secret: str | None = None,
    ca_cert_key: str = "ca.crt",
    idle_timeout_seconds: int = 60,
) -> dict[str, Any]:
    """The RayCluster spec (also a RayJob's ``rayClusterSpec``); arguments are not re-checked."""
    env: list[dict[str, Any]] = [
        {
            "name": var,
            "valueFrom": {
                "secretKeyRef": {"name": secret_name, "key": key, **({} if required else {"optional": True})}
            },
        }
        for var, key, required in SECRET_ENV
    ]
    volumes: list[dict[str, Any]] = [
        # Ray's object store lives in /dev/shm; the container runtime's default is 64 MiB.
        {
            "name": "shm",
            "emptyDir": {"medium": "Memory", "sizeLimit": _mib(object_store_bytes + SHM_MARGIN_BYTES)},
        },
        {"name": "lakebench-config", "configMap": {"name": config_map_name}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "shm", "mountPath": "/dev/shm"},
        {"name": "lakebench-config", "mountPath": CONFIG_DIR, "readOnly": True},
    ]
    if ca_cert_secret is not None:
        env.append({"name": "S3_CA_CERT", "value": f"{CA_DIR}/{ca_cert_key}"})
        volumes.append(
            {
                "name": "s3-ca",
                "secret": {"secretName": ca_cert_secret, "items": [{"key": ca_cert_key, "path": ca_cert_key}]},
            }
        )
        mounts.append({"name": "s3-ca", "mountPath": CA_DIR, "readOnly": True})

    def container(role: str, cpu: str, memory: str, ports: list | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": f"ray-{role}", "image": image, "imagePullPolicy": "IfNotPresent"}
        if ports:
            spec["ports"] = ports
        spec["resources"] = {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": cpu, "memory": memory},
        }
        spec["env"] = [dict(item) for item in env]
        spec["volumeMounts"] = [dict(item) for item in mounts]
        return spec

    def pod(role: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "metadata": {
                "labels": {"app.kubernetes.io/name": "lakebench-ray", "app.kubernetes.io/component": role}
            },
            "spec": {"containers": [body], "volumes": [dict(item) for item in volumes]},
        }

    store = str(object_store_bytes)
    head_ports = [
        {"containerPort": 6379, "name": "gcs-server"},
        {"containerPort": 8265, "name": "dashboard"},
        {"containerPort": 10001, "name": "client"},
    ]
    return {
        "rayVersion": RAY_VERSION,
        "enableInTreeAutoscaling": True,
        "autoscalerOptions": {
            "upscalingMode": "Default",
            "idleTimeoutSeconds": idle_timeout_seconds,
            "resources": {
                "requests": {"cpu": "500m", "memory": "512Mi"},
                "limits": {"cpu": "500m", "memory": "512Mi"},
            },
        },
        "headGroupSpec": {
            "rayStartParams": {
                # The head runs the driver, the checkpoint actor, GCS and the dashboard: no
                # generator actor may land here.
                "num-cpus": "0",
                "dashboard-host": "0.0.0.0",
                "object-store-memory": store,
            },
            "template": pod("ray-head", container("head", HEAD_CPUS, HEAD_MEMORY, head_ports)),
        },
        "workerGroupSpecs": [
            {
                "groupName": "generators",
                "replicas": 0,
                "minReplicas": 0,
                "maxReplicas": worker_max_replicas,
                "rayStartParams": {"object-store-memory": store},
                "template": pod("ray-worker", container("worker", str(worker_cpus), worker_memory)),
            }
        ],
    }


def _mib(n_bytes: int) -> str:
    return f"{math.ceil(n_bytes / MIB)}Mi"
