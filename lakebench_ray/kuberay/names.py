"""Kubernetes' syntax for the names, label keys and values a manifest carries, checked before
rendering so that a typo is a one-line error here instead of a rejected ``kubectl apply``.

The rules are Kubernetes' own (``k8s.io/apimachinery/pkg/util/validation``): a DNS-1123 label
(namespaces, RayJob names), a DNS-1123 subdomain (Secrets, ServiceAccounts, PriorityClasses), a
qualified name (label and annotation keys, toleration keys) and a label value.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ConfigError

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_LABEL_RE = re.compile(rf"^{_DNS_LABEL}$")
_NAME_PART_RE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def check_name(what: str, value: Any, limit: int, dns_subdomain: bool = False) -> None:
    """A DNS-1123 label (or, with ``dns_subdomain``, dot-separated labels) of at most ``limit``
    characters."""
    ok = isinstance(value, str) and 0 < len(value) <= limit
    if ok:
        parts = value.split(".") if dns_subdomain else [value]
        ok = all(_DNS_LABEL_RE.match(part) for part in parts)
    if not ok:
        raise ConfigError(
            f"{what}: expected a Kubernetes name (lower-case letters, digits and '-', "
            f"at most {limit} characters), got {value!r}"
        )


def check_qualified_name(what: str, value: Any) -> None:
    """A label or annotation key: ``[prefix/]name``, the prefix a DNS subdomain, the name at most
    63 letters, digits, '-', '_' or '.' (starting and ending alphanumeric)."""
    ok = isinstance(value, str) and value.count("/") <= 1
    if ok:
        prefix, _, name = value.rpartition("/")
        ok = bool(_NAME_PART_RE.match(name)) and len(name) <= 63
        if ok and "/" in value:
            ok = 0 < len(prefix) <= 253 and all(_DNS_LABEL_RE.match(part) for part in prefix.split("."))
    if not ok:
        raise ConfigError(
            f"{what}: {value!r} is not a Kubernetes label key ([prefix/]name, the name at most 63 "
            f"letters, digits, '-', '_' or '.'), e.g. node.kubernetes.io/instance-type"
        )


def check_label_value(what: str, value: Any) -> None:
    """A label value: empty, or at most 63 letters, digits, '-', '_' or '.' (alphanumeric at both
    ends). A YAML ``true`` or ``8`` is not a string: Kubernetes wants ``"true"``."""
    if not isinstance(value, str):
        raise ConfigError(f"{what}: {value!r} is not a string: quote it in YAML (e.g. \"{str(value).lower()}\")")
    if value and not (len(value) <= 63 and _NAME_PART_RE.match(value)):
        raise ConfigError(
            f"{what}: {value!r} is not a Kubernetes label value (at most 63 letters, digits, '-', '_' or '.')"
        )


__all__ = ["check_label_value", "check_name", "check_qualified_name"]
