"""Where files go: a local directory or an S3 bucket, behind one :class:`Store` interface."""

from __future__ import annotations

from .. import layout
from .base import ObjectWriter, Store, StoreFindings
from .local import LocalStore


def open_store(uri: str, s3: dict | None = None, create_bucket: bool = False, mechanisms: dict | None = None) -> Store:
    """The store for an output URI: ``s3://bucket[/path]`` or a local directory (``file://`` ok).

    ``s3`` holds :class:`~lakebench_ray.sinks.s3.S3Options` fields; unset ones come from the
    environment. ``mechanisms``: what a preflight chose for an S3 store (its findings'
    ``open_args``). Plain values only, so a spec can be shipped to Ray actors.
    """
    if layout.is_s3(uri):
        from .s3 import S3Options, S3Store

        return S3Store(uri, S3Options.from_env(**(s3 or {})), create_bucket=create_bucket, mechanisms=mechanisms)
    return LocalStore(layout.local_path(uri))


__all__ = ["ObjectWriter", "Store", "StoreFindings", "LocalStore", "open_store"]
