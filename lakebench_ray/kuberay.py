"""Render KubeRay manifests for one generation run: a ConfigMap and a RayJob.

Pure text in, text out: no Ray, no Kubernetes client, no network. The caller (the
``lakebench-ray kuberay`` sub-command) loads and validates the config as usual and passes its
*effective* config as YAML text::

    from lakebench_ray.kuberay import render_manifests

    text = render_manifests(
        effective_config_yaml,          # e.g. OmegaConf.to_yaml(cfg)
        name="lakebench-datagen",       # RayJob name; ConfigMap is "<name>-config"
        namespace="default",            # None: leave metadata.namespace out
        image="lakebench-ray:0.1.0",    # --image
        worker_max_replicas=10,         # --max-workers
        worker_cpus=8,                  # --worker-cpus (one generator actor per CPU)
        worker_memory=None,             # --worker-memory, e.g. "16Gi"; None: sized from worker_cpus
        secret_name="lakebench-s3-credentials",
    )
    print(text)                         # kubectl apply -f -

The output is a multi-document YAML string:

1. a ``ConfigMap`` ``<name>-config`` whose ``config.yaml`` is ``config_yaml`` verbatim;
2. a ``RayJob`` ``<name>`` that mounts it at ``/etc/lakebench/config.yaml`` and runs
   ``python -m lakebench_ray generate --config /etc/lakebench/config.yaml resume=true``
   on its own autoscaling RayCluster (head with ``num-cpus: "0"``, one worker group scaling
   from 0 to ``worker_max_replicas``), retried ``backoff_limit`` times: every retry builds a
   new cluster and resumes from the checkpoint in <uri>/_lakebench/<prefix>/.

S3 credentials are never written into the manifests: pods read them from the Secret
``secret_name`` (keys ``accessKey``/``secretKey``; optional ``endpoint``, ``region``,
``pathStyle``, ``verifySsl``, ``sessionToken``) through ``secretKeyRef``. A config that holds
anything that looks like a credential is refused with :class:`~lakebench_ray.errors.ConfigError`
(a ``ValueError``). Problems are reported as ``ConfigError`` with a one-line message.

The checked-in ``kuberay/configmap.yaml`` and ``kuberay/rayjob.yaml`` are exactly what this
function renders for that config with ``namespace=None`` (a test keeps them in sync); see
``docs/kuberay.md``.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from .errors import ConfigError
from .version import __version__

__all__ = [
    "CONFIG_PATH",
    "DEFAULT_IMAGE",
    "DEFAULT_SECRET_NAME",
    "RAY_VERSION",
    "entrypoint",
    "render_manifests",
]

#: Ray version of the image (``Dockerfile``: ``FROM rayproject/ray:<RAY_VERSION>-py311``).
RAY_VERSION = "2.60.0"
#: The image ``docker build -t lakebench-ray:<version> .`` produces (push it to your registry).
DEFAULT_IMAGE = f"lakebench-ray:{__version__}"
#: The Lakebench S3 credentials Secret (keys ``accessKey`` / ``secretKey``).
DEFAULT_SECRET_NAME = "lakebench-s3-credentials"
CONFIG_DIR = "/etc/lakebench"
CONFIG_KEY = "config.yaml"
CONFIG_PATH = f"{CONFIG_DIR}/{CONFIG_KEY}"
CA_DIR = "/etc/ssl/lakebench"

GIB = 1 << 30
MIB = 1 << 20
#: Recommended memory per generator actor (measured peak RSS is ~0.4-0.5 GB while writing a
#: 512 MB file; the rest is headroom for Arrow buffers and queued upload parts).
ACTOR_MEMORY_BYTES = 1 * GIB
#: Below this per actor the pod is refused: the measured peak.
ACTOR_MEMORY_MIN_BYTES = GIB // 2
#: raylet, dashboard agent, runtime-env agent, log monitor and core-worker overhead per pod.
RAY_OVERHEAD_BYTES = 1 * GIB
#: /dev/shm is the object store plus this much room for other users of shared memory.
SHM_MARGIN_BYTES = 512 * MIB
DEFAULT_OBJECT_STORE = "2Gi"

HEAD_CPUS = "2"
HEAD_MEMORY = "6Gi"
#: KubeRay appends "-<5 chars>" to a RayJob's name for its RayCluster; it refuses longer names.
MAX_NAME_LENGTH = 47

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

_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_QUANTITY_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_UNITS = {
    None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60,
}
_OVERRIDE_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)=(.*)$", re.S)
#: Key names (lower-cased, punctuation removed) that hold credentials.
_CREDENTIAL_WORDS = (
    "secret", "password", "passwd", "token", "credential", "accesskey", "apikey",
    "privatekey", "sessionkey",
)
_CREDENTIAL_VALUES = (
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "an AWS access key id"),
    (re.compile(r"://[^/@\s:]+:[^/@\s]+@"), "a URL with a user name and password"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
)


def entrypoint(overrides: Iterable[str] = ()) -> str:
    """The RayJob entrypoint: generate from the mounted config, resuming from its checkpoint."""
    words = ["python", "-m", "lakebench_ray", "generate", "--config", CONFIG_PATH, "resume=true"]
    return " ".join(shlex.quote(word) for word in [*words, *overrides])


def render_manifests(
    config_yaml: str,
    *,
    name: str = "lakebench-datagen",
    namespace: str | None = "default",
    image: str = DEFAULT_IMAGE,
    worker_max_replicas: int = 10,
    worker_cpus: int = 8,
    worker_memory: str | None = None,
    secret_name: str = DEFAULT_SECRET_NAME,
    overrides: Iterable[str] = (),
    object_store_memory: str = DEFAULT_OBJECT_STORE,
    ca_cert_secret: str | None = None,
    ca_cert_key: str = "ca.crt",
    backoff_limit: int = 3,
    ttl_seconds_after_finished: int = 600,
    idle_timeout_seconds: int = 60,
) -> str:
    """A ConfigMap holding ``config_yaml`` verbatim and a RayJob that runs it, as one YAML text.

    Args:
        config_yaml: the effective config as YAML text (a mapping). Stored unchanged.
        name: RayJob name (DNS label, at most 47 characters); the ConfigMap is ``<name>-config``.
        namespace: ``metadata.namespace`` of both objects; ``None`` leaves it out.
        image: container image with lakebench-ray installed (see ``Dockerfile``).
        worker_max_replicas: most worker pods the autoscaler may start (it starts from 0).
        worker_cpus: CPUs per worker pod; one generator actor per ``ray.cpus_per_actor`` CPUs.
        worker_memory: memory per worker pod as a Kubernetes quantity; ``None`` sizes it as
            1 GiB per actor + object store + 1 GiB. Less than 0.5 GiB per actor + object store
            + 1 GiB is refused.
        secret_name: Secret with keys ``accessKey``/``secretKey`` (+ optional ``endpoint``,
            ``region``, ``pathStyle``, ``verifySsl``, ``sessionToken``), read via secretKeyRef.
        overrides: extra ``KEY=VALUE`` config overrides appended to the entrypoint after
            ``resume=true`` (they win over the ConfigMap). Pass none when ``config_yaml`` is
            already the effective config.
        object_store_memory: Ray object store per pod (quantity); /dev/shm is sized from it.
            Every node holds one copy of the loyalty table (1 byte per customer id).
        ca_cert_secret: a Secret holding a PEM CA bundle under ``ca_cert_key``; when given it is
            mounted in every pod and ``S3_CA_CERT`` points to it.
        backoff_limit: RayJob retries; each retry is a new cluster resuming from the checkpoint.
        ttl_seconds_after_finished: how long the finished cluster stays up (logs, dashboard).
        idle_timeout_seconds: how long an idle worker pod lives before the autoscaler removes it.

    Raises:
        ConfigError: (a ``ValueError``) bad argument, config that is not a YAML mapping,
            a credential in the config or the overrides, local output, or pods too small.
    """
    cfg = _parse_config(config_yaml)
    overrides = [str(item) for item in overrides]
    effective = _with_overrides(cfg, overrides)
    _refuse_credentials(effective, "")
    _check_runnable(effective)

    _check_name("name", name, MAX_NAME_LENGTH)
    _check_name("secret_name", secret_name, 253, dns_subdomain=True)
    if namespace is not None:
        _check_name("namespace", namespace, 63)
    if ca_cert_secret is not None:
        _check_name("ca_cert_secret", ca_cert_secret, 253, dns_subdomain=True)
        if not isinstance(ca_cert_key, str) or not re.fullmatch(r"[-._a-zA-Z0-9]{1,253}", ca_cert_key):
            raise ConfigError(f"ca_cert_key: expected a Secret key such as ca.crt, got {ca_cert_key!r}")
    if not isinstance(image, str) or not image.strip() or any(c.isspace() for c in image):
        raise ConfigError(f"image: expected an image reference such as {DEFAULT_IMAGE}, got {image!r}")
    worker_max_replicas = _check_int("worker_max_replicas", worker_max_replicas, 1)
    worker_cpus = _check_int("worker_cpus", worker_cpus, 1)
    backoff_limit = _check_int("backoff_limit", backoff_limit, 0)
    ttl_seconds_after_finished = _check_int("ttl_seconds_after_finished", ttl_seconds_after_finished, 0)
    idle_timeout_seconds = _check_int("idle_timeout_seconds", idle_timeout_seconds, 0)

    store_bytes = parse_quantity("object_store_memory", object_store_memory)
    if store_bytes < 256 * MIB:
        raise ConfigError(f"object_store_memory: at least 256Mi, got {object_store_memory}")
    customers = _get(effective, "customer_id_max")
    if isinstance(customers, int) and not isinstance(customers, bool) and customers > store_bytes // 2:
        need = _format_gib(2 * customers)
        raise ConfigError(
            f"customer_id_max={customers}: the loyalty table ({_format_gib(customers)}, one copy per node) "
            f"needs object_store_memory of at least {need}, got {object_store_memory}"
        )
    cpus_per_actor = _get(effective, "ray.cpus_per_actor")
    if isinstance(cpus_per_actor, bool) or not isinstance(cpus_per_actor, (int, float)) or cpus_per_actor <= 0:
        cpus_per_actor = 1
    actors = max(1, math.floor(worker_cpus / cpus_per_actor + 1e-9))
    minimum = actors * ACTOR_MEMORY_MIN_BYTES + store_bytes + RAY_OVERHEAD_BYTES
    if worker_memory is None:
        recommended = actors * ACTOR_MEMORY_BYTES + store_bytes + RAY_OVERHEAD_BYTES
        worker_memory = f"{math.ceil(recommended / GIB)}Gi"
    elif parse_quantity("worker_memory", worker_memory) < minimum:
        raise ConfigError(
            f"worker_memory={worker_memory} is too small for {actors} generator actors "
            f"(0.5 GiB each) + a {object_store_memory} object store + 1 GiB for Ray: "
            f"use at least {_format_gib(minimum)} or fewer worker_cpus"
        )

    labels = {
        "app.kubernetes.io/name": "lakebench-ray",
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/component": "datagen",
    }
    config_map_name = f"{name}-config"
    cluster_spec = cluster_spec_for(
        image=image,
        config_map_name=config_map_name,
        secret_name=secret_name,
        worker_max_replicas=worker_max_replicas,
        worker_cpus=worker_cpus,
        worker_memory=str(worker_memory),
        object_store_bytes=store_bytes,
        ca_cert_secret=ca_cert_secret,
        ca_cert_key=ca_cert_key,
        idle_timeout_seconds=idle_timeout_seconds,
    )
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(config_map_name, namespace, labels),
        "data": {CONFIG_KEY: config_yaml},
    }
    ray_job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": _metadata(name, namespace, labels),
        "spec": {
            "entrypoint": entrypoint(overrides),
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": ttl_seconds_after_finished,
            "backoffLimit": backoff_limit,
            "submissionMode": "K8sJobMode",
            "rayClusterSpec": cluster_spec,
        },
    }
    header = (
        f"# Generated by lakebench-ray {__version__} (lakebench_ray.kuberay.render_manifests).\n"
        f"# Needs the Secret {secret_name!r} (keys accessKey, secretKey) in the same namespace.\n"
        "# Apply: kubectl apply -f THIS_FILE   Guide: docs/kuberay.md\n"
    )
    return header + yaml.dump_all(
        [config_map, ray_job],
        Dumper=_Dumper,
        sort_keys=False,
        explicit_start=True,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
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


def parse_quantity(what: str, value: Any) -> int:
    """A Kubernetes memory quantity (``12Gi``, ``500M``, ``1073741824``) in bytes."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _QUANTITY_RE.match(str(value).strip()) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(
            f"{what}: expected a Kubernetes memory quantity such as 16Gi or 512Mi, got {value!r}"
        )
    return int(float(match.group(1)) * _UNITS[match.group(2)])


