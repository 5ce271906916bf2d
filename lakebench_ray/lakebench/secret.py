"""Where pods rendered from a Lakebench config find its S3 keys and CA: Lakebench's own Secrets.

A Lakebench deployment keeps the S3 keys in a Secret (``secret_ref``, else the one it makes from
inline keys) and a private CA in the Secret it makes from ``ca_cert``. Pods rendered here read
both from those Secrets, never from the manifests; the config file's ``ca_cert`` is a path on the
machine that renders, not in the pods, so it is dropped from what the pods are given.
"""

from __future__ import annotations

from typing import Optional

from .config_file import LakebenchSettings

#: The Secret Lakebench makes from ``ca_cert`` (mounted by its datagen Job at /etc/ssl/certs/custom-ca).
CA_CERT_SECRET = "lakebench-ca-certificate"


def pod_secrets(
    settings: Optional[LakebenchSettings], secret_name: Optional[str], ca_cert_secret: Optional[str]
) -> tuple[Optional[str], Optional[str]]:
    """The credentials Secret and CA Secret for pods: the names given on the command line, else
    the Lakebench config's. Removes the local CA path from ``settings.layer`` when the pods get
    the CA from Lakebench's Secret."""
    if settings is None:
        return secret_name, ca_cert_secret
    secret_name = secret_name or settings.secret_ref
    if settings.has_ca_cert:
        ca_cert_secret = ca_cert_secret or CA_CERT_SECRET
        settings.layer.get("s3", {}).pop("ca_cert", None)
    return secret_name, ca_cert_secret


__all__ = ["CA_CERT_SECRET", "pod_secrets"]
