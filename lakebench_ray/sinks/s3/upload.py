"""The bytes of an upload: reused part buffers, request bodies sent without a copy, the write stream.

**One copy, into reused memory.** Each chunk ``ParquetWriter`` hands over (fresh, cache-hot
``bytes``) is copied once into a part buffer from a per-store pool (:class:`BufferPool`); buffers
are reused across parts and files, so their pages stay resident. (Keeping references to the
producer's chunks instead avoids that copy but keeps hundreds of MiB of malloc'd chunks alive, and
the page faults of the allocator's churn cost more than the copy.) The part goes out as one
``sendall`` of a view of the buffer (:class:`GatherBody`): no ``read()`` loop, no
``Expect: 100-continue``.
"""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .writer import S3ObjectWriter


class BufferPool:
    """Part buffers reused across parts and files, so their pages stay resident.

    Copying a just-produced (cache-hot) chunk into a resident buffer is far cheaper than holding
    on to the producer's chunks: those come from malloc, and keeping hundreds of MiB of them
    alive makes the allocator hand pages back and fault them in again for every part.
    """

    def __init__(self, size: int, keep: int):
        self._size = size
        self._keep = keep
        self._free: list[bytearray] = []
        self._lock = threading.Lock()

    def get(self) -> bytearray:
        with self._lock:
            if self._free:
                return self._free.pop()
        return bytearray(self._size)

    def put(self, buffer: bytearray) -> None:
        with self._lock:
            if len(self._free) < self._keep:
                self._free.append(buffer)


class GatherBody:
    """A request body sent without a copy: its chunks (views of a part buffer) go to ``sendall``.

    urllib3 sends an iterable body chunk by chunk; botocore sizes it with ``len()`` and rewinds it
    with ``seek(0)`` before a retry (a bare ``memoryview`` has no ``seek``: retries would fail).
    It deliberately has no ``read``: urllib3 would then copy it through 16 KiB reads and botocore
    would add ``Expect: 100-continue``. Used only with unsigned payloads (botocore hashes a
    signed payload through ``read``, so that path gets one contiguous ``bytes`` copy).
    """

    __slots__ = ("_chunks", "_size")

    def __init__(self, chunks: list, size: int):
        self._chunks = chunks
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __iter__(self):
        return iter(self._chunks)

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset != 0 or whence != 0:
            raise io.UnsupportedOperation("a part body can only be rewound to its start")
        return 0


def body(chunks: list, size: int, signed: bool):
    """The ``Body`` of a request carrying ``chunks``: as is when possible, one copy when signed."""
    if len(chunks) == 1 and isinstance(chunks[0], bytes):
        return chunks[0]
    if not chunks:
        return b""
    if signed:
        return b"".join(chunks)  # botocore hashes a signed payload: one contiguous copy per part
    return GatherBody(chunks, size)


class S3UploadStream(io.RawIOBase):
    """The write side of an :class:`S3ObjectWriter`: what ``ParquetWriter`` writes into.

    ``close()`` only stops further writes; the object becomes visible on ``writer.commit()``.
    """

    def __init__(self, writer: "S3ObjectWriter"):
        super().__init__()
        self._writer = writer

    @property
    def name(self) -> str:
        return self._writer.location

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        return self._writer._write(data)

    def tell(self) -> int:
        return self._writer._written

    def flush(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
