"""One writer per output prefix (and partition): a lease object in the control directory.

Why: two runs on one prefix delete each other's temp files or abort each other's uploads at
start-up, and the last writer wins silently. A run therefore takes a lease before it touches
anything, and keeps it while it lives:

* **created only if absent**: S3 ``PutObject`` with ``If-None-Match: *``, locally ``O_EXCL``,
  so of two runs starting together exactly one gets it; the other is refused with one line
  naming the holder (id, host, pid, start time) and when its lease expires;
* **renewed** every ``ttl / 4`` seconds by a compare-and-swap on the object's version
  (``If-Match`` on S3, a ``flock``-guarded check locally); a renewal that finds the lease changed
  marks it lost, and the run fails instead of reporting done;
* **taken over** when it expired (its holder stopped renewing ``ttl`` seconds ago) or when its
  holder is a process of this host that no longer exists, again by compare-and-swap on the
  version that was found expired, so two runs taking over together cannot both win; the takeover
  is reported with a note naming the previous holder. A lease that looks live is watched until
  its holder renews it (then the run is refused: within ``ttl / 4`` seconds) or it expires (then
  it is taken over): a Kubernetes retry on a new pod thus waits out its dead predecessor's lease
  instead of failing;
* **released** at the end (deleted only if it is still this run's version).

A lease on a partition also conflicts with a live lease of any overlapping partition of the same
prefix (``count=1`` overlaps every partition). Expiry compares the holder's clock with the
taker's: hosts must agree on the time within a fraction of the ttl. Pure over a
:class:`~lakebench_ray.sinks.Store` (no Ray), so it works the same on S3 and locally.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
import re
import secrets
import socket
import threading
import time
from typing import Callable, Optional

from . import layout
from .errors import LeaseHeld, StorageUnavailable
from .sinks import Store

log = logging.getLogger(__name__)


def _level(exc: BaseException) -> int:
    """An outage is the run's to report (once, in its one line); anything else deserves a warning."""
    return logging.INFO if isinstance(exc, StorageUnavailable) else logging.WARNING

#: Seconds a lease lasts without renewal (a killed run blocks its prefix at most this long, or
#: not at all when it ran on this host).
DEFAULT_TTL_S = 60.0
_LEASE_NAME = re.compile(r"lease(?:-(\d{4,})-of-(\d{4,}))?\.json")


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="seconds")


