"""What the store at hand enforces, measured before the run on its own bucket and prefix, and the
mechanisms chosen from that.

Why measure: S3-compatible stores accept headers they ignore. s3rver, older MinIO and Ceph, Garage
v1 and several appliances take ``If-None-Match: *`` or an ``x-amz-checksum-crc32`` they never
check, so the only way to know is to send one that must be refused and see whether it is. The
probe writes its own keys in the control directory (``_lakebench/.probe-*``) and removes every
one of them, and every upload it started, whatever happens; probes that a killed run left are
removed by the next preflight.

What it measures, each by a request that an enforcing server must refuse:

* conditional create: ``If-None-Match: *`` on an existing key;
* compare-and-swap: ``If-Match`` with a stale ETag, on PUT and on DELETE;
* checksums: a part with a wrong ``x-amz-checksum-crc32``, a multipart upload completed with a wrong
  ``FULL_OBJECT`` CRC32, a PUT with a wrong ``Content-MD5`` (each then sent right, which must pass);
* unsigned payloads (``UNSIGNED-PAYLOAD``) when the run would send them; ListObjectsV2; listing
  and aborting multipart uploads.

:func:`choose` turns the findings and the ``s3.conditional_writes`` / ``s3.checksum`` settings into
:class:`Mechanisms`, which every process of the run uses (they travel with the store's spec).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from ...errors import SinkError
from ..digest import crc32, to_base64
from .errors import error_code, error_status

if TYPE_CHECKING:  # pragma: no cover
    from .session import S3Session

#: Seconds a best-effort conditional write waits before reading its object back (see
#: :mod:`.best_effort`): two runs that write the lease within this time of each other may both
#: read back their own.
SETTLE_S = 1.0

#: Error codes of a server that does not implement what was asked (as opposed to refusing it).
_NOT_IMPLEMENTED = {"NotImplemented", "MethodNotAllowed", "501", "405"}


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a store enforced when asked (None: not tried, as unsigned payloads on a signed run)."""

    conditional_create: bool = False
    compare_and_swap: bool = False
    conditional_delete: bool = False
    full_object_crc32: bool = False
    part_crc32: bool = False
    content_md5: bool = False
    unsigned_payload: bool | None = None
    list_v2: bool = True
    list_uploads: bool = True
    abort_upload: bool = True

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def line(self) -> str:
        """One line: each feature, yes or no."""
        names = {
            "conditional_create": "conditional create", "compare_and_swap": "compare-and-swap",
            "conditional_delete": "conditional delete", "full_object_crc32": "full-object CRC32",
            "part_crc32": "part CRC32", "content_md5": "Content-MD5", "unsigned_payload": "unsigned payload",
            "list_v2": "ListObjectsV2", "list_uploads": "upload listing", "abort_upload": "upload abort",
        }
        words = {True: "yes", False: "no", None: "not tried"}
        return ", ".join(f"{names[k]} {words[v]}" for k, v in self.as_dict().items())


@dataclasses.dataclass(frozen=True)
class Mechanisms:
    """How the run writes to this store. The defaults are the strongest (a store nobody probed,
    e.g. one opened to read, keeps them); :func:`choose` weakens only what the store lacks.

    * ``lease``: ``conditional`` (If-None-Match / If-Match, enforced by the server) or
      ``best-effort`` (written, settled, read back: :mod:`.best_effort`);
    * ``checksum`` the server is asked to check: ``crc32`` (every part's CRC32 and the whole
      object's, ``FULL_OBJECT``), ``crc32-parts`` (every part's), ``md5`` (``Content-MD5`` per
      request) or ``none``. The file's own CRC32 is computed and recorded in every case;
    * ``sign_payload``: True when the server refused unsigned payloads (else as the options say);
    * ``list_v2``, ``list_uploads``, ``abort_upload``: whether those requests are used.
    """

    lease: str = "conditional"
    checksum: str = "crc32"
    sign_payload: bool = False
    conditional_delete: bool = True
    list_v2: bool = True
    list_uploads: bool = True
    abort_upload: bool = True

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def unprobed(cls, checksum: str = "auto", conditional_writes: str = "auto") -> "Mechanisms":
        """Before (or without) a preflight: the strongest, except what the settings turn off."""
        off = conditional_writes == "off"
        return cls(lease="best-effort" if off else "conditional", conditional_delete=not off,
                   checksum="md5" if checksum == "md5" else "crc32")

    @classmethod
    def from_dict(cls, values: dict | None) -> "Mechanisms":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (values or {}).items() if k in known})


CHECKSUM_WORDS = {
    "crc32": "the server checks every part's CRC32 and the whole object's",
    "crc32-parts": "the server checks every part's CRC32",
    "md5": "the server checks every request's Content-MD5",
    "none": "the server checks no checksum",
}


