"""S3 store: streaming multipart uploads with bounded memory and a server-verified checksum per part.

How a file gets to S3 cheaply (client CPU per GB is what limits a generator actor): boto3's
``upload_fileobj`` with defaults costs ~2.2-2.4 CPU-s/GiB, this writer ~0.6-0.8 (see
:mod:`.client`). The parts, each with one reason to change:

* :mod:`.options` -- :class:`S3Options`: every setting, where it comes from (config, environment,
  default), its bounds and S3's limits; when the payload SHA-256 can be skipped. No boto3.
* :mod:`.errors` -- the one mapping of botocore errors to :class:`SinkError` /
  :class:`StorageUnavailable` (``with mapped("reading s3://b/k"):``).
* :mod:`.client` -- the boto3 client: nothing hashed or checksummed twice.
* :mod:`.session` -- :class:`S3Session`: what every request of a store shares (key building, the
  client, upload threads, part buffers); the writer, reader and preflight take it, not the store.
* :mod:`.checksums` -- one cheap CRC32 per request, verified by the server, resent on mismatch.
* :mod:`.upload` -- one copy, into reused memory: part buffers, zero-copy bodies, the write stream.
* :mod:`.writer` -- :class:`S3ObjectWriter`: bounded memory, nothing half-visible on failure.
* :mod:`.reader` -- ranged reads pinned to one object version.
* :mod:`.store` -- :class:`S3Store`: listing, small objects, compare-and-swap, clean-up.
* :mod:`.preflight` -- before the run, one line per misconfiguration saying what to fix.

Credentials come only from boto3's standard chain (environment, profile, web identity, instance or
pod role); they are never stored in :class:`S3Options` nor written into a message. Importing this
package does not import boto3: each module imports it where a request is made.
"""

from __future__ import annotations

from .options import MAX_PART_MB, MAX_PARTS, MIB, MIN_PART_MB, S3Options, parse_s3_uri
from .store import S3Store
from .upload import S3UploadStream
from .writer import S3ObjectWriter

__all__ = [
    "MAX_PARTS",
    "MAX_PART_MB",
    "MIB",
    "MIN_PART_MB",
    "S3ObjectWriter",
    "S3Options",
    "S3Store",
    "S3UploadStream",
    "parse_s3_uri",
]
