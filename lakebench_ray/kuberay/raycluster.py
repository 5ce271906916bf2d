"""The RayCluster a KubeRay run creates: head and worker pods, their resources, volumes and the
environment they read S3 credentials from.

Apart from :mod:`lakebench_ray.kuberay.rayjob` (which checks the arguments and renders the
manifests) because this is the part a cluster operator reads and adjusts: what runs where, with
how much memory, and where secrets come from. Plain dictionaries in, plain dictionaries out.
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional

from .options import KubeRayOptions, check_ray_version, parse_toleration

#: Ray version of the image (``Dockerfile``: ``FROM rayproject/ray:<RAY_VERSION>-py311``).
RAY_VERSION = "2.60.0"
CONFIG_DIR = "/etc/lakebench"
CONFIG_KEY = "config.yaml"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_KEY}"
CA_DIR = "/etc/ssl/lakebench"
#: Where Ray exports its metrics (and the driver's ``ray_lakebench_*``) for Prometheus: KubeRay's
#: own default port and name, rendered explicitly so a PodMonitor can rely on them.
METRICS_PORT = 8080
METRICS_PORT_NAME = "metrics"
DEFAULT_PULL_POLICY = "IfNotPresent"

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
#: A Ray release in an image tag: ``rayproject/ray:2.48.0-py311`` or ``lakebench-ray:0.1.0-ray2.55.0``.
_TAGGED_RAY = re.compile(r"(?:^|[-_.])ray-?(\d+\.\d+\.\d+)(?![\d])")
_LEADING_VERSION = re.compile(r"^(\d+\.\d+\.\d+)(?![\d])")


def ray_version_for(image: str, given: Optional[str] = None) -> str:
    """KubeRay's ``rayVersion``: ``given``, else the Ray release the image's tag names
    (``...-ray2.55.0``, or a ``ray`` repository tagged ``2.55.0-py311``), else the Ray this
    project's Dockerfile installs. KubeRay turns features on by it (autoscaler, auth), so it
    must say what the pods run."""
    if given is not None:
        return check_ray_version("kuberay.ray_version", given)
    name = image.split("@", 1)[0]
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag:
        return RAY_VERSION
    match = _TAGGED_RAY.search(tag)
    if match is None and repository.rsplit("/", 1)[-1] in ("ray", "ray-ml"):
        match = _LEADING_VERSION.match(tag)
    if match is None:
        return RAY_VERSION
    return check_ray_version(f"image {image!r} (its tag names Ray {match.group(1)})", match.group(1))


def pod_settings(options: KubeRayOptions) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ``options`` puts on every pod: (extra metadata, extra pod spec fields), empty when
    nothing is set so that pods without options are rendered as before."""
    metadata: dict[str, Any] = {}
    if options.pod_labels:
        metadata["labels"] = dict(options.pod_labels)
    if options.pod_annotations:
        metadata["annotations"] = dict(options.pod_annotations)
    spec: dict[str, Any] = {}
    if options.service_account:
        spec["serviceAccountName"] = options.service_account
    if options.priority_class:
        spec["priorityClassName"] = options.priority_class
    if options.node_selector:
        spec["nodeSelector"] = dict(options.node_selector)
    if options.tolerations:
        spec["tolerations"] = [
            parse_toleration(f"kuberay.tolerations[{i}]", text) for i, text in enumerate(options.tolerations)
        ]
    if options.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": name} for name in options.image_pull_secrets]
    return metadata, spec


