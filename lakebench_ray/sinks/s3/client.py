"""The boto3 client of a store, configured so that each byte is hashed and checksummed once.

Measured with ``scripts/bench_s3.py`` against a local SeaweedFS, 1 GiB in 4 objects: boto3's
``upload_fileobj`` with defaults costs ~2.2-2.4 CPU-s/GiB; the store's writer ~0.8 with ``zlib``
and ~0.6 with ``isal`` installed. Part of that is here: no payload SHA-256 where it is safe (see
:attr:`S3Options.payload_signed`), no botocore checksum on top of ours, and no parameter
validation, so bodies can be views and chunk lists.
"""

from __future__ import annotations

from .options import S3Options


def make_client(opts: S3Options, *, max_attempts: int | None = None, connect_timeout: float | None = None,
                read_timeout: float | None = None):
    """An S3 client for ``opts``; the keyword arguments tighten one setting (preflight, probes)."""
    import boto3
    from botocore.config import Config

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
        # Off so part bodies can be zero-copy views and chunk lists (see upload.GatherBody).
        parameter_validation=False,
    )
    verify: bool | str = opts.ca_cert if (opts.ca_cert and opts.verify_ssl) else opts.verify_ssl
    if verify is False:
        _quiet_insecure_warnings()
    session = boto3.session.Session(region_name=opts.region)
    return session.client("s3", endpoint_url=opts.endpoint_url, verify=verify, config=config)


def _quiet_insecure_warnings() -> None:
    """With verification off, urllib3 warns on every request of every process; the run says it
    once instead (in preflight)."""
    import warnings

    try:
        from urllib3.exceptions import InsecureRequestWarning
    except ImportError:  # pragma: no cover - urllib3 always comes with botocore
        return
    warnings.filterwarnings("ignore", category=InsecureRequestWarning)
