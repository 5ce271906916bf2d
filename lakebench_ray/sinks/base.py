"""The storage interface the Parquet writer and the checkpoint write through.

A ``Store`` is rooted at the output URI; keys are ``/``-separated paths below it. Writers are
all-or-nothing: an object appears under its key only after ``commit()``, and ``abort()`` (or any
exception inside the ``with`` block) leaves nothing behind under that key.
"""

from __future__ import annotations

import abc
from typing import BinaryIO, Callable


class ObjectWriter(abc.ABC):
    """A binary stream for one object that becomes visible only on ``commit``."""

    @property
    @abc.abstractmethod
    def stream(self):
        """What ``pyarrow.parquet.ParquetWriter`` writes into (a NativeFile or file-like)."""

    @abc.abstractmethod
    def commit(self) -> int:
        """Finish the object under its final key; returns its size in bytes."""

    @abc.abstractmethod
    def abort(self) -> None:
        """Discard everything written; safe to call more than once and after a failure."""

    def __enter__(self) -> "ObjectWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


class Store(abc.ABC):
    """A place to put objects: a local directory or an S3 bucket (with an optional root path)."""

    #: The root as the user wrote it, for messages (never contains secrets).
    uri: str

    @abc.abstractmethod
    def open_writer(self, key: str) -> ObjectWriter:
        """Start writing ``key``; nothing is visible there until ``commit()``."""

    @abc.abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Write a small object atomically (readers see the old or the new content, never a mix)."""

    @abc.abstractmethod
    def get_bytes(self, key: str) -> bytes | None:
        """The content of ``key``, or ``None`` when it does not exist."""

    @abc.abstractmethod
    def open_reader(self, key: str) -> BinaryIO:
        """A seekable binary reader of ``key`` (e.g. for ``pyarrow.parquet.ParquetFile``)."""

    @abc.abstractmethod
    def list(self, prefix: str) -> dict[str, int]:
        """Every object under ``prefix`` (recursively) mapped to its size, keys relative to root."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; no error when it does not exist."""

    @abc.abstractmethod
    def cleanup_partials(self, prefix: str, select: Callable[[str], bool] | None = None) -> int:
        """Remove what interrupted writers left under ``prefix`` (temp files, open multipart
        uploads) whose final key ``select`` accepts (all when None); returns how many.
        Only safe when no writer of those keys runs."""

    @abc.abstractmethod
    def list_partials(self, prefix: str) -> list[str]:
        """The final keys that partial writes under ``prefix`` were heading for (one entry per
        leftover temp file or open upload), for cleanup and verification."""

    @abc.abstractmethod
    def preflight(self) -> None:
        """Prove the root can be written (and read back) before any work starts.

        Raises :class:`~lakebench_ray.errors.SinkError` with one line that says what to fix.
        """

    def probe(self) -> str | None:
        """None when the store answers now, else why not (one quick check, no retries): how a
        run tells a storage outage, which it waits out, from a bad file."""
        return None

    def describe(self, key: str) -> str:
        """A full location of ``key`` for messages."""
        return f"{self.uri.rstrip('/')}/{key}"
