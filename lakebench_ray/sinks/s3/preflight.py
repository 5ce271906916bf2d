"""Before any work: check that the endpoint, TLS, credentials, bucket and permissions all work.

A wrong endpoint, CA, key, region or policy otherwise surfaces only inside a generator actor,
minutes later, as a retried and wrapped botocore error. Here each one becomes a single line
saying what is wrong and which setting fixes it, so these messages are more specific than the
operations' ``"<action> failed: <reason>"`` (:mod:`.errors`), and name the step that failed.
The checks use a client with few attempts and a short connect timeout: a wrong endpoint should
not be retried ``max_attempts`` times with backoff.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
from typing import TYPE_CHECKING, Any

from ... import layout
from ...errors import SinkError
from .capabilities import Capabilities, Probe, remove_stale_probes
from .client import make_client
from .errors import MISSING_BUCKET_CODES, error_code, error_status, nested, network_reason, one_line, reason

if TYPE_CHECKING:  # pragma: no cover
    from .session import S3Session

log = logging.getLogger(__name__)

#: Seconds the preflight waits for an answer to one of its small requests (at most
#: ``s3.read_timeout``): a server that accepts and never answers is refused in twice this.
PREFLIGHT_READ_TIMEOUT_S = 15.0

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


def preflight(session: "S3Session", *, create_bucket: bool = False) -> Capabilities:
    """List, write, read back and delete a probe in the control directory; start and abort a
    multipart upload; measure what the store enforces (:class:`.capabilities.Probe`) and remove
    every probe key again. Every failure is one line saying what to fix."""
    from botocore import exceptions as bx

    opts = session.options
    endpoint = opts.describe_endpoint()
    if opts.ca_cert and opts.verify_ssl and not os.path.isfile(opts.ca_cert):
        raise SinkError(f"s3.ca_cert '{opts.ca_cert}' is not a file: give the path of a PEM CA bundle")
    if opts.ca_cert and opts.verify_ssl:
        import ssl

        try:
            ssl.create_default_context(cafile=opts.ca_cert)
        except (ssl.SSLError, ValueError) as exc:
            raise SinkError(
                f"s3.ca_cert '{opts.ca_cert}' holds no usable PEM certificate ({one_line(str(exc))}): "
                "give the path of the CA's PEM certificate"
            ) from None
    if not opts.verify_ssl and endpoint.startswith("https://"):
        log.warning(
            "TLS certificate verification is off for S3 endpoint %s (s3.verify_ssl=false / "
            "S3_VERIFY_SSL=false): traffic is encrypted but the server is not authenticated", endpoint
        )
    # Fail fast: a wrong endpoint should not be retried max_attempts times with backoff, and a
    # server that accepts and never answers should not hold the run for read_timeout twice.
    attempts, read_timeout = min(opts.max_attempts, 2), min(opts.read_timeout, PREFLIGHT_READ_TIMEOUT_S)
    client = session.make_client(
        max_attempts=attempts, connect_timeout=min(opts.connect_timeout, 5.0), read_timeout=read_timeout
    )
    step = "listing"
    list_v2 = True
    try:
        try:
            list_v2 = _list_once(session, client)
        except bx.ClientError as exc:
            if not _is_missing_bucket(exc) or not _s3_answer(exc):
                raise
            if not create_bucket:
                raise SinkError(
                    f"bucket '{session.bucket}' does not exist at {endpoint}: "
                    "create it or set output.create_bucket=true"
                ) from exc
            step = "creating bucket"
            _create_bucket(session, client)
        if list_v2:
            step = "removing old probes"
            remove_stale_probes(session, client)
        # The endpoint answered: from here on a dropped connection or a 503 is retried as in the
        # run (the probe's requests must not fail a run that its uploads would survive).
        probe_client = session.make_client(connect_timeout=min(opts.connect_timeout, 5.0), read_timeout=read_timeout)
        probe = Probe(session, probe_client, session.full_key(layout.probe_key()))
        try:
            step = "writing"
            payload = b"lakebench preflight " + secrets.token_bytes(16)
            unsigned = _write_first_probe(session, probe, payload)
            step = "reading"
            echoed = probe.client.get_object(Bucket=session.bucket, Key=probe.base)["Body"].read()
            if echoed != payload:
                raise SinkError(
                    f"S3 at {endpoint} returned different bytes for the probe {session.describe(probe.base)}: "
                    "check the endpoint and any proxy in between"
                )
            step = "checking conditional writes"
            create, swap, delete = probe.conditional(probe.base, payload)
            step = "checking checksums"
            md5 = probe.content_md5()
            step = "starting a multipart upload"
            part_crc, full_crc, listed, aborted = probe.multipart()
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                probe.cleanup()
            raise
        step = "deleting"
        probe.cleanup()
        return Capabilities(
            conditional_create=create, compare_and_swap=swap, conditional_delete=delete,
            full_object_crc32=full_crc, part_crc32=part_crc, content_md5=md5, unsigned_payload=unsigned,
            list_v2=list_v2, list_uploads=listed, abort_upload=aborted,
        )
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
            f"TLS handshake with S3 endpoint {endpoint} failed ({network_reason(exc)}): "
            "set s3.ca_cert to the CA bundle, or s3.verify_ssl=false for a test endpoint"
        ) from exc
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ConnectionClosedError) as exc:
        raise SinkError(
            f"cannot reach S3 endpoint {endpoint}: {network_reason(exc)}: check s3.endpoint_url"
        ) from exc
    except bx.ReadTimeoutError as exc:
        raise SinkError(
            f"S3 endpoint {endpoint} accepted the connection but did not answer within {read_timeout:g}s "
            f"({attempts} tries): check s3.endpoint_url (is it an S3 server?)"
        ) from exc
    except bx.ClientError as exc:
        raise _client_error(session, exc, step, endpoint) from exc
    except bx.BotoCoreError as exc:
        raise SinkError(f"S3 preflight against {endpoint} failed while {step}: {reason(exc)}") from exc


def _list_once(session: "S3Session", client) -> bool:
    """One listing of the root; whether ListObjectsV2 answered (else the V1 listing did)."""
    from botocore.exceptions import ClientError

    try:
        client.list_objects_v2(Bucket=session.bucket, Prefix=session.full_prefix(""), MaxKeys=1)
        return True
    except ClientError as exc:
        status = error_status(exc) or 0
        if (_is_missing_bucket(exc) or status in (401, 403) or status >= 500 or not _s3_answer(exc)
                or error_code(exc) in _BAD_CREDENTIAL_CODES):
            raise
        client.list_objects(Bucket=session.bucket, Prefix=session.full_prefix(""), MaxKeys=1)
        return False


def _write_first_probe(session: "S3Session", probe: Probe, payload: bytes) -> bool | None:
    """Write the probe as the run writes; whether the server took an unsigned payload (None when
    the run signs payloads anyway). One it refused is sent signed, and the probe goes on signed."""
    from botocore.exceptions import ClientError

    if session.payload_signed:
        probe.put(probe.base, payload)
        return None
    try:
        probe.put(probe.base, payload)
        return True
    except ClientError as exc:
        if error_code(exc) in _BAD_CREDENTIAL_CODES | _DENIED_CODES or error_status(exc) == 404:
            raise  # not about the payload: said as usual
    opts = dataclasses.replace(session.options, sign_payload=True)
    probe.client = make_client(opts, connect_timeout=min(opts.connect_timeout, 5.0),
                               read_timeout=min(opts.read_timeout, PREFLIGHT_READ_TIMEOUT_S))
    probe.put(probe.base, payload)
    return False


def _is_missing_bucket(exc: BaseException) -> bool:
    code = error_code(exc)
    return code in MISSING_BUCKET_CODES or (code in ("404", "NotFound") and error_status(exc) == 404)


def _create_bucket(session: "S3Session", client) -> None:
    from botocore.exceptions import ClientError

    args: dict[str, Any] = {"Bucket": session.bucket}
    if session.options.region != "us-east-1":
        args["CreateBucketConfiguration"] = {"LocationConstraint": session.options.region}
    try:
        client.create_bucket(**args)
    except ClientError as exc:
        if error_code(exc) not in ("BucketAlreadyOwnedByYou",):
            raise
    log.info("created bucket %s at %s", session.bucket, session.options.describe_endpoint())


def _credential_source(session: "S3Session") -> str:
    try:
        import boto3

        credentials = boto3.session.Session(region_name=session.options.region).get_credentials()
    except Exception:  # noqa: BLE001 - only for the message
        return "unknown source"
    return getattr(credentials, "method", None) or "unknown source"


def _s3_answer(exc: BaseException) -> bool:
    """Whether an error answer to a GET or PUT is an S3 error document (``<Error><Code>``): without
    one botocore can only name the HTTP status, and the server is something else (a web server,
    a proxy's error page). 5xx without a document are an overloaded or away server, not a stranger."""
    code = error_code(exc)
    return bool(code) and not code.isdigit() or error_status(exc) in (500, 502, 503, 504)


def _client_error(session: "S3Session", exc: BaseException, step: str, endpoint: str) -> SinkError:
    code = error_code(exc)
    status = error_status(exc)
    if not _s3_answer(exc):
        return SinkError(
            f"{endpoint} answered HTTP {status or '?'} without an S3 error document while {step}: it is not an "
            "S3 server (or a proxy answers in its place): check s3.endpoint_url"
        )
    if code in _BAD_CREDENTIAL_CODES:
        return SinkError(
            f"S3 at {endpoint} rejected the credentials ({code}; credentials from "
            f"{_credential_source(session)}): check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        )
    if code in _REGION_CODES or status == 301:
        return SinkError(
            f"bucket '{session.bucket}' is not reachable in region {session.options.region} at {endpoint} "
            f"({code or status}): set s3.region (AWS_REGION) to the bucket's region"
        )
    if code in _DENIED_CODES:
        what = {
            "listing": f"list s3://{session.bucket}/{session.root} (grant s3:ListBucket)",
            "creating bucket": f"create bucket '{session.bucket}' (grant s3:CreateBucket or create it yourself)",
            "writing": f"write to {session.uri} (grant s3:PutObject)",
            "reading": f"read back from {session.uri} (grant s3:GetObject)",
            "starting a multipart upload": f"start multipart uploads in {session.uri} (grant s3:PutObject)",
            "aborting a multipart upload": f"abort multipart uploads in {session.uri} (grant s3:AbortMultipartUpload)",
            "deleting": f"delete from {session.uri} (grant s3:DeleteObject)",
            "removing old probes": f"delete from {session.uri} (grant s3:DeleteObject)",
            "checking conditional writes": f"write and delete in {session.uri} (grant s3:PutObject, s3:DeleteObject)",
            "checking checksums": f"write to {session.uri} (grant s3:PutObject)",
        }.get(step, f"access {session.uri}")
        return SinkError(f"no permission to {what} at {endpoint}: {code}")
    return SinkError(f"S3 preflight against {endpoint} failed while {step} {session.uri}: {reason(exc)}")


def _certificate_problem(exc: BaseException) -> str | None:
    """What a TLS peer verification failure found wrong ('self-signed certificate in certificate
    chain', 'IP address mismatch, ...'), or None when the failure was something else."""
    import ssl

    for current in nested(exc):
        if isinstance(current, ssl.SSLCertVerificationError):
            return getattr(current, "verify_message", None) or "certificate verify failed"
    return None
