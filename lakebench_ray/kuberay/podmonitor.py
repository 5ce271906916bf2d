"""The prometheus-operator PodMonitor of a KubeRay run: Prometheus scrapes every pod of the job on
its metrics port, where Ray exports its own metrics and, on the head (where the driver runs),
the run's ``ray_lakebench_*`` counters and gauges (:mod:`lakebench_ray.runtime.metrics`).
"""

from __future__ import annotations

from typing import Any, Optional

from .raycluster import METRICS_PORT_NAME

#: How often Prometheus scrapes; the driver updates its gauges every few seconds.
SCRAPE_INTERVAL = "30s"


def pod_monitor(name: str, namespace: Optional[str], labels: dict[str, str]) -> dict[str, Any]:
    """A ``monitoring.coreos.com/v1`` PodMonitor selecting the pods labelled with the run's name
    (``app.kubernetes.io/instance``), in its own namespace. Prometheus picks PodMonitors by its
    ``podMonitorSelector``: add the label it wants with ``--patch`` (kube-prometheus-stack:
    ``release: <its release>``)."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    metadata["labels"] = dict(labels)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": metadata,
        "spec": {
            "selector": {
                "matchLabels": {"app.kubernetes.io/name": "lakebench-ray", "app.kubernetes.io/instance": name}
            },
            "podMetricsEndpoints": [{"port": METRICS_PORT_NAME, "path": "/metrics", "interval": SCRAPE_INTERVAL}],
            # Series say which run and which kind of pod (head: the driver's run metrics).
            "podTargetLabels": ["app.kubernetes.io/instance", "app.kubernetes.io/component"],
        },
    }


__all__ = ["SCRAPE_INTERVAL", "pod_monitor"]
