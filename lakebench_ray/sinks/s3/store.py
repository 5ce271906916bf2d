"""S3Store: the :class:`Store` operations on ``s3://bucket[/root]`` (listing, small objects,
compare-and-swap, clean-up of unfinished uploads), each one request or one paginated walk.

Large objects go through :mod:`.writer`, reads through :mod:`.reader`, the before-the-run checks
through :mod:`.preflight`; every botocore error leaves through :class:`.errors.mapped`.
"""

from __future__ import annotations

from typing import Any, BinaryIO, Callable

from ..base import ObjectStat, Store
from . import reader
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

    def __init__(self, uri: str, options: S3Options | None = None, *, create_bucket: bool = False):
        self.uri = str(uri)
        self.options = options if options is not None else S3Options.from_env()
        self.create_bucket = bool(create_bucket)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self.session = S3Session(self.uri, self.options)
        self.bucket, self.root = self.session.bucket, self.session.root
        self._probe_client = None

    def __getstate__(self) -> dict:
        return {"uri": self.uri, "options": self.options, "create_bucket": self.create_bucket}

    def __setstate__(self, state: dict) -> None:
        self.uri = state["uri"]
        self.options = state["options"]
        self.create_bucket = state["create_bucket"]
        self._init_runtime()

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

    def preflight(self) -> None:
        """List, write, read back and delete a probe; start and abort a multipart upload (see
        :func:`.preflight.preflight`). Every failure is one line saying what to fix."""
        from .preflight import preflight

        preflight(self.session, create_bucket=self.create_bucket)

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
                **checksum_args(self.options.checksum, [payload]),
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
            pages = self.session.client().get_paginator("list_objects_v2").paginate(
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
            **checksum_args(self.options.checksum, [data]),
        ))
        return None if response is None else str(response.get("ETag", ""))

    def create_exclusive(self, key: str, data: bytes) -> str | None:
        return self._put_if("creating", key, data, IfNoneMatch="*")

    def replace_if(self, key: str, data: bytes, tag: str) -> str | None:
        return self._put_if("replacing", key, data, IfMatch=tag)

    def delete_if(self, key: str, tag: str) -> bool:
        response = self._conditional("deleting", key, lambda: self.session.client().delete_object(
            Bucket=self.bucket, Key=self.session.full_key(key), IfMatch=tag,
        ))
        return response is not None

    # -- unfinished multipart uploads -------------------------------------------------------------
    def _open_uploads(self, prefix: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        with mapped(f"listing unfinished uploads under {self.describe(prefix)}"):
            pages = self.session.client().get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket,
                Prefix=self.session.full_prefix(prefix),
                PaginationConfig={"PageSize": LIST_PAGE},
            )
            for page in pages:
                for upload in page.get("Uploads", ()):
                    found.append((upload["Key"], upload["UploadId"]))
        return sorted(found)

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