# -- checks -------------------------------------------------------------------------------------


def _parse_config(config_yaml: str) -> dict[str, Any]:
    if not isinstance(config_yaml, str):
        raise ConfigError(f"config_yaml: expected YAML text, got {type(config_yaml).__name__}")
    try:
        cfg = yaml.safe_load(config_yaml)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if cfg is None:
        cfg = {}
    if not isinstance(cfg, dict):
        raise ConfigError(f"config: expected a YAML mapping of settings, got {type(cfg).__name__}")
    return cfg


def _with_overrides(cfg: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``cfg`` with the dotted ``KEY=VALUE`` overrides applied (for checking only)."""
    merged = _copy(cfg)
    for item in overrides:
        match = _OVERRIDE_RE.match(item)
        if match is None:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. ray.max_actors=64")
        key, raw = match.groups()
        try:
            value = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError:
            value = raw
        node = merged
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return merged


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _refuse_credentials(value: Any, path: str) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{path}.{key}" if path else str(key)
            folded = re.sub(r"[^a-z0-9]", "", str(key).lower())
            if any(word in folded for word in _CREDENTIAL_WORDS) and child not in (None, ""):
                raise ConfigError(
                    f"{where}: credentials must not be put in the config (it is stored in a ConfigMap); "
                    f"put them in the Secret (accessKey/secretKey) and remove this key"
                )
            _refuse_credentials(child, where)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _refuse_credentials(child, f"{path}[{index}]")
    elif isinstance(value, str):
        for pattern, what in _CREDENTIAL_VALUES:
            if pattern.search(value):
                raise ConfigError(
                    f"{path or 'config'}: looks like {what}; credentials must not be put in the config "
                    f"(it is stored in a ConfigMap): put them in the Secret instead"
                )


def _get(cfg: Mapping[str, Any], dotted: str) -> Any:
    if dotted in cfg:
        return cfg[dotted]
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _check_runnable(cfg: Mapping[str, Any]) -> None:
    uri = _get(cfg, "output.uri")
    if not isinstance(uri, str) or not uri.startswith("s3://") or len(uri) <= len("s3://"):
        raise ConfigError(
            f"output.uri: a KubeRay run writes from many pods, so it needs an S3 bucket "
            f"(output.uri=s3://BUCKET), got {uri!r}"
        )
    address = _get(cfg, "ray.address")
    if address not in (None, "", "auto"):
        raise ConfigError(
            f"ray.address: a RayJob's driver joins its own cluster; leave ray.address unset (or 'auto'), "
            f"got {address!r}"
        )


def _check_name(what: str, value: Any, limit: int, dns_subdomain: bool = False) -> None:
    ok = isinstance(value, str) and 0 < len(value) <= limit
    if ok:
        parts = value.split(".") if dns_subdomain else [value]
        ok = all(_NAME_RE.match(part) for part in parts)
    if not ok:
        raise ConfigError(
            f"{what}: expected a Kubernetes name (lower-case letters, digits and '-', "
            f"at most {limit} characters), got {value!r}"
        )


def _check_int(what: str, value: Any, minimum: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value > 2**31 - 1:
        raise ConfigError(f"{what}: expected a whole number of at least {minimum}, got {value!r}")
    return value


def _metadata(name: str, namespace: str | None, labels: dict[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(labels)
    return metadata


def _mib(n_bytes: int) -> str:
    return f"{math.ceil(n_bytes / MIB)}Mi"


def _format_gib(n_bytes: int) -> str:
    return f"{math.ceil(n_bytes * 10 / GIB) / 10:g}Gi"


# -- YAML output ----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Indented block lists; multi-line strings (the config) as literal blocks when possible."""

    def increase_indent(self, flow: bool = False, indentless: bool = False):  # noqa: D102
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:  # noqa: D102 - no &id001 anchors in manifests
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str):
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _represent_str)
