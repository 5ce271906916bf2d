"""Render KubeRay manifests for one generation run: a ConfigMap and a RayJob.

Text out, no Ray, no Kubernetes client, no network. The caller (the ``lakebench-ray kuberay``
sub-command) loads and validates the config as usual and passes the :class:`~lakebench_ray.config.Config`::

    from lakebench_ray.config import load_config
    from lakebench_ray.kuberay import render_manifests

    text = render_manifests(
        load_config("my-config.yaml", ["scale=100"]),
        name="lakebench-datagen",       # RayJob name; ConfigMap is "<name>-config"
        namespace="default",            # None: leave metadata.namespace out
        image="lakebench-ray:0.1.0",    # --image
        worker_max_replicas=10,         # --max-workers
        worker_cpus=8,                  # --worker-cpus (one generator actor per CPU)
        worker_memory=None,             # --worker-memory, e.g. "16Gi"; None: sized from worker_cpus
        secret_name=None,               # None: lakebench-s3-credentials, or none with kuberay.service_account
    )
    print(text)                         # kubectl apply -f -

The output is a multi-document YAML string:

1. a ``ConfigMap`` ``<name>-config`` whose ``config.yaml`` is the config as YAML (or, with
   ``config_text``, that text verbatim: e.g. a commented file, checked to say the same);
2. a ``RayJob`` ``<name>`` that mounts it at ``/etc/lakebench/config.yaml`` and runs
   ``python -m lakebench_ray generate --config /etc/lakebench/config.yaml resume=true``
   on its own autoscaling RayCluster (:mod:`lakebench_ray.kuberay.raycluster`: head with
   ``num-cpus: "0"``, one worker group scaling from 0 to ``worker_max_replicas``), retried
   ``backoff_limit`` times: every retry builds a new cluster and resumes from the checkpoint in
   <uri>/_lakebench/<prefix>/.

The config's ``kuberay`` section (:class:`~lakebench_ray.kuberay.options.KubeRayOptions`: service
account, pull secrets, scheduling, Kueue, PodMonitor, deadlines, keep-on-failure, patches) shapes
the pods and the RayJob; with a PodMonitor a third document follows. Every field left at its
default leaves the manifests exactly as without the section.

The config is the one the loader built (its keys, types and rules live in
:mod:`lakebench_ray.config`); here it is only checked for what a KubeRay run needs on top.
S3 credentials are never written into the manifests: pods read them from the Secret
``secret_name`` (keys ``accessKey``/``secretKey``; optional ``endpoint``, ``region``,
``pathStyle``, ``verifySsl``, ``sessionToken``) through ``secretKeyRef``, or, with a service
account and no Secret named, from the web identity its pods are given. A config holding
anything that looks like a credential is refused with :class:`~lakebench_ray.errors.ConfigError`
(a ``ValueError``). Problems are reported as ``ConfigError`` with a one-line message.

The checked-in ``kuberay/configmap.yaml`` and ``kuberay/rayjob.yaml`` are exactly what this
function renders for that config text with ``namespace=None`` (a test keeps them in sync); see
``docs/kuberay.md``.
"""

from __future__ import annotations

import math
import re
import shlex
from typing import TYPE_CHECKING, Any

import yaml

from ..errors import ConfigError
from ..layout import is_s3
from ..version import __version__
from .names import check_name
from .options import KUEUE_QUEUE_LABEL
from .patch import apply_patches, load_patches
from .podmonitor import pod_monitor
from .raycluster import CONFIG_KEY, CONFIG_PATH, cluster_spec_for, submitter_template

if TYPE_CHECKING:
    from ..config import Config

__all__ = ["DEFAULT_IMAGE", "DEFAULT_SECRET_NAME", "entrypoint", "parse_quantity", "render_manifests"]

#: The image ``docker build -t lakebench-ray:<version> .`` produces (push it to your registry).
DEFAULT_IMAGE = f"lakebench-ray:{__version__}"
#: The Lakebench S3 credentials Secret (keys ``accessKey`` / ``secretKey``).
DEFAULT_SECRET_NAME = "lakebench-s3-credentials"