def choose(caps: Capabilities, conditional_writes: str, checksum: str, endpoint: str) -> tuple[Mechanisms, list[str]]:
    """The mechanisms for a store with ``caps`` under the settings, and what is weaker than on a
    store that enforces everything (each a clause of the run's one warning line). Raises
    :class:`SinkError` when a setting requires what the store does not enforce."""
    weaker: list[str] = []
    enforced = caps.conditional_create and caps.compare_and_swap
    if conditional_writes == "require" and not enforced:
        missing = " and ".join(name for name, ok in (("If-None-Match", caps.conditional_create),
                                                       ("If-Match", caps.compare_and_swap)) if not ok)
        raise SinkError(
            f"S3 at {endpoint} ignores conditional writes ({missing}), so it cannot keep two runs off one prefix: "
            "use a server that enforces them (AWS S3, MinIO, SeaweedFS, Ceph RGW 18+), or set "
            "s3.conditional_writes=auto for a best-effort lease"
        )
    lease = "conditional" if enforced and conditional_writes != "off" else "best-effort"
    if lease == "best-effort":
        why = "s3.conditional_writes=off" if conditional_writes == "off" else "the server ignores conditional writes"
        weaker.append(
            f"the lease on the prefix is best-effort ({why}: it is written, read back after {SETTLE_S:g}s and "
            f"renewed the same way), so two runs started within {SETTLE_S:g}s of each other are not kept apart"
        )
    if checksum == "crc32":
        if not caps.full_object_crc32:
            raise SinkError(
                f"S3 at {endpoint} does not check full-object CRC32 checksums of multipart uploads "
                "(s3.checksum=crc32 requires it): set s3.checksum=auto to use what it checks"
            )
        chosen = "crc32"
    elif checksum == "md5":
        chosen = "md5"
    else:
        chosen = ("crc32" if caps.full_object_crc32 else "crc32-parts" if caps.part_crc32
                  else "md5" if caps.content_md5 else "none")
    if chosen == "none" or (chosen == "md5" and not caps.content_md5):
        weaker.append("the server checks no checksum of what it receives (every file's CRC32 is still "
                      "recorded, and verify checks it)")
        chosen = "none"
    mechanisms = Mechanisms(
        lease=lease, checksum=chosen, sign_payload=caps.unsigned_payload is False,
        conditional_delete=caps.conditional_delete and lease == "conditional",
        list_v2=caps.list_v2, list_uploads=caps.list_uploads, abort_upload=caps.abort_upload,
    )
    return mechanisms, weaker


# -- measuring -------------------------------------------------------------------------------------
def not_implemented(exc: BaseException) -> bool:
    """The server does not implement the request (as opposed to refusing it)."""
    return error_code(exc) in _NOT_IMPLEMENTED or error_status(exc) in (405, 501)


def _refused(exc: BaseException) -> bool:
    """A precondition the server checked and found false."""
    return error_status(exc) in (412, 409) or error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict")


def _rejected(exc: BaseException) -> bool:
    """A request the server judged wrong (a 400-class answer), not one it could not handle."""
    status = error_status(exc) or 0
    return 400 <= status < 500 and status not in (403, 404) and not not_implemented(exc)


