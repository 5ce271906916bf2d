"""S3Store: the :class:`Store` operations on ``s3://bucket[/root]`` (listing, small objects,
compare-and-swap, clean-up of unfinished uploads), each one request or one paginated walk.

Large objects go through :mod:`.writer`, reads through :mod:`.reader`, the before-the-run checks
through :mod:`.preflight`; every botocore error leaves through :class:`.errors.mapped`.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Callable

from ..base import ObjectStat, Store, StoreFindings
from . import best_effort, reader
from .capabilities import Mechanisms, not_implemented
from .checksums import checksum_args
from .errors import error_code, error_status, is_absent, is_unavailable, mapped, network_reason, reason
from .options import S3Options
from .session import S3Session
from .writer import S3ObjectWriter

#: ``list_objects_v2`` page size (a module constant so tests can exercise pagination cheaply).
LIST_PAGE = 1000


def _lost_race(exc: BaseException) -> bool:
    """A conditional request's precondition failed (412, or 409 when another conditional write
    to the key raced it, or 404 for If-Match on a vanished key)."""
    code, status = error_code(exc), error_status(exc)
    return status in (412, 409) or code in ("PreconditionFailed", "ConditionalRequestConflict") or is_absent(exc)


def _age(response: dict) -> float | None:
    """Seconds between an object's ``LastModified`` and the response's ``Date`` (None when the
    server sends either not, or not as a time)."""
    import email.utils

    try:
        modified = response["LastModified"]
        now = email.utils.parsedate_to_datetime(response["ResponseMetadata"]["HTTPHeaders"]["date"])
        return max(0.0, (now - modified).total_seconds())
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


class S3Store(Store):
    """Objects under ``s3://bucket[/root/path]``; keys are ``/``-separated paths below the root.

    Picklable (clients and threads are rebuilt lazily), so a store can be shipped to Ray actors.
    """

    def __init__(self, uri: str, options: S3Options | None = None, *, create_bucket: bool = False,
                 mechanisms: Mechanisms | dict | None = None):
        """``mechanisms``: those a preflight chose (:meth:`preflight` returns them in
        ``open_args``), so every process of a run writes the same way; else the strongest."""
        self.uri = str(uri)
        self.options = options if options is not None else S3Options.from_env()
        self.create_bucket = bool(create_bucket)
        if isinstance(mechanisms, dict):
            mechanisms = Mechanisms.from_dict(mechanisms)
        self._init_runtime(mechanisms)

    def _init_runtime(self, mechanisms: Mechanisms | None) -> None:
        self.session = S3Session(self.uri, self.options, mechanisms)
        self.bucket, self.root = self.session.bucket, self.session.root
        self._probe_client = None

    def __getstate__(self) -> dict:
        return {"uri": self.uri, "options": self.options, "create_bucket": self.create_bucket,
                "mechanisms": self.session.mechanisms}

    def __setstate__(self, state: dict) -> None:
        self.uri = state["uri"]
        self.options = state["options"]
        self.create_bucket = state["create_bucket"]
        self._init_runtime(state.get("mechanisms"))

    def __repr__(self) -> str:
        return f"S3Store({self.uri!r}, endpoint={self.options.describe_endpoint()!r})"

    def close(self) -> None:
        """Release threads and connections (the store stays usable; they are rebuilt on demand)."""
        self.session.close()

    def probe(self) -> str | None:
        """One quick request (HEAD bucket, one attempt, short timeouts): None when S3 answers,
        else why not. Used to wait out an outage without spending files' attempts."""
        from botocore import exceptions as bx

        if getattr(self, "_probe_client", None) is None:
            self._probe_client = self.session.make_client(max_attempts=1, connect_timeout=2.0, read_timeout=5.0)
        try:
            self._probe_client.head_bucket(Bucket=self.bucket)
        except (bx.ConnectionError, bx.HTTPClientError) as exc:
            return f"cannot connect to {self.options.describe_endpoint()} ({network_reason(exc)})"
        except bx.ClientError as exc:
            if is_unavailable(exc):
                return f"{self.options.describe_endpoint()} answers {reason(exc)}"
            return None  # it answers (even a 403/404 is an answer: the next request says what is wrong)
        except bx.BotoCoreError as exc:
            return reason(exc)
        return None

    @property
    def mechanisms(self) -> Mechanisms:
        return self.session.mechanisms

    def preflight(self) -> StoreFindings:
        """Check access (:func:`.preflight.preflight`: every failure one line saying what to fix),
        measure what the store enforces on probe keys it removes again, and adopt the mechanisms
        chosen from that and the settings (:func:`.capabilities.choose`)."""
        from .capabilities import CHECKSUM_WORDS, choose
        from .preflight import preflight

        caps = preflight(self.session, create_bucket=self.create_bucket)
        endpoint = self.options.describe_endpoint()
        mechanisms, weaker = choose(caps, self.options.conditional_writes, self.options.checksum, endpoint)
        self.session.adopt(mechanisms)
        lease = "conditional writes" if mechanisms.lease == "conditional" else "best-effort"
        return StoreFindings(
            summary=f"S3 at {endpoint} enforces: {caps.line()}; lease: {lease}; "
                    f"integrity: {CHECKSUM_WORDS[mechanisms.checksum]}",
            warning=f"S3 at {endpoint}: " + "; ".join(weaker) if weaker else None,
            record={"endpoint": endpoint, "capabilities": caps.as_dict(), "mechanisms": mechanisms.as_dict()},
            open_args={"mechanisms": mechanisms.as_dict()},
        )

    # -- Store API -------------------------------------------------------------------------------
    def open_writer(self, key: str) -> S3ObjectWriter:
        return S3ObjectWriter(self.session, key)

    def put_bytes(self, key: str, data: bytes) -> None:
        """One PutObject: atomic (readers see the old or the new object, never a mix)."""
        payload = data if isinstance(data, bytes) else bytes(data)
        with mapped(f"writing {self.describe(key)}"):
            self.session.client().put_object(
                Bucket=self.bucket,
                Key=self.session.full_key(key),
                Body=payload,
                ContentLength=len(payload),
                **checksum_args(self.mechanisms.checksum, [payload]),
            )

    def get_bytes(self, key: str) -> bytes | None:
        with mapped(f"reading {self.describe(key)}", ignore=is_absent):
            return reader.read_object(self.session, key)
        return None

    def open_reader(self, key: str) -> BinaryIO:
        """A seekable reader over ranged GETs; ``pyarrow.parquet.ParquetFile`` reads it directly."""
        return reader.open_reader(self.session, key)

    def iter_stats(self, prefix: str):
        """One listing, a page at a time: size and ETag of every object under ``prefix``."""
        with mapped(f"listing {self.describe(prefix)}"):
            listing = "list_objects_v2" if self.mechanisms.list_v2 else "list_objects"
            pages = self.session.client().get_paginator(listing).paginate(
                Bucket=self.bucket,
                Prefix=self.session.full_prefix(prefix),
                PaginationConfig={"PageSize": LIST_PAGE},
            )
            for page in pages:
                for item in page.get("Contents", ()):
                    if item["Key"].endswith("/"):
                        continue  # a directory marker, not an object
                    yield self.session.relative(item["Key"]), ObjectStat(int(item["Size"]), str(item.get("ETag", "")))

    def delete(self, key: str) -> None:
        with mapped(f"deleting {self.describe(key)}", ignore=is_absent):
            self.session.client().delete_object(Bucket=self.bucket, Key=self.session.full_key(key))

    # -- compare-and-swap (conditional requests: If-None-Match / If-Match) ----------------------
    def read_tagged(self, key: str) -> tuple[bytes, str] | None:
        current = self.read_aged(key)
        return None if current is None else current[:2]

    def read_aged(self, key: str) -> tuple[bytes, str, float | None] | None:
        """The age is the response's ``Date`` minus the object's ``LastModified``: both stamped
        by the server's clock (to the second), whatever this host's clock says."""
        with mapped(f"reading {self.describe(key)}", ignore=is_absent):
            response = self.session.client().get_object(Bucket=self.bucket, Key=self.session.full_key(key))
            return response["Body"].read(), str(response.get("ETag", "")), _age(response)
        return None

    def _conditional(self, action: str, key: str, call) -> Any:
        """Run a conditional request; None when its precondition failed (see :func:`_lost_race`)."""
        with mapped(f"{action} {self.describe(key)}", ignore=_lost_race):
            return call()
        return None

    def _put_if(self, action: str, key: str, data: bytes, **condition: str) -> str | None:
        """A conditional PUT (``IfNoneMatch`` or ``IfMatch``); the new ETag, or None when lost."""
        response = self._conditional(action, key, lambda: self.session.client().put_object(
            Bucket=self.bucket, Key=self.session.full_key(key), Body=data, ContentLength=len(data), **condition,
            **checksum_args(self.mechanisms.checksum, [data]),
        ))
        return None if response is None else str(response.get("ETag", ""))

    # A store that ignores conditional writes gets them written, settled and read back instead
    # (see .best_effort; the run warns once that this is weaker).
    def create_exclusive(self, key: str, data: bytes) -> str | None:
        if self.mechanisms.lease != "conditional":
            return best_effort.create_exclusive(self.session, key, data)
        return self._put_if("creating", key, data, IfNoneMatch="*")

    def replace_if(self, key: str, data: bytes, tag: str) -> str | None:
        if self.mechanisms.lease != "conditional":
            return best_effort.replace_if(self.session, key, data, tag)
        return self._put_if("replacing", key, data, IfMatch=tag)

    def delete_if(self, key: str, tag: str) -> bool:
        if not self.mechanisms.conditional_delete:
            return best_effort.delete_if(self.session, key, tag)
        response = self._conditional("deleting", key, lambda: self.session.client().delete_object(
            Bucket=self.bucket, Key=self.session.full_key(key), IfMatch=tag,
        ))
        return response is not None

    # -- unfinished multipart uploads -------------------------------------------------------------
    def _open_uploads(self, prefix: str) -> list[tuple[str, str]]:
        """Every open upload under ``prefix``; none on a server that cannot list or abort them
        (measured at preflight, or answered NotImplemented: s3rver): it keeps their parts out of
        every listing and never shows them under a key."""
        found: list[tuple[str, str]] = []
        if not (self.mechanisms.list_uploads and self.mechanisms.abort_upload):
            return found
        with mapped(f"listing unfinished uploads under {self.describe(prefix)}", ignore=not_implemented):
            pages = self.session.client().get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket,
                Prefix=self.session.full_prefix(prefix),
                PaginationConfig={"PageSize": LIST_PAGE},
            )
            for page in pages:
                for upload in page.get("Uploads", ()):
                    found.append((upload["Key"], upload["UploadId"]))
            return sorted(found)
        return []

    def list_partials(self, prefix: str) -> list[str]:
        """Keys (relative to the root) with an unfinished multipart upload, once per upload."""
        return [self.session.relative(key) for key, _ in self._open_uploads(prefix)]

    def cleanup_partials(self, prefix: str, select: Callable[[str], bool] | None = None) -> int:
        removed = 0
        client = self.session.client()
        for key, upload_id in self._open_uploads(prefix):
            if select is not None and not select(self.session.relative(key)):
                continue
            # NoSuchUpload: finished or aborted meanwhile, so not counted.
            with mapped(f"aborting the unfinished upload of s3://{self.bucket}/{key}",
                        ignore=lambda exc: error_code(exc) == "NoSuchUpload"):
                client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
                removed += 1
        return removed
