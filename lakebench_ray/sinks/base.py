"""The storage interface the Parquet writer and the checkpoint write through.

A ``Store`` is rooted at the output URI; keys are ``/``-separated paths below it. Writers are
all-or-nothing: an object appears under its key only after ``commit()``, and ``abort()`` (or any
exception inside the ``with`` block) leaves nothing behind under that key.
"""

from __future__ import annotations

import abc
import dataclasses
from typing import BinaryIO, Callable, Iterator


@dataclasses.dataclass(frozen=True)
class Receipt:
    """What a committed object is, as recorded in the checkpoint and the report.

    ``crc32`` is the digest of the bytes, computed while they streamed out (never by reading them
    back); ``tag`` is the store's version of the object as a listing reports it (the S3 ETag; the
    modification time and inode of a local file), so a resume can tell, from one listing, whether
    the object is still the one that was written.
    """

    size: int
    crc32: str
    tag: str

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class ObjectStat:
    """Size and version tag of an object, from a listing (see :class:`Receipt`)."""

    size: int
    tag: str


@dataclasses.dataclass(frozen=True)
class StoreFindings:
    """What a preflight measured of a store and chose from it, for the run to say and record."""

    summary: str  # one line: what the store enforces and the mechanisms chosen
    warning: str | None  # one line: what is weaker than on a store that enforces everything
    record: dict  # for report.json and ``plan --json``
    open_args: dict  # more ``open_store`` arguments, so every process writes the same way


class ObjectWriter(abc.ABC):
    """A binary stream for one object that becomes visible only on ``commit``."""

    @property
    @abc.abstractmethod
    def stream(self):
        """What ``pyarrow.parquet.ParquetWriter`` writes into (a NativeFile or file-like)."""

    @abc.abstractmethod
    def commit(self) -> int:
        """Finish the object under its final key; returns its size in bytes."""

    @property
    @abc.abstractmethod
    def receipt(self) -> Receipt:
        """Size, CRC32 and version tag of the committed object (only after ``commit``)."""

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
    def iter_stats(self, prefix: str) -> Iterator[tuple[str, ObjectStat]]:
        """Every object under ``prefix`` (recursively, keys relative to root) with its size and
        version tag, as the listing pages arrive: one listing, no reads, and never the whole
        listing in memory (a prefix of 2,000,000 files is walked in constant memory)."""

    def list(self, prefix: str) -> dict[str, int]:
        """Every object under ``prefix`` (recursively) mapped to its size, keys relative to root."""
        return {key: stat.size for key, stat in self.iter_stats(prefix)}

    def stat_all(self, prefix: str) -> dict[str, ObjectStat]:
        """Like :meth:`list`, with each object's version tag (one listing, no reads)."""
        return dict(self.iter_stats(prefix))

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove ``key``; no error when it does not exist."""

    # -- compare-and-swap on small objects (the lease) -------------------------------------------
    @abc.abstractmethod
    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The content of ``key`` and its version tag, or None when it does not exist."""

    def read_aged(self, key: str) -> tuple[bytes, str, float | None] | None:
        """Like :meth:`read_tagged`, with the object's age by the store's own clock (its time
        now minus the object's last modification), or None as the age when the store tells no
        time. The lease judges expiry by it, so hosts' clocks need not agree."""
        current = self.read_tagged(key)
        return None if current is None else (*current, None)

    @abc.abstractmethod
    def create_exclusive(self, key: str, data: bytes) -> str | None:
        """Create ``key`` only if it does not exist (S3 ``If-None-Match: *``, local ``O_EXCL``);
        the new version tag, or None when something is there already."""

    @abc.abstractmethod
    def replace_if(self, key: str, data: bytes, tag: str) -> str | None:
        """Replace ``key`` only if its version is still ``tag``; the new tag, or None when the
        object changed or vanished meanwhile."""

    @abc.abstractmethod
    def delete_if(self, key: str, tag: str) -> bool:
        """Delete ``key`` only if its version is still ``tag``; whether it was deleted."""

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
    def preflight(self) -> StoreFindings | None:
        """Prove the root can be written (and read back) before any work starts; what was found
        of the store when there is something to say (S3: what it enforces), else None.

        Raises :class:`~lakebench_ray.errors.SinkError` with one line that says what to fix.
        """

    def probe(self) -> str | None:
        """None when the store answers now, else why not (one quick check, no retries): how a
        run tells a storage outage, which it waits out, from a bad file."""
        return None

    def describe(self, key: str) -> str:
        """A full location of ``key`` for messages."""
        return f"{self.uri.rstrip('/')}/{key}"
