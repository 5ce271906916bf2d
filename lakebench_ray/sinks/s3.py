"""S3 store: streaming multipart uploads with bounded memory and a server-verified checksum per part.

How a file gets to S3 cheaply (client CPU per GB is what limits a generator actor). Measured with
``scripts/bench_s3.py`` against a local SeaweedFS, 1 GiB in 4 objects: boto3's ``upload_fileobj``
with defaults ~2.2-2.4 CPU-s/GiB; this writer ~0.8 with ``zlib`` and ~0.6 with ``isal`` installed.

* **One copy, into reused memory.** Each chunk ``ParquetWriter`` hands over (fresh, cache-hot
  ``bytes``) is copied once into a part buffer from a per-store pool; buffers are reused across
  parts and files, so their pages stay resident. (Keeping references to the producer's chunks
  instead avoids that copy but keeps hundreds of MiB of malloc'd chunks alive, and the page faults
  of the allocator's churn cost more than the copy.) The part goes out as one ``sendall`` of a
  view of the buffer: no ``read()`` loop, no ``Expect: 100-continue``.
* **No SHA-256 of the payload** where that is safe: SigV4 with ``UNSIGNED-PAYLOAD`` over TLS, and
  over plain HTTP only to loopback, private-network or cluster-internal hosts (in-cluster
  MinIO/SeaweedFS); elsewhere the payload is signed as boto3 does. ``S3Options.sign_payload``
  overrides the choice.
* **One cheap checksum, verified by the server**: end-to-end integrity without the payload hash.
  Each part (and a single-PUT object) carries ``x-amz-checksum-crc32`` computed by us in the
  upload thread, so a part corrupted anywhere between our buffer and the server's disk write is
  rejected (``BadDigest``) and sent again; the multipart upload is created with
  ``ChecksumAlgorithm=CRC32`` and ``ChecksumType=FULL_OBJECT`` and completed with every part's
  CRC and the whole object's CRC32 (combined from the parts' CRCs, no second pass), so the server
  also checks the part list and the assembled object, and keeps the object's CRC32 (``HEAD`` with
  ``ChecksumMode=ENABLED`` returns it). That CRC32 is the file's digest in the checkpoint and the
  report (see :mod:`.digest`); with ``checksum="md5"`` it is computed as the bytes are written. botocore's own default checksum is off (``when_required``), so nothing is computed
  twice. CRC32 comes from ISA-L (the ``isal`` dependency, ~0.04 s/GiB) when installed, else zlib
  (~0.25 s/GiB); both release the GIL. ``checksum="md5"`` (Content-MD5, ~1.4 s/GiB) is there for
  old S3-compatible servers without flexible checksums.
* **Bounded memory.** Full parts go to a thread pool; at most ``max_concurrency`` parts are in
  flight per writer and ``write()`` blocks for a free slot, so a writer holds at most
  ``(max_concurrency + 1) * part_size`` bytes (and the store keeps that many buffers for reuse).

Failure handling: botocore's ``standard`` retry mode (``max_attempts`` attempts in all) retries
503 SlowDown, 500s, connection errors and timeouts per request. An error that survives it is
recorded by the upload thread and raised as :class:`SinkError` by the next ``write()`` or
``commit()``, which first abort the multipart upload, so nothing appears under the key and no
upload stays open. Every botocore/boto3 exception is mapped to :class:`SinkError` here.

Credentials come only from boto3's standard chain (environment, profile, web identity, instance or
pod role); they are never stored in :class:`S3Options` nor written into a message.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import io
import ipaddress
import logging
import os
import secrets
import threading
from dataclasses import dataclass, fields
from typing import Callable, Any, BinaryIO, Mapping
from urllib.parse import urlsplit

from .. import layout
from ..errors import ConfigError, SinkError, StorageUnavailable
from .base import ObjectStat, ObjectWriter, Receipt, Store
from .digest import RunningCrc, crc32_combine, crc32 as _crc32, to_base64, to_hex

log = logging.getLogger(__name__)

MIB = 1 << 20
#: S3's limits for multipart uploads.
MIN_PART_MB = 5
MAX_PART_MB = 5 * 1024
MAX_PARTS = 10_000
#: ``list_objects_v2`` page size (a module constant so tests can exercise pagination cheaply).
_LIST_PAGE = 1000

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}

_MISSING_BUCKET_CODES = {"NoSuchBucket"}
_BAD_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
}
_DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "Forbidden", "403"}
_REGION_CODES = {"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"}


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name}: expected true or false, got '{value}'")


#: Option -> environment variables that set it when no explicit value is given (first set wins).
_ENV_VARS = {
    "endpoint_url": ("S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "region": ("S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "path_style": ("S3_PATH_STYLE",),
    "verify_ssl": ("S3_VERIFY_SSL",),
    "ca_cert": ("S3_CA_CERT", "AWS_CA_BUNDLE"),
    "sign_payload": ("S3_SIGN_PAYLOAD",),
    "checksum": ("S3_CHECKSUM",),
}
_BOOL_FIELDS = ("path_style", "verify_ssl", "sign_payload")


@dataclass(frozen=True)
class S3Options:
    """How to reach S3 and how to upload. Plain values only (picklable, shippable to actors).

    ``path_style=None`` picks path-style addressing when ``endpoint_url`` is set (MinIO, SeaweedFS,
    Ceph usually have no wildcard DNS) and virtual-hosted style for AWS. ``max_attempts`` counts
    every attempt of a request, the first included (like ``AWS_MAX_ATTEMPTS``).
    ``sign_payload=None`` signs the payload only over plain HTTP to a non-private host.
    """

    endpoint_url: str | None = None
    region: str = "us-east-1"
    path_style: bool | None = None
    verify_ssl: bool = True
    ca_cert: str | None = None
    part_size_mb: int = 16
    max_concurrency: int = 4
    max_attempts: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    retry_mode: str = "standard"
    checksum: str = "crc32"
    sign_payload: bool | None = None

    def __post_init__(self) -> None:
        if self.endpoint_url is not None:
            url = str(self.endpoint_url).strip().rstrip("/")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(
                    f"s3.endpoint_url: '{self.endpoint_url}' is not an http(s) URL: "
                    "write e.g. http://minio:9000 or https://s3.example.com"
                )
            if parts.username or parts.password:
                raise ConfigError(
                    "s3.endpoint_url: must not contain a user name or password: "
                    "give credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile"
                )
            object.__setattr__(self, "endpoint_url", url or None)
        if not self.region:
            object.__setattr__(self, "region", "us-east-1")
        if isinstance(self.part_size_mb, bool) or not isinstance(self.part_size_mb, int) or not (
            MIN_PART_MB <= self.part_size_mb <= MAX_PART_MB
        ):
            raise ConfigError(
                f"s3.part_size_mb: must be an integer from {MIN_PART_MB} (S3's minimum part size) "
                f"to {MAX_PART_MB}, got {self.part_size_mb!r}"
            )
        for name in ("max_concurrency", "max_attempts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"s3.{name}: must be an integer >= 1, got {value!r}")
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"s3.{name}: must be a number of seconds > 0, got {value!r}")
        if self.retry_mode not in ("standard", "adaptive"):
            raise ConfigError(f"s3.retry_mode: must be 'standard' or 'adaptive', got {self.retry_mode!r}")
        if self.checksum not in ("crc32", "md5"):
            raise ConfigError(f"s3.checksum: must be 'crc32' or 'md5', got {self.checksum!r}")
        for name in ("verify_ssl",):
            object.__setattr__(self, name, _parse_bool(f"s3.{name}", getattr(self, name)))
        for name in ("path_style", "sign_payload"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _parse_bool(f"s3.{name}", getattr(self, name)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "S3Options":
        """Options from explicit values, else the environment, else the defaults.

        ``overrides`` are field names; ``None`` means "not given" (so a config section whose unset
        keys are ``None`` can be passed as is). Environment variables: ``S3_ENDPOINT`` or
        ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``S3_REGION`` / ``AWS_REGION`` / ``AWS_DEFAULT_REGION``,
        ``S3_PATH_STYLE``, ``S3_VERIFY_SSL``, ``S3_CA_CERT`` (or ``AWS_CA_BUNDLE``),
        ``S3_SIGN_PAYLOAD``, ``S3_CHECKSUM``.
        """
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"s3: unknown option(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")

        def first(*names: str) -> str | None:
            for name in names:
                value = env.get(name)
                if value is not None and value.strip() != "":
                    return value.strip()
            return None

        values: dict[str, Any] = {}
        for name, env_names in _ENV_VARS.items():
            value = first(*env_names)
            if value is not None:
                if name in _BOOL_FIELDS:
                    value = _parse_bool(env_names[0], value)
                values[name] = value
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    # -- derived -----------------------------------------------------------------------------
    @property
    def part_size(self) -> int:
        return self.part_size_mb * MIB

    @property
    def addressing_style(self) -> str:
        path_style = self.path_style if self.path_style is not None else self.endpoint_url is not None
        return "path" if path_style else "virtual"

    @property
    def payload_signed(self) -> bool:
        """Whether SigV4 hashes every payload byte (see the module docstring for when it is not)."""
        if self.sign_payload is not None:
            return self.sign_payload
        if self.endpoint_url is None:
            return False  # AWS: always https
        parts = urlsplit(self.endpoint_url)
        if parts.scheme == "https":
            return False
        return not _is_trusted_host(parts.hostname or "")

    def describe_endpoint(self) -> str:
        if self.endpoint_url:
            return self.endpoint_url
        return f"https://s3.{self.region}.amazonaws.com"


def _is_trusted_host(host: str) -> bool:
    """Loopback, private or link-local addresses, and cluster-internal names."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith((".localhost", ".svc", ".cluster.local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket[/root/path]`` -> ``(bucket, "root/path")`` (root without slashes at the ends)."""
    text = str(uri).strip()
    for scheme in ("s3://", "s3a://"):
        if text.startswith(scheme):
            rest = text[len(scheme) :]
            break
    else:
        raise ConfigError(f"output.uri: '{uri}' is not an S3 URI: write s3://BUCKET[/PATH]")
    bucket, _, root = rest.partition("/")
    if not bucket:
        raise ConfigError(f"output.uri: '{uri}' names no bucket: write s3://BUCKET[/PATH]")
    if not (3 <= len(bucket) <= 63) or bucket != bucket.lower() or not all(
        c.isalnum() or c in "-._" for c in bucket
    ):
        raise ConfigError(
            f"output.uri: '{bucket}' is not a valid bucket name: use 3-63 lower-case letters, digits, '-' or '.'"
        )
    return bucket, root.strip("/")


# -- error mapping -------------------------------------------------------------------------------


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "") or "")


def _error_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None) or {}
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _network_reason(exc: BaseException) -> str:
    """The innermost OS-level reason of a connection failure ('Connection refused', ...)."""
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        if type(current).__name__ in ("ConnectTimeoutError", "ConnectTimeout"):
            return "connection timed out"
        kwargs = getattr(current, "kwargs", None) or {}
        stack.extend([current.__context__, current.__cause__, kwargs.get("error")])
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
    text = _one_line(str(exc))
    return text or type(exc).__name__


def _reason(exc: BaseException) -> str:
    """One line saying what went wrong (never includes request headers, hence no secrets)."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        code = _error_code(exc) or "error"
        status = _error_status(exc)
        message = _one_line(exc.response.get("Error", {}).get("Message", "") or "")
        where = f" (HTTP {status})" if status else ""
        return f"{code}{where}{': ' + message if message else ''}"
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError)):
        return f"cannot connect ({_network_reason(exc)})"
    if isinstance(exc, bx.NoCredentialsError):
        return "no credentials found"
    if isinstance(exc, SinkError):
        return str(exc)
    return f"{type(exc).__name__}: {_one_line(str(exc))}"


