"""What a platform team sets on a KubeRay run's pods and RayJob: the config's ``kuberay`` section.

Every field is also a ``lakebench-ray kuberay`` option (``service_account`` is
``--service-account``, ...), so a team keeps them in its config file and a user adds to them on
the command line. The section is loaded with the rest of the config (these are its fields, as
``s3.*`` are :class:`~lakebench_ray.sinks.s3.options.S3Options`'s) and :meth:`KubeRayOptions.check`
checks them: each bad value is a one-line error naming ``kuberay.<field>``. They change no byte
of the data, so they are not part of the config fingerprint and the rendered ConfigMap leaves
them out.

Mappings and lists are typed ``Any`` so that the loader keeps what the file says and the check
can name the mistake (a YAML ``true`` where Kubernetes wants the string ``"true"``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import ConfigError
from .names import check_label_value, check_name, check_qualified_name

#: Oldest Ray this project supports (``pyproject.toml``); KubeRay's ``rayVersion`` below it is refused.
MIN_RAY_VERSION = (2, 48, 0)
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
#: Kueue's label naming the LocalQueue of a job.
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class KubeRayOptions:
    """The ``kuberay`` section; ``None``/empty leaves the manifests as they are without it."""

    #: Pods run as this ServiceAccount; with no Secret named, no static keys (web identity).
    service_account: Optional[str] = None
    #: Delete the cluster after success only; after a failure it stays for debugging.
    keep_on_failure: bool = False
    #: RayJob ``activeDeadlineSeconds``: the whole run (all retries) must end within this.
    active_deadline_s: Optional[int] = None
    #: RayJob ``preRunningDeadlineSeconds``: the job must be running within this.
    pre_running_deadline_s: Optional[int] = None
    #: ``imagePullSecrets`` of every pod (a private registry).
    image_pull_secrets: Any = field(default_factory=list)
    #: ``imagePullPolicy`` of every container; null = IfNotPresent.
    image_pull_policy: Optional[str] = None
    #: ``nodeSelector`` of every pod, label key -> value.
    node_selector: Any = field(default_factory=dict)
    #: ``tolerations`` of every pod, each ``KEY[=VALUE]:EFFECT``.
    tolerations: Any = field(default_factory=list)
    #: ``priorityClassName`` of every pod.
    priority_class: Optional[str] = None
    #: Extra labels of every pod, key -> value.
    pod_labels: Any = field(default_factory=dict)
    #: Annotations of every pod, key -> value.
    pod_annotations: Any = field(default_factory=dict)
    #: Kueue LocalQueue: the RayJob is labelled for it and created suspended.
    queue: Optional[str] = None
    #: Also render a prometheus-operator PodMonitor for the pods' metrics port.
    pod_monitor: bool = False
    #: A YAML file of strategic-merge patches applied to the rendered objects, last.
    patch: Optional[str] = None
    #: KubeRay's ``rayVersion``; null = read from the image's tag, else the image this project builds.
    ray_version: Optional[str] = None

    def check(self) -> None:
        """Each field's Kubernetes syntax and range; the first problem is a one-line ConfigError."""
        if self.service_account is not None:
            check_name("kuberay.service_account", self.service_account, 253, dns_subdomain=True)
        for name in ("active_deadline_s", "pre_running_deadline_s"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= _INT32_MAX:
                raise ConfigError(f"kuberay.{name}: expected a whole number of seconds of at least 1, got {value}")
        for i, secret in enumerate(_list("kuberay.image_pull_secrets", self.image_pull_secrets)):
            check_name(f"kuberay.image_pull_secrets[{i}]", secret, 253, dns_subdomain=True)
        if self.image_pull_policy is not None and self.image_pull_policy not in PULL_POLICIES:
            raise ConfigError(
                f"kuberay.image_pull_policy: expected one of {', '.join(PULL_POLICIES)}, got {self.image_pull_policy!r}"
            )
        for key, value in _mapping("kuberay.node_selector", self.node_selector).items():
            check_qualified_name("kuberay.node_selector", key)
            check_label_value(f"kuberay.node_selector.{key}", value)
        for i, text in enumerate(_list("kuberay.tolerations", self.tolerations)):
            parse_toleration(f"kuberay.tolerations[{i}]", text)
        if self.priority_class is not None:
            check_name("kuberay.priority_class", self.priority_class, 253, dns_subdomain=True)
        for key, value in _mapping("kuberay.pod_labels", self.pod_labels).items():
            check_qualified_name("kuberay.pod_labels", key)
            check_label_value(f"kuberay.pod_labels.{key}", value)
        for key, value in _mapping("kuberay.pod_annotations", self.pod_annotations).items():
            check_qualified_name("kuberay.pod_annotations", key)
            if not isinstance(value, str):
                raise ConfigError(f"kuberay.pod_annotations.{key}: {value!r} is not a string: quote it in YAML")
        if self.queue is not None:
            # A LocalQueue's name, carried as a label value: both rules apply.
            check_name("kuberay.queue", self.queue, 63, dns_subdomain=True)
        if self.queue is not None and self.keep_on_failure:
            raise ConfigError(
                "kuberay.queue: Kueue suspends the RayJob, and KubeRay suspends only a job that deletes its "
                "cluster when it ends: drop kuberay.keep_on_failure (--keep-on-failure) or kuberay.queue (--queue)"
            )
        if self.patch is not None and (not isinstance(self.patch, str) or not self.patch.strip()):
            raise ConfigError(f"kuberay.patch: expected the path of a YAML file, got {self.patch!r}")
        if self.ray_version is not None:
            check_ray_version("kuberay.ray_version", self.ray_version)


def parse_toleration(what: str, text: Any) -> dict[str, str]:
    """``KEY[=VALUE]:EFFECT`` as a Kubernetes toleration: ``Equal`` with a value, else ``Exists``."""
    if not isinstance(text, str) or ":" not in text:
        raise ConfigError(
            f"{what}: expected KEY[=VALUE]:EFFECT such as dedicated=lakebench:NoSchedule, got {text!r}"
        )
    pair, _, effect = text.rpartition(":")
    key, has_value, value = pair.partition("=")
    if effect not in TAINT_EFFECTS:
        raise ConfigError(f"{what}: the effect of {text!r} must be one of {', '.join(TAINT_EFFECTS)}")
    check_qualified_name(what, key)
    if not has_value:
        return {"key": key, "operator": "Exists", "effect": effect}
    check_label_value(what, value)
    return {"key": key, "operator": "Equal", "value": value, "effect": effect}


def parse_pair(what: str, text: str) -> tuple[str, str]:
    """A command line ``KEY=VALUE`` (``--node-selector``, ``--pod-label``, ``--pod-annotation``)."""
    key, has_value, value = text.partition("=")
    if not has_value or not key:
        raise ConfigError(f"{what}: expected KEY=VALUE such as node.kubernetes.io/instance-type=m6i.4xlarge, got {text!r}")
    return key, value


def check_ray_version(what: str, value: Any) -> str:
    """``X.Y.Z``, at least the oldest Ray this project supports."""
    match = _VERSION_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(f"{what}: expected a Ray release such as 2.60.0, got {value!r}")
    if tuple(int(part) for part in match.groups()) < MIN_RAY_VERSION:
        oldest = ".".join(map(str, MIN_RAY_VERSION))
        raise ConfigError(f"{what}: lakebench-ray needs Ray {oldest} or later, got {value}")
    return value


def _list(what: str, value: Any) -> list:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{what}: expected a list, got {value!r}")
    return list(value)


def _mapping(what: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{what}: expected a mapping of keys to values, got {value!r}")
    return value


__all__ = [
    "KUEUE_QUEUE_LABEL",
    "KubeRayOptions",
    "MIN_RAY_VERSION",
    "check_ray_version",
    "parse_pair",
    "parse_toleration",
]
