"""KubeRay manifests for a generation run: text out, no Ray, no Kubernetes client, no network.

:mod:`.rayjob` checks the arguments and renders the ConfigMap and the RayJob;
:mod:`.raycluster` holds the RayCluster's pods (resources, volumes, where secrets come from);
:mod:`.options` is the config's ``kuberay`` section (what a platform team sets on pods and job),
:mod:`.podmonitor` its PodMonitor, :mod:`.patch` its ``--patch`` escape hatch and :mod:`.names`
Kubernetes' name syntax.
"""

from .options import KubeRayOptions
from .raycluster import CONFIG_PATH, RAY_VERSION, cluster_spec_for
from .rayjob import DEFAULT_IMAGE, DEFAULT_SECRET_NAME, entrypoint, parse_quantity, render_manifests

__all__ = [
    "CONFIG_PATH",
    "DEFAULT_IMAGE",
    "DEFAULT_SECRET_NAME",
    "KubeRayOptions",
    "RAY_VERSION",
    "cluster_spec_for",
    "entrypoint",
    "parse_quantity",
    "render_manifests",
]
