"""Compare-and-swap on a store that ignores conditional writes: written, settled, read back.

A store that accepts ``If-None-Match`` / ``If-Match`` without checking them (measured at preflight,
:mod:`.capabilities`) would let two runs both "create" the lease. Here each conditional write is
done in three steps instead: read the object and check the condition ourselves (absent, or still
the version we hold); write our bytes, which are unique (the lease holds a holder id and a
timestamp); wait :data:`~.capabilities.SETTLE_S` seconds; read the object back. Only when it still
holds our bytes did we win; when another run wrote after us, its bytes are there and we lost.
Renewals follow the same rule, so a run that was overwritten notices at its next renewal.

What is weaker than a server's check: two runs whose writes land more than the settle time apart,
both after both read the object as absent (or as the same version), can each read back their own
bytes, so both go on; the run says so in its one warning line. Deleting by version checks the
version and deletes in two requests.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Callable

from .checksums import checksum_args
from .errors import is_absent, mapped

if TYPE_CHECKING:  # pragma: no cover
    from .session import S3Session


def _read(session: "S3Session", key: str) -> tuple[bytes, str] | None:
    with mapped(f"reading {session.describe(key)}", ignore=is_absent):
        response = session.client().get_object(Bucket=session.bucket, Key=session.full_key(key))
        return response["Body"].read(), str(response.get("ETag", ""))
    return None


def _write_settle_read(session: "S3Session", action: str, key: str, data: bytes,
                       sleep: Callable[[float], None]) -> str | None:
    from .capabilities import SETTLE_S

    with mapped(f"{action} {session.describe(key)}"):
        session.client().put_object(Bucket=session.bucket, Key=session.full_key(key), Body=data,
                                    ContentLength=len(data), **checksum_args(session.mechanisms.checksum, [data]))
    sleep(SETTLE_S)
    current = _read(session, key)
    return current[1] if current is not None and current[0] == data else None


def create_exclusive(session: "S3Session", key: str, data: bytes, sleep=time.sleep) -> str | None:
    """Create ``key`` if absent; its version tag when our bytes are there after settling, else None."""
    if _read(session, key) is not None:
        return None
    return _write_settle_read(session, "creating", key, data, sleep)


def replace_if(session: "S3Session", key: str, data: bytes, tag: str, sleep=time.sleep) -> str | None:
    """Replace ``key`` if it is still version ``tag``; the new tag when our bytes stayed, else None."""
    current = _read(session, key)
    if current is None or current[1] != tag:
        return None
    return _write_settle_read(session, "replacing", key, data, sleep)


def delete_if(session: "S3Session", key: str, tag: str) -> bool:
    """Delete ``key`` if it is version ``tag`` (checked, then deleted: two requests)."""
    current = _read(session, key)
    if current is None or current[1] != tag:
        return False
    with mapped(f"deleting {session.describe(key)}", ignore=is_absent):
        session.client().delete_object(Bucket=session.bucket, Key=session.full_key(key))
    return True
