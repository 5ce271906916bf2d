"""Where files go: a local directory or an S3 bucket, behind one :class:`Store` interface."""

from __future__ import annotations

from ..layout import is_s3_uri
from .base import ObjectWriter, Store
from .local import LocalStore


def open_store(uri: str, s3: dict | None = None, create_bucket: bool = False) -> Store:
    """The store for an output URI: ``s3://bucket[/path]`` or a local directory (``file://`` ok).

    ``s3`` holds :class:`~lakebench_ray.sinks.s3.S3Options` fields; unset ones come from the
    environment. Plain values only, so a spec can be shipped to Ray actors.
    """
    if is_s3_uri(uri):
        from .s3 import S3Options, S3Store

        return S3Store(uri, S3Options.from_env(**(s3 or {})), create_bucket=create_bucket)
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    return LocalStore(uri)


__all__ = ["ObjectWriter", "Store", "LocalStore", "open_store"]