def _certificate_problem(exc: BaseException) -> str | None:
    """What a TLS peer verification failure found wrong ('self-signed certificate in certificate
    chain', 'IP address mismatch, ...'), or None when the failure was something else."""
    import ssl

    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return getattr(current, "verify_message", None) or "certificate verify failed"
        kwargs = getattr(current, "kwargs", None) or {}
        stack.extend([current.__context__, current.__cause__, kwargs.get("error")])
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
    return None


def _quiet_insecure_warnings() -> None:
    """With verification off, urllib3 warns on every request of every process; the run says it
    once instead (in preflight)."""
    import warnings

    try:
        from urllib3.exceptions import InsecureRequestWarning
    except ImportError:  # pragma: no cover - urllib3 always comes with botocore
        return
    warnings.filterwarnings("ignore", category=InsecureRequestWarning)


#: Answers that mean the server is overloaded or away rather than that the request is wrong.
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500", "502", "504"}


def _is_unavailable(exc: BaseException | None) -> bool:
    """Whether an error (after botocore's own retries) says the endpoint is away or overloaded:
    no connection, a timeout, a dropped connection, or a 5xx. Such a failure may pass; the run
    pauses and probes rather than blaming the file."""
    from botocore import exceptions as bx

    if exc is None:
        return False
    if isinstance(exc, StorageUnavailable):
        return True
    if isinstance(exc, (bx.ConnectionError, bx.HTTPClientError, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, bx.ClientError):
        status = _error_status(exc) or 0
        return status >= 500 or _error_code(exc) in _UNAVAILABLE_CODES
    return False


def _sink_error(message: str, exc: BaseException | None) -> SinkError:
    """The :class:`SinkError` for ``message``: :class:`StorageUnavailable` when ``exc`` may pass."""
    return (StorageUnavailable if _is_unavailable(exc) else SinkError)(message)


def _botocore_errors() -> tuple[type[BaseException], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


# -- checksums and request bodies ----------------------------------------------------------------

def _crc_of(chunks: list) -> int:
    crc = 0
    for chunk in chunks:
        crc = _crc32(chunk, crc)
    return crc


def _checksum_args(algorithm: str, chunks: list, crc: int | None = None) -> dict[str, str]:
    if algorithm == "crc32":
        return {"ChecksumCRC32": to_base64(_crc_of(chunks) if crc is None else crc)}
    digest = hashlib.md5()
    for chunk in chunks:
        digest.update(chunk)
    return {"ContentMD5": base64.b64encode(digest.digest()).decode("ascii")}


class _GatherBody:
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


def _body(chunks: list, size: int, signed: bool):
    if len(chunks) == 1 and isinstance(chunks[0], bytes):
        return chunks[0]
    if not chunks:
        return b""
    if signed:
        return b"".join(chunks)  # botocore hashes a signed payload: one contiguous copy per part
    return _GatherBody(chunks, size)


#: The server saw other bytes than we checksummed: corrupted in transit, worth sending again
#: (botocore's retry modes do not retry these 400s).
_DIGEST_MISMATCH_CODES = {"BadDigest", "XAmzContentSHA256Mismatch"}


def _with_digest_retry(attempts: int, call):
    from botocore.exceptions import ClientError

    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ClientError as exc:
            if _error_code(exc) not in _DIGEST_MISMATCH_CODES or attempt >= attempts:
                raise
            log.warning("S3 rejected a corrupted request body (%s); sending it again", _error_code(exc))
    raise AssertionError("unreachable")


class _BufferPool:
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


# -- writer ---------------------------------------------------------------------------------------


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


class S3ObjectWriter(ObjectWriter):
    """One object: a single PutObject when it fits in one part, else a multipart upload."""

    def __init__(self, store: "S3Store", key: str):
        self._store = store
        self._key = key
        self._full_key = store._full_key(key)
        self._bucket = store.bucket
        self.location = store.describe(key)
        options = store.options
        self._client = store._get_client()
        self._part_size = options.part_size
        self._checksum = options.checksum
        self._signed = options.payload_signed
        self._attempts = options.max_attempts
        self._executor = store._get_executor()
        self._slots = threading.BoundedSemaphore(options.max_concurrency)
        self._lock = threading.Lock()
        self._pool = store._get_pool()
        # The part being filled: a pooled buffer of part_size and how much of it is used.
        self._buffer: bytearray | None = None
        self._view: memoryview | None = None
        self._pending = 0
        self._written = 0
        self._upload_id: str | None = None
        self._next_part = 1
        self._parts: dict[int, dict[str, Any]] = {}
        # crc32 mode: each part's (CRC32, size), combined into the object's CRC at commit; md5
        # mode sends no CRC, so the object's CRC32 is computed as the bytes arrive.
        self._part_crcs: dict[int, tuple[int, int]] = {}
        self._running = RunningCrc() if self._checksum != "crc32" else None
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
            raise self._fail_now(
                SinkError(
                    f"{self.location} needs more than {MAX_PARTS} parts: raise s3.part_size_mb "
                    f"(now {self._part_size // MIB})"
                )
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
        extra = {"ChecksumAlgorithm": "CRC32", "ChecksumType": "FULL_OBJECT"} if self._checksum == "crc32" else {}
        try:
            response = self._client.create_multipart_upload(Bucket=self._bucket, Key=self._full_key, **extra)
        except _botocore_errors() as exc:
            raise self._fail_now(_sink_error(f"cannot start the upload of {self.location}: {_reason(exc)}", exc)) from exc
        self._upload_id = response["UploadId"]

    def _upload_part(self, number: int, buffer: bytearray, size: int) -> None:
        """Runs in the store's thread pool; errors are recorded for the writer's thread."""
        try:
            if self._error is not None or self._state != "open":
                return
            chunks = [memoryview(buffer)[:size]]
            crc = _crc_of(chunks) if self._checksum == "crc32" else None
            checksum = _checksum_args(self._checksum, chunks, crc)
            response = _with_digest_retry(
                self._attempts,
                lambda: self._client.upload_part(
                    Bucket=self._bucket,
                    Key=self._full_key,
                    UploadId=self._upload_id,
                    PartNumber=number,
                    Body=_body(chunks, size, self._signed),
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

    def _fail_now(self, error: SinkError) -> SinkError:
        self.abort()
        return error

    def _raise_if_failed(self) -> None:
        exc = self._error
        if exc is not None:
            self.abort()
            raise _sink_error(f"uploading {self.location} failed: {_reason(exc)}", exc) from exc

    def commit(self) -> int:
        if self._state != "open":
            if self._error is not None:  # e.g. a write failed inside ParquetWriter.close()
                raise _sink_error(f"uploading {self.location} failed: {_reason(self._error)}", self._error) from self._error
            raise SinkError(f"cannot commit {self.location}: it was already {self._state}")
        try:
            self._raise_if_failed()
            if self._upload_id is None:
                buffer, size = self._take_pending()
                try:
                    chunks = [memoryview(buffer)[:size]] if buffer is not None and size else []
                    crc = _crc_of(chunks) if self._running is None else self._running.crc
                    checksum = _checksum_args(self._checksum, chunks, crc)
                    response = _with_digest_retry(
                        self._attempts,
                        lambda: self._client.put_object(
                            Bucket=self._bucket,
                            Key=self._full_key,
                            Body=_body(chunks, size, self._signed),
                            ContentLength=size,
                            **checksum,
                        ),
                    )
                finally:
                    self._release_buffer(buffer)
            else:
                if self._pending or self._next_part == 1:
                    self._submit_part()
                self._wait_inflight()
                self._raise_if_failed()
                parts = [self._parts[number] for number in range(1, self._next_part)]
                crc = self._object_crc()
                extra = {"ChecksumCRC32": to_base64(crc), "ChecksumType": "FULL_OBJECT"} if self._running is None else {}
                response = self._client.complete_multipart_upload(
                    Bucket=self._bucket,
                    Key=self._full_key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": parts},
                    **extra,
                )
        except SinkError:
            self.abort()
            raise
        except _botocore_errors() as exc:
            self.abort()
            raise _sink_error(f"uploading {self.location} failed: {_reason(exc)}", exc) from exc
        except BaseException:
            self.abort()
            raise
        self._state = "committed"
        self._stream.close()
        self._receipt = Receipt(size=self._written, crc32=to_hex(crc), tag=str(response.get("ETag", "")))
        return self._written

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
        if self._upload_id is None:
            return
        try:
            self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._full_key, UploadId=self._upload_id)
        except _botocore_errors() as exc:
            if _error_code(exc) != "NoSuchUpload":
                # Unreachable storage is reported once by the run; this upload goes with the
                # next clean-up either way.
                (log.info if _is_unavailable(exc) else log.warning)(
                    "could not abort the multipart upload of %s (%s); S3Store.cleanup_partials removes it later",
                    self.location,
                    _reason(exc),
                )


# -- reader ---------------------------------------------------------------------------------------


class _S3RangeReader(io.RawIOBase):
    """Seekable read-only view of one object version over ranged GETs (pinned by ETag)."""

    def __init__(self, store: "S3Store", key: str, size: int, etag: str | None):
        super().__init__()
        self._store = store
        self._key = key
        self._size = size
        self._etag = etag
        self._pos = 0
        self.name = store.describe(key)

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
        data = self._store._get_range(self._key, self._pos, self._pos + count - 1, self._etag)
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def readall(self) -> bytes:
        count = self._size - self._pos
        if count <= 0:
            return b""
        data = self._store._get_range(self._key, self._pos, self._size - 1, self._etag)
        self._pos += len(data)
        return data


# -- store ----------------------------------------------------------------------------------------


class S3Store(Store):
    """Objects under ``s3://bucket[/root/path]``; keys are ``/``-separated paths below the root.

    Picklable (clients and threads are rebuilt lazily), so a store can be shipped to Ray actors.
    """

    def __init__(self, uri: str, options: S3Options | None = None, *, create_bucket: bool = False):
        self.uri = str(uri)
        self.bucket, self.root = parse_s3_uri(uri)
        self.options = options if options is not None else S3Options.from_env()
        self.create_bucket = bool(create_bucket)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()
        self._client = None
        self._probe_client = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool: _BufferPool | None = None

    def __getstate__(self) -> dict:
        return {"uri": self.uri, "options": self.options, "create_bucket": self.create_bucket}

    def __setstate__(self, state: dict) -> None:
        self.uri = state["uri"]
        self.bucket, self.root = parse_s3_uri(self.uri)
        self.options = state["options"]
        self.create_bucket = state["create_bucket"]
        self._init_runtime()

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r}, endpoint={self.options.describe_endpoint()!r})"

    # -- plumbing ------------------------------------------------------------------------------
    def _full_key(self, key: str) -> str:
        key = str(key).lstrip("/")
        if not key:
            raise ValueError("empty object key")
        return f"{self.root}/{key}" if self.root else key

    def _full_prefix(self, prefix: str) -> str:
        """A directory-like prefix: '' is the root, 'a/b' means everything under 'a/b/'."""
        prefix = str(prefix).strip("/")
        parts = [p for p in (self.root, prefix) if p]
        return "/".join(parts) + "/" if parts else ""

    def _relative(self, full_key: str) -> str:
        return full_key[len(self.root) + 1 :] if self.root else full_key

    def _make_client(self, *, max_attempts: int | None = None, connect_timeout: float | None = None,
                     read_timeout: float | None = None):
        import boto3
        from botocore.config import Config

        opts = self.options
        config = Config(
            region_name=opts.region,
            signature_version="s3v4",
            s3={"addressing_style": opts.addressing_style, "payload_signing_enabled": opts.payload_signed},
            retries={"mode": opts.retry_mode, "total_max_attempts": max_attempts or opts.max_attempts},
            connect_timeout=connect_timeout or opts.connect_timeout,
            read_timeout=read_timeout or opts.read_timeout,
            max_pool_connections=max(10, 2 * opts.max_concurrency + 2),
            tcp_keepalive=True,
            # We send our own CRC32 (or MD5) per request; botocore must not add another.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            # Off so part bodies can be zero-copy views and chunk lists (see _GatherBody).
            parameter_validation=False,
        )
        verify: bool | str = opts.ca_cert if (opts.ca_cert and opts.verify_ssl) else opts.verify_ssl
        if verify is False:
            _quiet_insecure_warnings()
        session = boto3.session.Session(region_name=opts.region)
        return session.client("s3", endpoint_url=opts.endpoint_url, verify=verify, config=config)

    def _get_client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._make_client()
        return self._client

    def _get_executor(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = concurrent.futures.ThreadPoolExecutor(
                        max_workers=self.options.max_concurrency, thread_name_prefix="lakebench-s3-upload"
                    )
        return self._executor

    def _get_pool(self) -> _BufferPool:
        if self._pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = _BufferPool(self.options.part_size, keep=self.options.max_concurrency + 1)
        return self._pool

    def close(self) -> None:
        """Release threads and connections (the store stays usable; they are rebuilt on demand)."""
        with self._lock:
            executor, self._executor, self._client, self._pool = self._executor, None, None, None
        if executor is not None:
            executor.shutdown(wait=True)

    def _fail(self, action: str, exc: BaseException) -> SinkError:
        return _sink_error(f"{action} failed: {_reason(exc)}", exc)

    def probe(self) -> str | None:
        """One quick request (HEAD bucket, one attempt, short timeouts): None when S3 answers,
        else why not. Used to wait out an outage without spending files' attempts."""
        from botocore import exceptions as bx

        if getattr(self, "_probe_client", None) is None:
            self._probe_client = self._make_client(max_attempts=1, connect_timeout=2.0, read_timeout=5.0)
        try:
            self._probe_client.head_bucket(Bucket=self.bucket)
        except (bx.ConnectionError, bx.HTTPClientError) as exc:
            return f"cannot connect to {self.options.describe_endpoint()} ({_network_reason(exc)})"
        except bx.ClientError as exc:
            if _is_unavailable(exc):
                return f"{self.options.describe_endpoint()} answers {_reason(exc)}"
            return None  # it answers (even a 403/404 is an answer: the next request says what is wrong)
        except bx.BotoCoreError as exc:
            return _reason(exc)
        return None

    # -- Store API -------------------------------------------------------------------------------
    def open_writer(self, key: str) -> S3ObjectWriter:
        return S3ObjectWriter(self, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        """One PutObject: atomic (readers see the old or the new object, never a mix)."""
        payload = data if isinstance(data, bytes) else bytes(data)
        try:
            self._get_client().put_object(
                Bucket=self.bucket,
                Key=self._full_key(key),
                Body=payload,
                ContentLength=len(payload),
                **_checksum_args(self.options.checksum, [payload]),
            )
        except _botocore_errors() as exc:
            raise self._fail(f"writing {self.describe(key)}", exc) from exc

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._read_object(key)
        except _botocore_errors() as exc:
            if _error_status(exc) == 404 and _error_code(exc) not in _MISSING_BUCKET_CODES:
                return None
            raise self._fail(f"reading {self.describe(key)}", exc) from exc

    def _read_object(self, key: str, **range_args: str) -> bytes:
        """GET (a range of) an object; a body cut off mid-stream is fetched again (bounded)."""
        from botocore.exceptions import IncompleteReadError, ReadTimeoutError, ResponseStreamingError

        client = self._get_client()
        last: BaseException | None = None
        for _attempt in range(self.options.max_attempts):
            response = client.get_object(Bucket=self.bucket, Key=self._full_key(key), **range_args)
            try:
                return response["Body"].read()
            except (IncompleteReadError, ReadTimeoutError, ResponseStreamingError) as exc:
                last = exc
        assert last is not None
        raise last

    def _get_range(self, key: str, first: int, last: int, etag: str | None) -> bytes:
        args = {"Range": f"bytes={first}-{last}"}
        if etag:
            args["IfMatch"] = etag
        try:
            return self._read_object(key, **args)
        except _botocore_errors() as exc:
            if _error_code(exc) == "PreconditionFailed":
                raise SinkError(
                    f"{self.describe(key)} was replaced while being read: read it again"
                ) from exc
            raise self._fail(f"reading {self.describe(key)}", exc) from exc

    def open_reader(self, key: str) -> BinaryIO:
        """A seekable reader over ranged GETs; ``pyarrow.parquet.ParquetFile`` reads it directly.

        Our own reader rather than ``pyarrow.fs.S3FileSystem``: it goes through the same boto3
        client, so it honours exactly the same endpoint, TLS, retry and credential settings
        (the AWS C++ SDK has its own credential chain and TLS options).
        """
        try:
            head = self._get_client().head_object(Bucket=self.bucket, Key=self._full_key(key))
        except _botocore_errors() as exc:
            if _error_status(exc) == 404:
                raise SinkError(f"{self.describe(key)} does not exist") from exc
            raise self._fail(f"opening {self.describe(key)}", exc) from exc
        raw = _S3RangeReader(self, key, int(head["ContentLength"]), head.get("ETag"))
        return io.BufferedReader(raw, buffer_size=256 * 1024)

    def list(self, prefix: str) -> dict[str, int]:
        return {key: stat.size for key, stat in self.stat_all(prefix).items()}

    def stat_all(self, prefix: str) -> dict[str, ObjectStat]:
        """One listing: size and ETag of every object under ``prefix``."""
        out: dict[str, ObjectStat] = {}
        try:
            pages = self._get_client().get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket,
                Prefix=self._full_prefix(prefix),
                PaginationConfig={"PageSize": _LIST_PAGE},
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    if item["Key"].endswith("/"):
                        continue  # a directory marker, not an object
                    out[self._relative(item["Key"])] = ObjectStat(int(item["Size"]), str(item.get("ETag", "")))
        except _botocore_errors() as exc:
            raise self._fail(f"listing {self.describe(prefix)}", exc) from exc
        return out

    # -- compare-and-swap (conditional requests: If-None-Match / If-Match) ----------------------
    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        try:
            response = self._get_client().get_object(Bucket=self.bucket, Key=self._full_key(key))
            return response["Body"].read(), str(response.get("ETag", ""))
        except _botocore_errors() as exc:
            if _error_status(exc) == 404 and _error_code(exc) not in _MISSING_BUCKET_CODES:
                return None
            raise self._fail(f"reading {self.describe(key)}", exc) from exc

    def _conditional(self, action: str, key: str, call) -> Any:
        """Run a conditional request; None when its precondition failed (412, or 409 when
        another conditional write to the key raced it, or 404 for If-Match on a vanished key)."""
        try:
            return call()
        except _botocore_errors() as exc:
            code, status = _error_code(exc), _error_status(exc)
            if status in (412, 409) or code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return None
            if status == 404 and code not in _MISSING_BUCKET_CODES:
                return None
            raise self._fail(f"{action} {self.describe(key)}", exc) from exc

    def create_exclusive(self, key: str, data: bytes) -> str | None:
        response = self._conditional("creating", key, lambda: self._get_client().put_object(
            Bucket=self.bucket, Key=self._full_key(key), Body=data, ContentLength=len(data), IfNoneMatch="*",
            **_checksum_args(self.options.checksum, [data]),
        ))
        return None if response is None else str(response.get("ETag", ""))

    def replace_if(self, key: str, data: bytes, tag: str) -> str | None:
        response = self._conditional("replacing", key, lambda: self._get_client().put_object(
            Bucket=self.bucket, Key=self._full_key(key), Body=data, ContentLength=len(data), IfMatch=tag,
            **_checksum_args(self.options.checksum, [data]),
        ))
        return None if response is None else str(response.get("ETag", ""))

    def delete_if(self, key: str, tag: str) -> bool:
        response = self._conditional("deleting", key, lambda: self._get_client().delete_object(
            Bucket=self.bucket, Key=self._full_key(key), IfMatch=tag,
        ))
        return response is not None

    def delete(self, key: str) -> None:
        try:
            self._get_client().delete_object(Bucket=self.bucket, Key=self._full_key(key))
        except _botocore_errors() as exc:
            if _error_status(exc) == 404 and _error_code(exc) not in _MISSING_BUCKET_CODES:
                return
            raise self._fail(f"deleting {self.describe(key)}", exc) from exc

    def _open_uploads(self, prefix: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        try:
            pages = self._get_client().get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket,
                Prefix=self._full_prefix(prefix),
                PaginationConfig={"PageSize": _LIST_PAGE},
            )
            for page in pages:
                for upload in page.get("Uploads", ()):
                    found.append((upload["Key"], upload["UploadId"]))
        except _botocore_errors() as exc:
            raise self._fail(f"listing unfinished uploads under {self.describe(prefix)}", exc) from exc
        return sorted(found)

    def list_partials(self, prefix: str) -> list[str]:
        """Keys (relative to the root) with an unfinished multipart upload, once per upload."""
        return [self._relative(key) for key, _ in self._open_uploads(prefix)]

    def cleanup_partials(self, prefix: str, select: Callable[[str], bool] | None = None) -> int:
        removed = 0
        client = self._get_client()
        for key, upload_id in self._open_uploads(prefix):
            if select is not None and not select(self._relative(key)):
                continue
            try:
                client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            except _botocore_errors() as exc:
                if _error_code(exc) == "NoSuchUpload":
                    continue  # finished or aborted meanwhile
                raise self._fail(f"aborting the unfinished upload of s3://{self.bucket}/{key}", exc) from exc
            removed += 1
        return removed

    # -- preflight -------------------------------------------------------------------------------
    def preflight(self) -> None:
        """List, write, read back and delete a probe in the control directory; start and abort a
        multipart upload. Every failure is one line saying what to fix."""
        from botocore import exceptions as bx

        opts = self.options
        endpoint = opts.describe_endpoint()
        if opts.ca_cert and opts.verify_ssl and not os.path.isfile(opts.ca_cert):
            raise SinkError(f"s3.ca_cert '{opts.ca_cert}' is not a file: give the path of a PEM CA bundle")
        if opts.ca_cert and opts.verify_ssl:
            import ssl

            try:
                ssl.create_default_context(cafile=opts.ca_cert)
            except (ssl.SSLError, ValueError) as exc:
                raise SinkError(
                    f"s3.ca_cert '{opts.ca_cert}' holds no usable PEM certificate ({_one_line(str(exc))}): "
                    "give the path of the CA's PEM certificate"
                ) from None
        if not opts.verify_ssl and endpoint.startswith("https://"):
            log.warning(
                "TLS certificate verification is off for S3 endpoint %s (s3.verify_ssl=false / "
                "S3_VERIFY_SSL=false): traffic is encrypted but the server is not authenticated", endpoint
            )
        # Fail fast: a wrong endpoint should not be retried max_attempts times with backoff.
        client = self._make_client(
            max_attempts=min(opts.max_attempts, 2), connect_timeout=min(opts.connect_timeout, 5.0)
        )
        step = "listing"
        try:
            try:
                client.list_objects_v2(Bucket=self.bucket, Prefix=self._full_prefix(""), MaxKeys=1)
            except bx.ClientError as exc:
                if not self._is_missing_bucket(exc):
                    raise
                if not self.create_bucket:
                    raise SinkError(
                        f"bucket '{self.bucket}' does not exist at {endpoint}: "
                        "create it or set output.create_bucket=true"
                    ) from exc
                step = "creating bucket"
                self._create_bucket(client)
            probe = layout.probe_key()
            full = self._full_key(probe)
            payload = b"lakebench preflight " + secrets.token_bytes(16)
            step = "writing"
            client.put_object(
                Bucket=self.bucket, Key=full, Body=payload, ContentLength=len(payload), IfNoneMatch="*",
                **_checksum_args(opts.checksum, [payload]),
            )
            try:
                step = "reading"
                echoed = client.get_object(Bucket=self.bucket, Key=full)["Body"].read()
                if echoed != payload:
                    raise SinkError(
                        f"S3 at {endpoint} returned different bytes for the probe {self.describe(probe)}: "
                        "check the endpoint and any proxy in between"
                    )
                step = "checking conditional writes"
                self._require_conditional_writes(client, full, payload, endpoint)
                step = "starting a multipart upload"
                # As the writer starts them: a server without full-object CRC32 fails here, not mid-run.
                extra = {"ChecksumAlgorithm": "CRC32", "ChecksumType": "FULL_OBJECT"} if opts.checksum == "crc32" else {}
                upload = client.create_multipart_upload(Bucket=self.bucket, Key=full, **extra)
                step = "aborting a multipart upload"
                client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload["UploadId"])
            finally:
                step = "deleting"
                client.delete_object(Bucket=self.bucket, Key=full)
        except SinkError:
            raise
        except bx.NoCredentialsError as exc:
            raise SinkError(
                f"no S3 credentials found for {endpoint}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, or a pod/instance role)"
            ) from exc
        except bx.SSLError as exc:
            problem = _certificate_problem(exc)
            if problem is not None:
                trusted = f"the CA in s3.ca_cert '{opts.ca_cert}'" if opts.ca_cert else "the system's CAs"
                raise SinkError(
                    f"the TLS certificate of S3 endpoint {endpoint} is not trusted by {trusted} ({problem}): "
                    "set s3.ca_cert (S3_CA_CERT) to the PEM of the CA that signed it, "
                    "or s3.verify_ssl=false (S3_VERIFY_SSL=false) for a test endpoint"
                ) from exc
            raise SinkError(
                f"TLS handshake with S3 endpoint {endpoint} failed ({_network_reason(exc)}): "
                "set s3.ca_cert to the CA bundle, or s3.verify_ssl=false for a test endpoint"
            ) from exc
        except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ConnectionClosedError) as exc:
            raise SinkError(
                f"cannot reach S3 endpoint {endpoint}: {_network_reason(exc)}: check s3.endpoint_url"
            ) from exc
        except bx.ReadTimeoutError as exc:
            raise SinkError(
                f"S3 endpoint {endpoint} did not answer within {opts.read_timeout:g}s: "
                "check s3.endpoint_url (is it an S3 server?)"
            ) from exc
        except bx.ClientError as exc:
            raise self._preflight_client_error(exc, step, endpoint) from exc
        except bx.BotoCoreError as exc:
            raise SinkError(f"S3 preflight against {endpoint} failed while {step}: {_reason(exc)}") from exc

    def _require_conditional_writes(self, client, full: str, payload: bytes, endpoint: str) -> None:
        """A second create of the probe with ``If-None-Match: *`` must be refused: the lease that
        keeps two runs off one prefix relies on it."""
        from botocore.exceptions import ClientError

        try:
            client.put_object(Bucket=self.bucket, Key=full, Body=payload, ContentLength=len(payload), IfNoneMatch="*",
                              **_checksum_args(self.options.checksum, [payload]))
        except ClientError as exc:
            if _error_status(exc) in (412, 409) or _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict"):
                return
            raise
        raise SinkError(
            f"S3 at {endpoint} ignores conditional writes (If-None-Match), so it cannot keep two runs off one "
            "prefix: use a server that supports them (AWS S3, MinIO, SeaweedFS, Ceph RGW 18+)"
        )

    @staticmethod
    def _is_missing_bucket(exc: BaseException) -> bool:
        code = _error_code(exc)
        return code in _MISSING_BUCKET_CODES or (code in ("404", "NotFound") and _error_status(exc) == 404)

    def _create_bucket(self, client) -> None:
        from botocore.exceptions import ClientError

        args: dict[str, Any] = {"Bucket": self.bucket}
        if self.options.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": self.options.region}
        try:
            client.create_bucket(**args)
        except ClientError as exc:
            if _error_code(exc) not in ("BucketAlreadyOwnedByYou",):
                raise
        log.info("created bucket %s at %s", self.bucket, self.options.describe_endpoint())

    def _credential_source(self) -> str:
        try:
            import boto3

            credentials = boto3.session.Session(region_name=self.options.region).get_credentials()
        except Exception:  # noqa: BLE001 - only for the message
            return "unknown source"
        return getattr(credentials, "method", None) or "unknown source"

    def _preflight_client_error(self, exc: BaseException, step: str, endpoint: str) -> SinkError:
        code = _error_code(exc)
        status = _error_status(exc)
        if code in _BAD_CREDENTIAL_CODES:
            return SinkError(
                f"S3 at {endpoint} rejected the credentials ({code}; credentials from "
                f"{self._credential_source()}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
            )
        if code in _REGION_CODES or status == 301:
            return SinkError(
                f"bucket '{self.bucket}' is not reachable in region {self.options.region} at {endpoint} "
                f"({code or status}): set s3.region (AWS_REGION) to the bucket's region"
            )
        if code in _DENIED_CODES:
            what = {
                "listing": f"list s3://{self.bucket}/{self.root} (grant s3:ListBucket)",
                "creating bucket": f"create bucket '{self.bucket}' (grant s3:CreateBucket or create it yourself)",
                "writing": f"write to {self.uri} (grant s3:PutObject)",
                "reading": f"read back from {self.uri} (grant s3:GetObject)",
                "starting a multipart upload": f"start multipart uploads in {self.uri} (grant s3:PutObject)",
                "aborting a multipart upload": f"abort multipart uploads in {self.uri} (grant s3:AbortMultipartUpload)",
                "deleting": f"delete from {self.uri} (grant s3:DeleteObject)",
            }.get(step, f"access {self.uri}")
            return SinkError(f"no permission to {what} at {endpoint}: {code}")
        hint = ""
        if step == "starting a multipart upload" and self.options.checksum == "crc32":
            hint = " (a server without CRC32 full-object checksums needs S3_CHECKSUM=md5)"
        return SinkError(f"S3 preflight against {endpoint} failed while {step} {self.uri}: {_reason(exc)}{hint}")


__all__ = ["S3Options", "S3Store", "S3ObjectWriter", "S3UploadStream", "parse_s3_uri"]
