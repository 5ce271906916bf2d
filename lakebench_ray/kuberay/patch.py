"""``--patch FILE``: strategic-merge patches applied to the rendered objects, for what no option
covers (an init container, a sidecar, affinity, a label Prometheus selects PodMonitors by).

The file holds one or more YAML documents, each naming its target by ``kind`` and
``metadata.name`` (as ``kustomize``'s ``patchesStrategicMerge`` does). Each is merged the way
``kubectl patch --type strategic`` merges into a Pod: mappings key by key, ``null`` deletes a
key, and the lists Kubernetes merges by a key are merged by it (containers, env and volumes by
``name``, volumeMounts by ``mountPath``, ports by ``containerPort``, imagePullSecrets by
``name``, and KubeRay's workerGroupSpecs by ``groupName``); other lists are replaced.
``$patch: delete`` removes a mapping or a list element, ``$patch: replace`` replaces a mapping
instead of merging it. Kubernetes has no Python implementation of this to use, hence these few
rules, limited to the fields of the manifests rendered here.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError

#: List field -> the key its elements are merged by (Kubernetes' ``patchMergeKey`` of PodSpec and
#: Container; KubeRay's worker groups by name).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
    "workerGroupSpecs": "groupName",
}
_DIRECTIVE = "$patch"


def load_patches(path: str) -> list[dict[str, Any]]:
    """The patch documents of ``path``, each checked to name a kind and a name."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"kuberay.patch: '{path}' does not exist: pass a YAML file of patches to --patch")
    try:
        docs = [doc for doc in yaml.safe_load_all(file.read_text()) if doc is not None]
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"kuberay.patch: '{path}' is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not docs:
        raise ConfigError(f"kuberay.patch: '{path}' holds no patch")
    for i, doc in enumerate(docs):
        name = doc.get("metadata", {}).get("name") if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict) else None
        if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str) or not isinstance(name, str):
            raise ConfigError(
                f"kuberay.patch: document {i + 1} of '{path}' must be a mapping with kind and metadata.name "
                f"naming the object it patches (e.g. kind: RayJob, metadata: {{name: lakebench-datagen}})"
            )
    return docs


def apply_patches(objects: list[dict[str, Any]], patches: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    """``objects`` with every patch merged into the object of its kind and name."""
    result = copy.deepcopy(objects)
    for patch in patches:
        kind, name = patch["kind"], patch["metadata"]["name"]
        targets = [i for i, obj in enumerate(result) if obj.get("kind") == kind and obj["metadata"].get("name") == name]
        if not targets:
            present = ", ".join(f"{o['kind']}/{o['metadata']['name']}" for o in result)
            raise ConfigError(f"kuberay.patch: '{source}' patches {kind}/{name}, which is not rendered (there are {present})")
        body = {k: v for k, v in patch.items() if k != "apiVersion"}
        merged = merge(result[targets[0]], body, f"{kind}/{name}")
        if merged is None:
            raise ConfigError(f"kuberay.patch: '{source}' deletes {kind}/{name}: leave it out of the output instead")
        result[targets[0]] = merged
    return result


def merge(target: Any, patch: Any, where: str) -> Any:
    """``patch`` merged into ``target`` (neither is modified); None means "delete"."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get(_DIRECTIVE)
    body = {k: v for k, v in patch.items() if k != _DIRECTIVE}
    if directive == "delete":
        return None
    if directive == "replace":
        return copy.deepcopy(body)
    if directive is not None:
        raise ConfigError(f"kuberay.patch: {where}: '$patch: {directive}' is not supported (delete or replace)")
    if not isinstance(target, dict):
        target = {}
    result = copy.deepcopy(target)
    for key, value in body.items():
        path = f"{where}.{key}"
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS:
            current = result.get(key)
            result[key] = _merge_list(current if isinstance(current, list) else [], value, MERGE_KEYS[key], path)
        elif isinstance(value, dict):
            merged = merge(result.get(key), value, path)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(target: list, patch: list, key: str, where: str) -> list:
    result = copy.deepcopy(target)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise ConfigError(f"kuberay.patch: {where}: each element needs its '{key}' to be merged, got {item!r}")
        found = [i for i, current in enumerate(result) if isinstance(current, dict) and current.get(key) == item[key]]
        if found:
            merged = merge(result[found[0]], item, f"{where}[{key}={item[key]}]")
            if merged is None:
                del result[found[0]]
            else:
                result[found[0]] = merged
        elif item.get(_DIRECTIVE) != "delete":
            result.append(merge({}, item, f"{where}[{key}={item[key]}]"))
    return result


__all__ = ["MERGE_KEYS", "apply_patches", "load_patches", "merge"]