def cluster_spec_for(
    *,
    image: str,
    config_map_name: str,
    secret_name: Optional[str],
    worker_max_replicas: int,
    worker_cpus: int,
    worker_memory: str,
    object_store_bytes: int,
    ca_cert_secret: str | None = None,
    ca_cert_key: str = "ca.crt",
    idle_timeout_seconds: int = 60,
    options: KubeRayOptions = KubeRayOptions(),
    instance: Optional[str] = None,
) -> dict[str, Any]:
    """The RayCluster spec (also a RayJob's ``rayClusterSpec``); arguments are not re-checked.

    ``secret_name`` None: no credential env at all (the pods' ServiceAccount gives them web
    identity). ``options.queue``: a fixed-size cluster, since Kueue admits a job for the resources
    it declares and refuses autoscaling. ``options.pod_monitor``: the metrics port is declared on
    every container, and ``instance`` labels every pod for the PodMonitor's selector.
    """
    env: list[dict[str, Any]] = []
    if secret_name is not None:
        env = [
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
    metrics_port = {"containerPort": METRICS_PORT, "name": METRICS_PORT_NAME}
    extra_metadata, extra_spec = pod_settings(options)
    pull_policy = options.image_pull_policy or DEFAULT_PULL_POLICY

    def container(role: str, cpu: str, memory: str, ports: list | None = None) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": f"ray-{role}", "image": image, "imagePullPolicy": pull_policy}
        ports = list(ports or []) + ([dict(metrics_port)] if options.pod_monitor else [])
        if ports:
            spec["ports"] = ports
        spec["resources"] = {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": cpu, "memory": memory},
        }
        if env:
            spec["env"] = [dict(item) for item in env]
        spec["volumeMounts"] = [dict(item) for item in mounts]
        return spec

    def pod(role: str, body: dict[str, Any]) -> dict[str, Any]:
        labels = {"app.kubernetes.io/name": "lakebench-ray", "app.kubernetes.io/component": role}
        if options.pod_monitor and instance is not None:
            labels["app.kubernetes.io/instance"] = instance
        metadata: dict[str, Any] = {"labels": {**extra_metadata.get("labels", {}), **labels}}
        if "annotations" in extra_metadata:
            metadata["annotations"] = dict(extra_metadata["annotations"])
        spec = {**_copy(extra_spec), "containers": [body], "volumes": [dict(item) for item in volumes]}
        return {"metadata": metadata, "spec": spec}

    store = str(object_store_bytes)
    start_params = {"object-store-memory": store}
    if options.pod_monitor:
        start_params["metrics-export-port"] = str(METRICS_PORT)
    head_ports = [
        {"containerPort": 6379, "name": "gcs-server"},
        {"containerPort": 8265, "name": "dashboard"},
        {"containerPort": 10001, "name": "client"},
    ]
    spec: dict[str, Any] = {"rayVersion": ray_version_for(image, options.ray_version)}
    if options.queue is None:
        spec["enableInTreeAutoscaling"] = True
        spec["autoscalerOptions"] = {
            "upscalingMode": "Default",
            "idleTimeoutSeconds": idle_timeout_seconds,
            "resources": {
                "requests": {"cpu": "500m", "memory": "512Mi"},
                "limits": {"cpu": "500m", "memory": "512Mi"},
            },
        }
        workers = {"replicas": 0, "minReplicas": 0, "maxReplicas": worker_max_replicas}
    else:
        # Kueue admits the whole cluster at once, for what it declares: all workers from the start.
        spec["enableInTreeAutoscaling"] = False
        workers = {"replicas": worker_max_replicas, "minReplicas": worker_max_replicas, "maxReplicas": worker_max_replicas}
    spec["headGroupSpec"] = {
        "rayStartParams": {
            # The head runs the driver, the checkpoint actor, GCS and the dashboard: no
            # generator actor may land here.
            "num-cpus": "0",
            "dashboard-host": "0.0.0.0",
            **start_params,
        },
        "template": pod("ray-head", container("head", HEAD_CPUS, HEAD_MEMORY, head_ports)),
    }
    spec["workerGroupSpecs"] = [
        {
            "groupName": "generators",
            **workers,
            "rayStartParams": dict(start_params),
            "template": pod("ray-worker", container("worker", str(worker_cpus), worker_memory)),
        }
    ]
    return spec


def submitter_template(image: str, options: KubeRayOptions) -> Optional[dict[str, Any]]:
    """The pod that runs ``ray job submit`` (K8sJobMode), with ``options``' pod settings so that it
    schedules where the Ray pods do (a tainted pool, a private registry); None without any, and
    KubeRay uses its own. Its container is KubeRay's default one."""
    extra_metadata, extra_spec = pod_settings(options)
    if not extra_metadata and not extra_spec and options.image_pull_policy is None:
        return None
    body = {
        "name": "ray-job-submitter",
        "image": image,
        "imagePullPolicy": options.image_pull_policy or DEFAULT_PULL_POLICY,
        "resources": {"requests": {"cpu": "500m", "memory": "200Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
    }
    labels = {**extra_metadata.get("labels", {}), "app.kubernetes.io/name": "lakebench-ray",
              "app.kubernetes.io/component": "ray-job-submitter"}
    metadata: dict[str, Any] = {"labels": labels}
    if "annotations" in extra_metadata:
        metadata["annotations"] = dict(extra_metadata["annotations"])
    return {"metadata": metadata, "spec": {**_copy(extra_spec), "restartPolicy": "Never", "containers": [body]}}


def _copy(value: Any) -> Any:
    """Fresh containers for every pod: the YAML dumper writes no anchors, and no pod shares a list."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _mib(n_bytes: int) -> str:
    return f"{math.ceil(n_bytes / MIB)}Mi"
