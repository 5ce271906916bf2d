"""What every request of one store shares: where its keys live, its client, its upload threads and
part buffers.

The store's writer, reader, preflight and probe all need these, and the store needs them too; each
of those modules therefore takes an :class:`S3Session` rather than reaching into the store, so no
module imports another's private parts and none imports the store. Clients, threads and buffers
are built on first use and rebuilt after pickling (a store travels to Ray actors as plain values).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import threading
from typing import Any

from .capabilities import Mechanisms
from .client import make_client
from .options import S3Options, parse_s3_uri
from .upload import BufferPool


class S3Session:
    """The bucket and root of ``s3://bucket[/root]``, the options to reach it and the mechanisms
    chosen for it (:class:`.capabilities.Mechanisms`: the strongest until a preflight adopts others)."""

    def __init__(self, uri: str, options: S3Options, mechanisms: Mechanisms | None = None):
        self.uri = str(uri)
        self.bucket, self.root = parse_s3_uri(self.uri)
        self.options = options
        self.mechanisms = mechanisms or Mechanisms.unprobed(options.checksum, options.conditional_writes)
        self._lock = threading.Lock()
        self._client = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool: BufferPool | None = None

    def __getstate__(self) -> dict:
        return {"uri": self.uri, "options": self.options, "mechanisms": self.mechanisms}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["uri"], state["options"], state["mechanisms"])

    def adopt(self, mechanisms: Mechanisms) -> None:
        """Use ``mechanisms`` from now on (the client is rebuilt if its signing changes)."""
        if mechanisms.sign_payload != self.mechanisms.sign_payload:
            self.close()
        self.mechanisms = mechanisms

    @property
    def client_options(self) -> S3Options:
        """The options requests go out with: the payload signed when the server refused it unsigned."""
        if self.mechanisms.sign_payload and not self.options.payload_signed:
            return dataclasses.replace(self.options, sign_payload=True)
        return self.options

    @property
    def payload_signed(self) -> bool:
        return self.client_options.payload_signed

    # -- keys ----------------------------------------------------------------------------------
    def full_key(self, key: str) -> str:
        """The bucket key of a key below the root."""
        key = str(key).lstrip("/")
        if not key:
            raise ValueError("empty object key")
        return f"{self.root}/{key}" if self.root else key

    def full_prefix(self, prefix: str) -> str:
        """A directory-like prefix: '' is the root, 'a/b' means everything under 'a/b/'."""
        prefix = str(prefix).strip("/")
        parts = [p for p in (self.root, prefix) if p]
        return "/".join(parts) + "/" if parts else ""

    def relative(self, full_key: str) -> str:
        """A bucket key as a key below the root."""
        return full_key[len(self.root) + 1 :] if self.root else full_key

    def describe(self, key: str) -> str:
        """A full location of ``key`` for messages."""
        return f"{self.uri.rstrip('/')}/{key}"

    # -- shared resources ------------------------------------------------------------------------
    def make_client(self, **tighter: Any):
        """A new client; the keyword arguments tighten one setting (preflight, probes)."""
        return make_client(self.client_options, **tighter)

    def client(self):
        """The client every request of the store goes through (thread-safe, built once)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self.make_client()
        return self._client

    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        """The threads that send parts (shared by every writer of the store)."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = concurrent.futures.ThreadPoolExecutor(
                        max_workers=self.options.max_concurrency, thread_name_prefix="lakebench-s3-upload"
                    )
        return self._executor

    def pool(self) -> BufferPool:
        """Part buffers reused across parts and files (see :class:`.upload.BufferPool`)."""
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = BufferPool(self.options.part_size, keep=self.options.max_concurrency + 1)
        return self._pool

    def close(self) -> None:
        """Release threads and connections (rebuilt on demand)."""
        with self._lock:
            executor, self._executor, self._client, self._pool = self._executor, None, None, None
        if executor is not None:
            executor.shutdown(wait=True)
