"""Reading objects back: whole GETs, and a seekable reader over ranged GETs for Parquet footers.

Our own reader rather than ``pyarrow.fs.S3FileSystem``: it goes through the store's boto3 client,
so it honours exactly the same endpoint, TLS, retry and credential settings (the AWS C++ SDK has
its own credential chain and TLS options). Every range is pinned to the ETag seen when the object
was opened, so a file replaced mid-read is refused instead of read as a mix of two versions.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, BinaryIO

from ...errors import SinkError
from .errors import error_code, error_status, mapped

if TYPE_CHECKING:  # pragma: no cover
    from .session import S3Session


def read_object(session: "S3Session", key: str, **range_args: str) -> bytes:
    """GET (a range of) an object; a body cut off mid-stream is fetched again (bounded)."""
    from botocore.exceptions import IncompleteReadError, ReadTimeoutError, ResponseStreamingError

    client = session.client()
    last: BaseException | None = None
    for _attempt in range(session.options.max_attempts):
        response = client.get_object(Bucket=session.bucket, Key=session.full_key(key), **range_args)
        try:
            return response["Body"].read()
        except (IncompleteReadError, ReadTimeoutError, ResponseStreamingError) as exc:
            last = exc
    assert last is not None
    raise last


def read_range(session: "S3Session", key: str, first: int, last: int, etag: str | None) -> bytes:
    """Bytes ``first..last`` (inclusive) of the object, refused if it is no longer version ``etag``."""
    args = {"Range": f"bytes={first}-{last}"}
    if etag:
        args["IfMatch"] = etag

    def replaced(exc: BaseException) -> SinkError | None:
        if error_code(exc) == "PreconditionFailed":
            return SinkError(f"{session.describe(key)} was replaced while being read: read it again")
        return None

    with mapped(f"reading {session.describe(key)}", explain=replaced):
        return read_object(session, key, **args)


def open_reader(session: "S3Session", key: str) -> BinaryIO:
    """A buffered, seekable reader of the object's current version (``SinkError`` if there is none)."""

    def missing(exc: BaseException) -> SinkError | None:
        return SinkError(f"{session.describe(key)} does not exist") if error_status(exc) == 404 else None

    with mapped(f"opening {session.describe(key)}", explain=missing):
        head = session.client().head_object(Bucket=session.bucket, Key=session.full_key(key))
    raw = S3RangeReader(session, key, int(head["ContentLength"]), head.get("ETag"))
    return io.BufferedReader(raw, buffer_size=256 * 1024)


class S3RangeReader(io.RawIOBase):
    """Seekable read-only view of one object version over ranged GETs (pinned by ETag)."""

    def __init__(self, session: "S3Session", key: str, size: int, etag: str | None):
        super().__init__()
        self._session = session
        self._key = key
        self._size = size
        self._etag = etag
        self._pos = 0
        self.name = session.describe(key)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def size(self) -> int:
        return self._size

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        count = min(len(view), self._size - self._pos)
        if count <= 0:
            return 0
        data = read_range(self._session, self._key, self._pos, self._pos + count - 1, self._etag)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def readall(self) -> bytes:
        count = self._size - self._pos
        if count <= 0:
            return b""
        data = read_range(self._session, self._key, self._pos, self._size - 1, self._etag)
        self._pos += len(data)
        return data
