"""One cheap checksum per request, verified by the server: end-to-end integrity without SHA-256.

Each part (and a single-PUT object) carries ``x-amz-checksum-crc32`` computed by us in the upload
thread, so a part corrupted anywhere between our buffer and the server's disk write is rejected
(``BadDigest``) and sent again (:func:`with_digest_retry`); the multipart upload is created with
``ChecksumAlgorithm=CRC32`` and ``ChecksumType=FULL_OBJECT`` and completed with every part's CRC and
the whole object's CRC32 (combined from the parts' CRCs, no second pass), so the server also checks
the part list and the assembled object, and keeps the object's CRC32 (``HEAD`` with
``ChecksumMode=ENABLED`` returns it). That CRC32 is the file's digest in the checkpoint and the
report (see :mod:`..digest`); with ``checksum="md5"`` it is computed as the bytes are written.
A server that checks less gets less (measured at preflight, :mod:`.capabilities`): each part's CRC32
without the whole object's (``crc32-parts``), Content-MD5, or nothing; the file's CRC32 is computed
and recorded the same way whatever the server checks.
botocore's own default checksum is off (``when_required``), so nothing is computed twice. CRC32
comes from ISA-L (the ``isal`` dependency, ~0.04 s/GiB) when installed, else zlib (~0.25 s/GiB);
both release the GIL. ``checksum="md5"`` (Content-MD5, ~1.4 s/GiB) is there for old
S3-compatible servers without flexible checksums.
"""

from __future__ import annotations

import base64
import hashlib
import logging

from ..digest import crc32, to_base64
from .errors import error_code

log = logging.getLogger(__name__)

#: The server saw other bytes than we checksummed: corrupted in transit, worth sending again
#: (botocore's retry modes do not retry these 400s).
_DIGEST_MISMATCH_CODES = {"BadDigest", "XAmzContentSHA256Mismatch"}


def crc_of(chunks: list) -> int:
    crc = 0
    for chunk in chunks:
        crc = crc32(chunk, crc)
    return crc


def sends_crc(mechanism: str) -> bool:
    """Whether requests carry our CRC32 for the server to check (``crc32``, ``crc32-parts``)."""
    return mechanism.startswith("crc32")


def upload_args(mechanism: str) -> dict[str, str]:
    """How a multipart upload is started: with the whole object's CRC32 (``FULL_OBJECT``), with
    each part's (``crc32-parts``), or with no checksum algorithm."""
    if mechanism == "crc32":
        return {"ChecksumAlgorithm": "CRC32", "ChecksumType": "FULL_OBJECT"}
    if mechanism == "crc32-parts":
        return {"ChecksumAlgorithm": "CRC32"}
    return {}


def checksum_args(mechanism: str, chunks: list, crc: int | None = None) -> dict[str, str]:
    """The request's checksum parameter for the chosen mechanism (see
    :class:`.capabilities.Mechanisms`): ``ChecksumCRC32`` (``crc`` if already known),
    ``ContentMD5``, or none."""
    if sends_crc(mechanism):
        return {"ChecksumCRC32": to_base64(crc_of(chunks) if crc is None else crc)}
    if mechanism != "md5":
        return {}
    digest = hashlib.md5()
    for chunk in chunks:
        digest.update(chunk)
    return {"ContentMD5": base64.b64encode(digest.digest()).decode("ascii")}


def with_digest_retry(attempts: int, call):
    """``call()``, sent again (up to ``attempts`` times in all) when the server rejects its body's checksum."""
    from botocore.exceptions import ClientError

    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ClientError as exc:
            if error_code(exc) not in _DIGEST_MISMATCH_CODES or attempt >= attempts:
                raise
            log.warning("S3 rejected a corrupted request body (%s); sending it again", error_code(exc))
    raise AssertionError("unreachable")
