"""What a failed S3 request means for the run: botocore/boto3 exceptions become :class:`SinkError`.

Every operation of the store and the writer runs its requests inside :class:`mapped`, so a
botocore exception never leaves the sink, and every message has the same shape: what was being
done, then one line of why (``reading s3://b/k failed: NoSuchBucket (HTTP 404): ...``), never a
request header (hence never a secret). A failure that may pass (no connection, a timeout, a
dropped connection, a 5xx, throttling) becomes :class:`StorageUnavailable`, so the run pauses and
probes the endpoint rather than blaming the file.

botocore is imported only when an error is being mapped: the options and the config layer import
this package without it.
"""

from __future__ import annotations

from typing import Callable

from ...errors import SinkError, StorageUnavailable

#: The bucket is missing: a 404 with this code is not "no such key".
MISSING_BUCKET_CODES = {"NoSuchBucket"}
#: Answers that mean the server is overloaded or away rather than that the request is wrong.
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500", "502", "504"}


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "") or "")


def error_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None) or {}
    return response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def is_absent(exc: BaseException) -> bool:
    """A 404 for the key itself (not for a missing bucket): the object is not there."""
    return error_status(exc) == 404 and error_code(exc) not in MISSING_BUCKET_CODES


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def nested(exc: BaseException):
    """``exc`` and every exception inside it, once each: causes, contexts, and the ones botocore
    and urllib3 keep in ``kwargs['error']`` or in their arguments."""
    seen = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        kwargs = getattr(current, "kwargs", None) or {}
        stack.extend([current.__context__, current.__cause__, kwargs.get("error")])
        stack.extend(a for a in getattr(current, "args", ()) if isinstance(a, BaseException))


def network_reason(exc: BaseException) -> str:
    """The innermost OS-level reason of a connection failure ('Connection refused', ...)."""
    for current in nested(exc):
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        if type(current).__name__ in ("ConnectTimeoutError", "ConnectTimeout"):
            return "connection timed out"
    text = one_line(str(exc))
    return text or type(exc).__name__


def reason(exc: BaseException) -> str:
    """One line saying what went wrong (never includes request headers, hence no secrets)."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        code = error_code(exc) or "error"
        status = error_status(exc)
        message = one_line(exc.response.get("Error", {}).get("Message", "") or "")
        where = f" (HTTP {status})" if status else ""
        return f"{code}{where}{': ' + message if message else ''}"
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError)):
        return f"cannot connect ({network_reason(exc)})"
    if isinstance(exc, bx.NoCredentialsError):
        return "no credentials found"
    if isinstance(exc, SinkError):
        return str(exc)
    return f"{type(exc).__name__}: {one_line(str(exc))}"


def is_unavailable(exc: BaseException | None) -> bool:
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
        status = error_status(exc) or 0
        return status >= 500 or error_code(exc) in _UNAVAILABLE_CODES
    return False


def sink_error(message: str, exc: BaseException | None) -> SinkError:
    """The :class:`SinkError` for ``message``: :class:`StorageUnavailable` when ``exc`` may pass."""
    return (StorageUnavailable if is_unavailable(exc) else SinkError)(message)


def failure(action: str, exc: BaseException) -> SinkError:
    """The error for ``action`` having failed with ``exc``: ``"<action> failed: <reason>"``."""
    return sink_error(f"{action} failed: {reason(exc)}", exc)


def botocore_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a boto3 call raises (imported on first use: botocore is a heavy import)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


class mapped:
    """``with mapped("reading s3://b/k"):`` -- a botocore/boto3 error inside leaves as :func:`failure`.

    ``ignore(exc)`` true: the error is an expected answer (a missing key, a lost race); it is
    swallowed and execution continues after the ``with`` block, where the caller returns what such
    an answer means. ``explain(exc)`` may return a more specific error for one kind of failure
    (``None``: the usual message). Anything not from botocore (a :class:`SinkError` included)
    passes through unchanged.
    """

    __slots__ = ("action", "ignore", "explain")

    def __init__(
        self,
        action: str,
        *,
        ignore: Callable[[BaseException], bool] | None = None,
        explain: Callable[[BaseException], SinkError | None] | None = None,
    ):
        self.action = action
        self.ignore = ignore
        self.explain = explain

    def __enter__(self) -> "mapped":
        return self

    def __exit__(self, kind, exc, traceback) -> bool:
        if exc is None or not isinstance(exc, botocore_errors()):
            return False
        if self.ignore is not None and self.ignore(exc):
            return True
        error = self.explain(exc) if self.explain is not None else None
        raise (error if error is not None else failure(self.action, exc)) from exc