GIB = 1 << 30
MIB = 1 << 20
#: Recommended memory per generator actor (measured peak RSS is ~0.4-0.5 GB while writing a
#: 512 MB file; the rest is headroom for Arrow buffers and queued upload parts).
ACTOR_MEMORY_BYTES = 1 * GIB
#: Below this per actor the pod is refused: the measured peak.
ACTOR_MEMORY_MIN_BYTES = GIB // 2
#: raylet, dashboard agent, runtime-env agent, log monitor and core-worker overhead per pod.
RAY_OVERHEAD_BYTES = 1 * GIB
DEFAULT_OBJECT_STORE = "2Gi"

#: KubeRay appends "-<5 chars>" to a RayJob's name for its RayCluster; it refuses longer names.
MAX_NAME_LENGTH = 47

_QUANTITY_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_UNITS = {
    None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "Pi": 1 << 50, "Ei": 1 << 60,
}
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


def entrypoint() -> str:
    """The RayJob entrypoint: generate from the mounted config, resuming from its checkpoint
    (the ConfigMap holds the whole effective config, so no override follows)."""
    words = ["python", "-m", "lakebench_ray", "generate", "--config", CONFIG_PATH, "resume=true"]
    return " ".join(shlex.quote(word) for word in words)


def render_manifests(
    config: Config,
    *,
    config_text: str | None = None,
    name: str = "lakebench-datagen",
    namespace: str | None = "default",
    image: str = DEFAULT_IMAGE,
    worker_max_replicas: int = 10,
    worker_cpus: int = 8,
    worker_memory: str | None = None,
    secret_name: str | None = None,
    object_store_memory: str = DEFAULT_OBJECT_STORE,
    ca_cert_secret: str | None = None,
    ca_cert_key: str = "ca.crt",
    backoff_limit: int = 3,
    ttl_seconds_after_finished: int = 600,
    idle_timeout_seconds: int = 60,
) -> str:
    """A ConfigMap holding ``config`` and a RayJob that runs it, as one YAML text.

    Args:
        config: the effective config, as :func:`~lakebench_ray.config.load_config` built it.
        config_text: the YAML the ConfigMap shows instead of ``config.to_yaml()``, e.g. the
            commented file ``config`` was loaded from; it must load to ``config`` (what was checked).
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
            ``None``: :data:`DEFAULT_SECRET_NAME`, or no Secret at all when the config's
            ``kuberay.service_account`` is set (the AWS SDK's web identity chain).
        object_store_memory: Ray object store per pod (quantity); /dev/shm is sized from it.
            Every node holds one copy of the loyalty table (1 byte per customer id).
        ca_cert_secret: a Secret holding a PEM CA bundle under ``ca_cert_key``; when given it is
            mounted in every pod and ``S3_CA_CERT`` points to it.
        backoff_limit: RayJob retries; each retry is a new cluster resuming from the checkpoint.
        ttl_seconds_after_finished: how long the finished cluster stays up (logs, dashboard).
        idle_timeout_seconds: how long an idle worker pod lives before the autoscaler removes it.

    Raises:
        ConfigError: (a ``ValueError``) bad argument, ``config_text`` that says something
            else than ``config``, a credential in the config, local output, or pods too small.
    """
    # The kuberay section shaped the pods; the pods' config is the run's (and it holds no secret).
    shown = config.to_yaml(without=("kuberay",)) if config_text is None else _same_config(config_text, config)
    # Pod labels and annotations may be named like anything ("...-token"); their values, like the
    # config's, must not be a credential.
    settings = config.to_dict()
    _refuse_credentials(settings.pop("kuberay"), "kuberay", names=False)
    _refuse_credentials(settings, "")
    _check_runnable(config)
    options = config.kuberay
    options.check()

    check_name("name", name, MAX_NAME_LENGTH)
    if secret_name is None and options.service_account is None:
        secret_name = DEFAULT_SECRET_NAME
    if secret_name is not None:
        check_name("secret_name", secret_name, 253, dns_subdomain=True)
    if namespace is not None:
        check_name("namespace", namespace, 63)
    if ca_cert_secret is not None:
        check_name("ca_cert_secret", ca_cert_secret, 253, dns_subdomain=True)
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
    customers = config.customer_id_max
    if customers > store_bytes // 2:
        need = _format_gib(2 * customers)
        raise ConfigError(
            f"customer_id_max={customers}: the loyalty table ({_format_gib(customers)}, one copy per node) "
            f"needs object_store_memory of at least {need}, got {object_store_memory}"
        )
    actors = max(1, math.floor(worker_cpus / config.ray.cpus_per_actor + 1e-9))
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
        options=options,
        instance=name,
    )
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(config_map_name, namespace, labels),
        "data": {CONFIG_KEY: shown},
    }
    job_spec: dict[str, Any] = {"entrypoint": entrypoint()}
    if options.keep_on_failure:
        # Deletion rules instead of shutdownAfterJobFinishes (KubeRay allows one or the other):
        # the cluster of a successful run goes after the TTL, a failed run's stays.
        job_spec["shutdownAfterJobFinishes"] = False
        job_spec["deletionStrategy"] = {
            "deletionRules": [
                {"policy": "DeleteCluster", "condition": {"jobStatus": "SUCCEEDED", "ttlSeconds": ttl_seconds_after_finished}}
            ]
        }
    else:
        job_spec["shutdownAfterJobFinishes"] = True
        job_spec["ttlSecondsAfterFinished"] = ttl_seconds_after_finished
    job_spec["backoffLimit"] = backoff_limit
    job_spec["submissionMode"] = "K8sJobMode"
    if options.queue is not None:
        job_spec["suspend"] = True  # Kueue unsuspends it once admitted
    if options.active_deadline_s is not None:
        job_spec["activeDeadlineSeconds"] = options.active_deadline_s
    if options.pre_running_deadline_s is not None:
        job_spec["preRunningDeadlineSeconds"] = options.pre_running_deadline_s
    submitter = submitter_template(image, options)
    if submitter is not None:
        job_spec["submitterPodTemplate"] = submitter
    job_spec["rayClusterSpec"] = cluster_spec
    job_metadata = _metadata(name, namespace, labels)
    if options.queue is not None:
        job_metadata["labels"][KUEUE_QUEUE_LABEL] = options.queue
    ray_job = {"apiVersion": "ray.io/v1", "kind": "RayJob", "metadata": job_metadata, "spec": job_spec}
    objects = [config_map, ray_job]
    if options.pod_monitor:
        objects.append(pod_monitor(name, namespace, labels))
    if options.patch is not None:
        objects = apply_patches(objects, load_patches(options.patch), options.patch)
    if secret_name is not None:
        needs = f"# Needs the Secret {secret_name!r} (keys accessKey, secretKey) in the same namespace.\n"
    else:
        needs = (
            f"# Pods run as the ServiceAccount {options.service_account!r}: S3 credentials come from its web "
            "identity (no Secret).\n"
        )
    header = (
        f"# Generated by lakebench-ray {__version__} (lakebench_ray.kuberay.render_manifests).\n"
        + needs
        + "# Apply: kubectl apply -f THIS_FILE   Guide: docs/kuberay.md\n"
    )
    return header + yaml.dump_all(
        objects,
        Dumper=_Dumper,
        sort_keys=False,
        explicit_start=True,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )


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


