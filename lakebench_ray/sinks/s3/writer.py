"""One object written as a stream: a single PutObject when it fits in one part, else a multipart upload.

**Bounded memory.** Full parts go to the store's thread pool; at most ``max_concurrency`` parts are
in flight per writer and ``write()`` blocks for a free slot, so a writer holds at most
``(max_concurrency + 1) * part_size`` bytes (and the store keeps that many buffers for reuse).

**Nothing half-visible.** botocore's ``standard`` retry mode (``max_attempts`` attempts in all)
retries 503 SlowDown, 500s, connection errors and timeouts per request. An error that survives it
is recorded by the upload thread and raised as :class:`SinkError` by the next ``write()`` or
``commit()``, which first abort the multipart upload, so nothing appears under the key and no
upload stays open.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from typing import TYPE_CHECKING, Any

from ...errors import SinkError
from ..base import ObjectWriter, Receipt
from ..digest import RunningCrc, crc32_combine, to_base64, to_hex
from .checksums import checksum_args, crc_of, upload_args, with_digest_retry
from .errors import botocore_errors, error_code, failure, is_unavailable, mapped, reason, sink_error
from .options import MAX_PARTS, MIB
from .upload import S3UploadStream, body

if TYPE_CHECKING:  # pragma: no cover
    from .session import S3Session

log = logging.getLogger(__name__)


class S3ObjectWriter(ObjectWriter):
    """One object: a single PutObject when it fits in one part, else a multipart upload."""

    def __init__(self, session: "S3Session", key: str):
        self._key = key
        self._full_key = session.full_key(key)
        self._bucket = session.bucket
        self.location = session.describe(key)
        options = session.options
        self._client = session.client()
        self._part_size = options.part_size
        self._checksum = session.mechanisms.checksum
        self._signed = session.payload_signed
        self._can_abort = session.mechanisms.abort_upload
        self._attempts = options.max_attempts
        self._executor = session.executor()
        self._slots = threading.BoundedSemaphore(options.max_concurrency)
        self._lock = threading.Lock()
        self._pool = session.pool()
        # The part being filled: a pooled buffer of part_size and how much of it is used.
        self._buffer: bytearray | None = None
        self._view: memoryview | None = None
        self._pending = 0
        self._written = 0
        self._upload_id: str | None = None
        self._next_part = 1
        self._parts: dict[int, dict[str, Any]] = {}
        # Each part's (CRC32, size), combined into the object's CRC at commit; md5 mode computes
        # no part CRC, so the object's CRC32 is computed as the bytes arrive.
        self._part_crcs: dict[int, tuple[int, int]] = {}
        self._running = RunningCrc() if self._checksum == "md5" else None
        self._receipt: Receipt | None = None
        self._futures: list[concurrent.futures.Future] = []
        self._error: BaseException | None = None
        self._state = "open"  # -> "committed" | "aborted"
        self._stream = S3UploadStream(self)

    @property
    def stream(self) -> S3UploadStream:
        return self._stream

    @property
    def receipt(self) -> Receipt:
        if self._receipt is None:
            raise RuntimeError(f"{self.location} is not committed")
        return self._receipt

    @property
    def upload_id(self) -> str | None:
        """The multipart upload id once one was started (for tests and diagnostics)."""
        return self._upload_id

    # -- writing -------------------------------------------------------------------------------
    def _write(self, data) -> int:
        if self._state != "open":
            raise ValueError(f"write to {self.location} after it was {self._state}")
        self._raise_if_failed()
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            try:
                view = view.cast("B")
            except TypeError:  # not C-contiguous
                view = memoryview(view.tobytes())
        size = view.nbytes
        if self._running is not None:
            self._running.update(view)
        offset = 0
        while offset < size:
            if self._view is None:
                self._buffer = self._pool.get()
                self._view = memoryview(self._buffer)
            take = min(size - offset, self._part_size - self._pending)
            # The one copy: from the producer's fresh (cache-hot) chunk into the part buffer.
            self._view[self._pending : self._pending + take] = view[offset : offset + take]
            self._pending += take
            offset += take
            if self._pending == self._part_size:
                self._submit_part()
        self._written += size
        return size

    def _take_pending(self) -> tuple[bytearray | None, int]:
        buffer, size = self._buffer, self._pending
        if self._view is not None:
            self._view.release()
        self._buffer, self._view, self._pending = None, None, 0
        return buffer, size

    def _release_buffer(self, buffer: bytearray | None) -> None:
        if buffer is not None:
            self._pool.put(buffer)

    def _submit_part(self) -> None:
        if self._upload_id is None:
            self._create_upload()
        number = self._next_part
        if number > MAX_PARTS:
            self.abort()
            raise SinkError(
                f"{self.location} needs more than {MAX_PARTS} parts: raise s3.part_size_mb (now {self._part_size // MIB})"
            )
        buffer, size = self._take_pending()
        self._next_part += 1
        # Blocks while max_concurrency parts of this writer are in flight: bounded memory.
        self._slots.acquire()
        if self._error is not None:
            self._slots.release()
            self._release_buffer(buffer)
            self._raise_if_failed()
        try:
            future = self._executor.submit(self._upload_part, number, buffer, size)
        except BaseException:
            self._slots.release()
            self._release_buffer(buffer)
            raise
        self._futures = [f for f in self._futures if not f.done()]
        self._futures.append(future)

    def _create_upload(self) -> None:
        extra = upload_args(self._checksum)
        try:
            with mapped(f"starting the upload of {self.location}", explain=self._cannot_start):
                response = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._full_key, **extra)
        except SinkError:
            self.abort()
            raise
        self._upload_id = response["UploadId"]

    def _cannot_start(self, exc: BaseException) -> SinkError:
        return sink_error(f"cannot start the upload of {self.location}: {reason(exc)}", exc)

    def _upload_part(self, number: int, buffer: bytearray, size: int) -> None:
        """Runs in the store's thread pool; errors are recorded for the writer's thread."""
        try:
            if self._error is not None or self._state != "open":
                return
            chunks = [memoryview(buffer)[:size]]
            crc = crc_of(chunks) if self._running is None else None
            checksum = checksum_args(self._checksum, chunks, crc)
            response = with_digest_retry(
                self._attempts,
                lambda: self._client.upload_part(
                    Bucket=self._bucket,
                    Key=self._full_key,
                    UploadId=self._upload_id,
                    PartNumber=number,
                    Body=body(chunks, size, self._signed),
                    ContentLength=size,
                    **checksum,
                ),
            )
            part = {"PartNumber": number, "ETag": response["ETag"]}
            if "ChecksumCRC32" in checksum:
                part["ChecksumCRC32"] = checksum["ChecksumCRC32"]
            with self._lock:
                self._parts[number] = part
                if crc is not None:
                    self._part_crcs[number] = (crc, size)
        except BaseException as exc:  # noqa: BLE001 - surfaced on the writer's thread
            with self._lock:
                if self._error is None:
                    self._error = exc
        finally:
            self._release_buffer(buffer)
            self._slots.release()

    # -- finishing -----------------------------------------------------------------------------
    def _wait_inflight(self) -> None:
        futures, self._futures = self._futures, []
        concurrent.futures.wait(futures)

    def _raise_if_failed(self) -> None:
        exc = self._error
        if exc is not None:
            self.abort()
            raise failure(f"uploading {self.location}", exc) from exc

    def commit(self) -> int:
        if self._state != "open":
            if self._error is not None:  # e.g. a write failed inside ParquetWriter.close()
                raise failure(f"uploading {self.location}", self._error) from self._error
            raise SinkError(f"cannot commit {self.location}: it was already {self._state}")
        try:
            with mapped(f"uploading {self.location}"):
                self._raise_if_failed()
                response, crc = self._put_whole() if self._upload_id is None else self._complete()
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        self._stream.close()
        self._receipt = Receipt(size=self._written, crc32=to_hex(crc), tag=str(response.get("ETag", "")))
        return self._written

    def _put_whole(self) -> tuple[dict, int]:
        """Less than one part was written: one PutObject of it."""
        buffer, size = self._take_pending()
        try:
            chunks = [memoryview(buffer)[:size]] if buffer is not None and size else []
            crc = crc_of(chunks) if self._running is None else self._running.crc
            checksum = checksum_args(self._checksum, chunks, crc)
            response = with_digest_retry(
                self._attempts,
                lambda: self._client.put_object(
                    Bucket=self._bucket,
                    Key=self._full_key,
                    Body=body(chunks, size, self._signed),
                    ContentLength=size,
                    **checksum,
                ),
            )
        finally:
            self._release_buffer(buffer)
        return response, crc

    def _complete(self) -> tuple[dict, int]:
        """Send the last part, wait for all, and complete the upload with every part's checksum."""
        if self._pending or self._next_part == 1:
            self._submit_part()
        self._wait_inflight()
        self._raise_if_failed()
        parts = [self._parts[number] for number in range(1, self._next_part)]
        crc = self._object_crc()
        extra = {"ChecksumCRC32": to_base64(crc), "ChecksumType": "FULL_OBJECT"} if self._checksum == "crc32" else {}
        response = self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._full_key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": parts},
            **extra,
        )
        return response, crc

    def _object_crc(self) -> int:
        """The whole object's CRC32: combined from the parts' CRCs (crc32 mode) or running."""
        if self._running is not None:
            return self._running.crc
        crc = 0
        for number in range(1, self._next_part):
            part_crc, size = self._part_crcs[number]
            crc = crc32_combine(crc, part_crc, size)
        return crc

    def abort(self) -> None:
        if self._state != "open":
            return
        self._state = "aborted"
        # Parts already being sent finish (bounded by timeouts x attempts); queued ones skip.
        # Aborting only afterwards means no part can land after the abort.
        self._wait_inflight()
        self._release_buffer(self._take_pending()[0])
        self._stream.close()
        if self._upload_id is None or not self._can_abort:
            return  # a server that cannot abort keeps the parts out of sight (never under the key)
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._full_key, UploadId=self._upload_id)
        except botocore_errors() as exc:
            if error_code(exc) != "NoSuchUpload":
                # Unreachable storage is reported once by the run; this upload goes with the
                # next clean-up either way.
                (log.info if is_unavailable(exc) else log.warning)(
                    "could not abort the multipart upload of %s (%s); S3Store.cleanup_partials removes it later",
                    self.location,
                    reason(exc),
                )