def _pid_namespace() -> str:
    """This process's PID namespace (containers on one host share its name but not their pids)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@dataclasses.dataclass(frozen=True)
class LeaseInfo:
    """What a lease object holds."""

    holder: str
    host: str
    pid: int
    started_at: str
    renewed_at: float
    expires_at: float
    prefix: str
    partition: str
    pid_namespace: str = ""

    def to_bytes(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), indent=1).encode()

    @classmethod
    def parse(cls, data: bytes) -> Optional["LeaseInfo"]:
        try:
            doc = json.loads(data)
            return cls(**{f.name: doc[f.name] for f in dataclasses.fields(cls) if f.name in doc})
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        return f"run {self.holder} on host {self.host} (pid {self.pid}, started {self.started_at})"

    def live(self, now: float) -> bool:
        """Unexpired and, when it was taken on this host (and PID namespace), its process still
        exists."""
        if not now < self.expires_at:
            return False
        here = self.host == socket.gethostname() and self.pid_namespace == _pid_namespace()
        if here and not _pid_alive(self.pid):
            return False
        return True


def _partition_of(name: str) -> tuple[int, int] | None:
    """(index, count) of a lease file name, None when it is no lease."""
    match = _LEASE_NAME.fullmatch(name)
    if match is None:
        return None
    if match.group(1) is None:
        return 0, 1
    return int(match.group(1)), int(match.group(2))


def partitions_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """Whether partitions (index, count) share a file id: ids i mod n and j mod m meet iff
    i = j modulo gcd(n, m)."""
    g = math.gcd(a[1], b[1])
    return a[0] % g == b[0] % g


class Lease:
    """This run's lease on ``prefix`` (partition ``index`` of ``count``)."""

    def __init__(self, store: Store, prefix: str, count: int = 1, index: int = 0, *,
                 ttl_s: float = DEFAULT_TTL_S, holder: str | None = None):
        self.store = store
        self.prefix = layout.data_prefix(prefix)
        self.key = layout.lease_key(self.prefix, count, index)
        self.partition = (index, count)
        self.ttl_s = float(ttl_s)
        self.holder = holder or secrets.token_hex(6)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started = time.time()
        self.previous: LeaseInfo | None = None
        self.lost: str | None = None  # why, once lost
        self._tag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _info(self, now: float) -> LeaseInfo:
        return LeaseInfo(
            holder=self.holder, host=self.host, pid=self.pid, started_at=_iso(self.started),
            renewed_at=round(now, 3), expires_at=round(now + self.ttl_s, 3),
            prefix=self.prefix, partition=f"{self.partition[0]}/{self.partition[1]}",
            pid_namespace=_pid_namespace(),
        )

    def _refuse(self, info: LeaseInfo | None) -> LeaseHeld:
        where = self.store.describe(self.prefix)
        if info is None:
            return LeaseHeld(f"{where} is locked by another run (unreadable lease {self.store.describe(self.key)}): "
                             "wait for that run to end, or delete the lease if no run is writing there")
        return LeaseHeld(
            f"{where} is being written by {info.describe()}, partition {info.partition}; its lease "
            f"expires at {_iso(info.expires_at)} unless renewed: wait for that run to end or stop it, "
            "or write to another output.prefix"
        )

    # -- taking and giving back --------------------------------------------------------------------
    def _stale_after_waiting(self, tag: str, info: LeaseInfo, wait_s: float | None, note) -> bool:
        """Watch a live-looking lease: True once it expired or vanished, False as soon as its
        holder renews it (or ``wait_s`` passed)."""
        budget = max(0.0, info.expires_at - time.time()) + 1.0 if wait_s is None else wait_s
        budget = min(budget, self.ttl_s + 5.0)
        if budget <= 0:
            return False
        note(f"{self.store.describe(self.prefix)} is leased by {info.describe()}, last renewed "
             f"{_iso(info.renewed_at)}: waiting up to {budget:.0f}s to see whether it is still alive")
        deadline = time.monotonic() + budget
        step = min(1.0, max(0.05, self.ttl_s / 20))
        while time.monotonic() < deadline:
            time.sleep(step)
            current = self.store.read_tagged(self.key)
            if current is None:
                return True
            if current[1] != tag:
                return False  # renewed (or taken by someone else): a live holder
            if not info.live(time.time()):
                return True
        return False

    def acquire(self, note: Callable[[str], None] = log.warning, *, wait_s: float | None = None) -> "Lease":
        """Take the lease or raise :class:`LeaseHeld` naming the live holder (bounded tries).

        ``wait_s``: how long to watch a live-looking lease for a renewal (None: until it would
        expire, at most ``ttl``; 0: refuse at once)."""
        for _attempt in range(8):
            now = time.time()
            tag = self.store.create_exclusive(self.key, self._info(now).to_bytes())
            if tag is not None:
                self._tag = tag
                break
            current = self.store.read_tagged(self.key)
            if current is None:
                continue  # released between our create and our read: try again
            data, found_tag = current
            info = LeaseInfo.parse(data)
            if info is not None and info.live(time.time()):
                if not self._stale_after_waiting(found_tag, info, wait_s, note):
                    raise self._refuse(self._current_info() or info)
                continue  # expired (or released) while we watched: look again
            tag = self.store.replace_if(self.key, self._info(time.time()).to_bytes(), found_tag)
            if tag is None:
                continue  # someone else renewed or took it meanwhile: look again
            self._tag = tag
            self.previous = info
            why = "expired" if info is None or not time.time() < info.expires_at else "left by a process that is gone"
            note(
                f"took over the lease on {self.store.describe(self.prefix)} {why}: "
                + (f"previous holder {info.describe()}, last renewed {_iso(info.renewed_at)}"
                   if info is not None else "the previous lease was unreadable")
            )
            break
        else:
            raise LeaseHeld(f"could not take the lease {self.store.describe(self.key)}: other runs keep "
                            "changing it; make sure one run at a time writes there")
        try:
            self._confirm()
            self._check_overlapping()
        except BaseException:
            self.release()
            raise
        return self

    def _current_info(self) -> LeaseInfo | None:
        current = self.store.read_tagged(self.key)
        return LeaseInfo.parse(current[0]) if current else None

    def _confirm(self) -> None:
        """Read back the lease: a store that ignores conditional writes would let two runs in."""
        current = self.store.read_tagged(self.key)
        info = LeaseInfo.parse(current[0]) if current else None
        if info is None or info.holder != self.holder:
            self._tag = None
            raise self._refuse(info)

    def _check_overlapping(self) -> None:
        """Refuse when a live lease of an overlapping partition of this prefix exists."""
        folder = layout.control_dir(self.prefix)
        for key in sorted(self.store.list(folder)):
            if key == self.key or key.rsplit("/", 1)[0] != folder:
                continue
            other = _partition_of(key.rsplit("/", 1)[-1])
            if other is None or not partitions_overlap(other, self.partition):
                continue
            current = self.store.read_tagged(key)
            info = LeaseInfo.parse(current[0]) if current else None
            if info is not None and info.live(time.time()):
                raise self._refuse(info)

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still this run's."""
        self.stop_renewing()
        tag, self._tag = self._tag, None
        if tag is not None and self.lost is None:
            try:
                self.store.delete_if(self.key, tag)
            except Exception as exc:  # noqa: BLE001 - it expires on its own; never mask the cause
                # During a storage outage the run's own one-line error says so already.
                log.log(_level(exc), "could not release the lease %s (%s); it expires in %.0fs",
                            self.store.describe(self.key), exc, self.ttl_s)

    # -- keeping it --------------------------------------------------------------------------------
    def renew(self) -> bool:
        """Extend the lease; False (and ``lost`` set) when another run took it."""
        if self._tag is None or self.lost is not None:
            return False
        tag = self.store.replace_if(self.key, self._info(time.time()).to_bytes(), self._tag)
        if tag is None:
            current = self.store.read_tagged(self.key)
            info = LeaseInfo.parse(current[0]) if current else None
            self.lost = f"taken over by {info.describe()}" if info else "deleted by someone else"
            log.error("lost the lease on %s: %s", self.store.describe(self.prefix), self.lost)
            return False
        self._tag = tag
        return True

    def start_renewing(self) -> "Lease":
        def loop() -> None:
            last_ok = time.monotonic()
            while not self._stop.wait(self.ttl_s / 4):
                try:
                    if not self.renew():
                        return
                    last_ok = time.monotonic()
                except Exception as exc:  # noqa: BLE001 - e.g. an outage: retry until it expires
                    log.log(_level(exc), "could not renew the lease on %s: %s", self.store.describe(self.prefix), exc)
                    if time.monotonic() - last_ok > self.ttl_s:
                        self.lost = f"not renewed for {self.ttl_s:.0f}s ({exc})"
                        return

        self._thread = threading.Thread(target=loop, name="lakebench-lease", daemon=True)
        self._thread.start()
        return self

    def stop_renewing(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)


__all__ = ["DEFAULT_TTL_S", "Lease", "LeaseInfo", "partitions_overlap"]