def _same_config(text: str, config: Config) -> str:
    """``text``, once checked to load (with the one config loader) to ``config``: the ConfigMap
    must hold what was checked."""
    from ..config import config_from_yaml

    if config_from_yaml(text, "config_text") != config:
        raise ConfigError("config_text: does not load to the config given: pass the text that config was loaded from")
    return text


def _refuse_credentials(value: Any, path: str, names: bool = True) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            where = f"{path}.{key}" if path else str(key)
            folded = re.sub(r"[^a-z0-9]", "", str(key).lower())
            if names and any(word in folded for word in _CREDENTIAL_WORDS) and child not in (None, ""):
                raise ConfigError(
                    f"{where}: credentials must not be put in the config (it is stored in a ConfigMap); "
                    f"put them in the Secret (accessKey/secretKey) and remove this key"
                )
            _refuse_credentials(child, where, names)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _refuse_credentials(child, f"{path}[{index}]", names)
    elif isinstance(value, str):
        for pattern, what in _CREDENTIAL_VALUES:
            if pattern.search(value):
                raise ConfigError(
                    f"{path or 'config'}: looks like {what}; credentials must not be put in the config "
                    f"(it is stored in a ConfigMap): put them in the Secret instead"
                )


def _check_runnable(config: Config) -> None:
    uri = config.output.uri
    if not is_s3(uri):
        raise ConfigError(
            f"output.uri: a KubeRay run writes from many pods, so it needs an S3 bucket "
            f"(output.uri=s3://BUCKET), got {uri!r}"
        )
    address = config.ray.address
    if address not in (None, "", "auto"):
        raise ConfigError(
            f"ray.address: a RayJob's driver joins its own cluster; leave ray.address unset (or 'auto'), "
            f"got {address!r}"
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