class Probe:
    """The probe keys and uploads of one preflight; :meth:`cleanup` removes them all."""

    def __init__(self, session: "S3Session", client, base: str):
        self.session, self.client, self.base = session, client, base
        self.bucket = session.bucket
        self.keys: set[str] = set()
        self.uploads: list[tuple[str, str]] = []

    def key(self, suffix: str = "") -> str:
        key = self.base + suffix
        self.keys.add(key)
        return key

    def put(self, key: str, data: bytes, client=None, **extra: Any) -> dict:
        self.keys.add(key)
        return (client or self.client).put_object(Bucket=self.bucket, Key=key, Body=data,
                                                  ContentLength=len(data), **extra)

    def _outcome(self, call) -> BaseException | None:
        """None when ``call()`` succeeded, else the ClientError it raised."""
        return self._try(call)[1]

    @staticmethod
    def _try(call) -> tuple[Any, BaseException | None]:
        """``call()``'s answer, or the ClientError it raised."""
        from botocore.exceptions import ClientError

        try:
            return call(), None
        except ClientError as exc:
            return None, exc

    # -- the measurements -------------------------------------------------------------------------
    def conditional(self, key: str, data: bytes) -> tuple[bool, bool, bool]:
        """(create, swap, delete): each refused on ``key``, which exists and holds ``data``."""
        create = self._outcome(lambda: self.put(key, data, IfNoneMatch="*"))
        stale = '"' + "0" * 32 + '"'
        swap = self._outcome(lambda: self.put(key, data, IfMatch=stale))
        delete = self._outcome(lambda: self.client.delete_object(Bucket=self.bucket, Key=key, IfMatch=stale))
        return (create is not None and _refused(create), swap is not None and _refused(swap),
                delete is not None and _refused(delete))

    def content_md5(self) -> bool:
        key = self.key("-md5")
        data = b"lakebench md5 probe"
        wrong = base64.b64encode(hashlib.md5(data + b"!").digest()).decode()
        right = base64.b64encode(hashlib.md5(data).digest()).decode()
        refused = self._outcome(lambda: self.put(key, data, ContentMD5=wrong))
        if refused is None or not _rejected(refused):
            return False
        return self._outcome(lambda: self.put(key, data, ContentMD5=right)) is None

    def multipart(self) -> tuple[bool, bool, bool, bool]:
        """(part CRC32, full-object CRC32, upload listing, upload abort)."""
        data = secrets.token_bytes(64)
        right, wrong = to_base64(crc32(data)), to_base64(crc32(data + b"!"))
        key = self.key("-mpu")
        listed, aborted = self._listing_and_abort(key, data)
        full_object = True
        upload = self._started(key, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
        if isinstance(upload, BaseException):
            full_object = False
            upload = self._started(key, ChecksumAlgorithm="CRC32")
        if isinstance(upload, BaseException):
            return False, False, listed, aborted

        def part(checksum: str):
            return lambda: self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=1,
                                                   Body=data, ContentLength=len(data), ChecksumCRC32=checksum)

        wrong_part = self._outcome(part(wrong))
        sent, right_part = self._try(part(right))
        part_crc = wrong_part is not None and _rejected(wrong_part) and right_part is None
        if right_part is not None:
            return part_crc, False, listed, aborted
        etag = sent["ETag"]

        def complete(checksum: str | None):
            whole = {"ChecksumCRC32": checksum, "ChecksumType": "FULL_OBJECT"} if checksum else {}
            return lambda: self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload, **whole,
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag, "ChecksumCRC32": right}]})

        wrong_whole = self._outcome(complete(wrong)) if full_object else BaseException()
        if wrong_whole is None:  # completed despite the wrong CRC: not checked
            self.uploads.remove((key, upload))
            return part_crc, False, listed, aborted
        full_object = full_object and _rejected(wrong_whole) and self._outcome(complete(right)) is None
        if full_object or self._outcome(complete(None)) is None:
            self.uploads.remove((key, upload))
        return part_crc, full_object, listed, aborted

    def _started(self, key: str, **extra: str):
        """A new upload's id, or the ClientError that refused it (a denial is raised)."""
        from botocore.exceptions import ClientError

        try:
            upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)["UploadId"]
        except ClientError as exc:
            if error_status(exc) == 403:
                raise
            return exc
        self.uploads.append((key, upload))
        return upload

    def _listing_and_abort(self, key: str, data: bytes) -> tuple[bool, bool]:
        """Whether open uploads are listed and can be aborted, on a plain upload of ``key``. When
        the abort is refused the upload is completed instead (and the object deleted later), so
        the server keeps no part of it either way."""
        upload = self._started(key)
        if isinstance(upload, BaseException):
            raise upload  # no multipart upload at all: preflight says so in one line
        listed = self._outcome(lambda: self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)) is None
        refused = self._outcome(lambda: self.client.abort_multipart_upload(Bucket=self.bucket, Key=key,
                                                                           UploadId=upload))
        aborted = refused is None or error_code(refused) == "NoSuchUpload"
        if not aborted:
            etag = self.client.upload_part(Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=1, Body=data,
                                           ContentLength=len(data))["ETag"]
            self.client.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload,
                                                  MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        self.uploads.remove((key, upload))
        return listed, aborted

    # -- leaving nothing -----------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Abort every upload and delete every key of this probe (those absent are fine)."""
        from botocore.exceptions import ClientError

        for key, upload in self.uploads:
            try:
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload)
            except ClientError:
                pass  # the server cannot abort; what it keeps is not a visible object
        self.uploads.clear()
        for key in sorted(self.keys):
            self.client.delete_object(Bucket=self.bucket, Key=key)
        self.keys.clear()


def remove_stale_probes(session: "S3Session", client, older_than_s: float = 600.0) -> int:
    """Delete probe objects that a killed preflight left (older than ``older_than_s``, so a
    preflight running now keeps its own); how many."""
    import datetime as dt

    from ... import layout

    prefix = session.full_key(layout.probe_key())
    prefix = prefix[: prefix.rindex("/") + 1] + ".probe-"
    listed = client.list_objects_v2(Bucket=session.bucket, Prefix=prefix, MaxKeys=1000)
    now = dt.datetime.now(dt.timezone.utc)
    removed = 0
    for item in listed.get("Contents", ()):
        modified = item.get("LastModified")
        if modified is not None and (now - modified).total_seconds() > older_than_s:
            client.delete_object(Bucket=session.bucket, Key=item["Key"])
            removed += 1
    return removed


__all__ = ["CHECKSUM_WORDS", "Capabilities", "Mechanisms", "Probe", "SETTLE_S", "choose", "remove_stale_probes"]
