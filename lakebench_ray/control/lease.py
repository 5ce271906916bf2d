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
* **confirmed before every write that makes the run's work count** (each checkpoint save, the
  report): the same compare-and-swap renewal, by whichever process of the run writes (the driver
  or its checkpoint actor, through a picklable :class:`Fence`). A run whose lease was taken over
  between two renewals therefore never records another file nor reports done: it stops with one
  line naming the new holder;
* **taken over** when it expired (its holder stopped renewing ``ttl`` seconds ago) or when its
  holder is a process of this host that no longer exists, again by compare-and-swap on the
  version that was found expired, so two runs taking over together cannot both win; the takeover
  is reported with a note naming the previous holder. A lease that looks live is watched until
  its holder renews it (then the run is refused: within ``ttl / 4`` seconds) or it expires (then
  it is taken over): a Kubernetes retry on a new pod thus waits out its dead predecessor's lease
  instead of failing;
* **released** at the end (deleted only if it is still this run's version).

A lease on a partition also conflicts with a live lease of any overlapping partition of the same
prefix (``count=1`` overlaps every partition).

Expiry is judged by the store's clock whenever the store tells the lease object's age (S3: its
``Date`` minus the object's ``LastModified``; a local file: now minus its mtime): the holder's ttl
(``expires_at - renewed_at``, a difference on one clock) minus that age. Hosts' clocks then need not
agree: a holder whose clock is minutes behind or ahead is neither taken over while it renews nor
left blocking the prefix after it died. Only a store that tells no age falls back to comparing the
holder's ``expires_at`` with the taker's clock. Waiting for a renewal is measured on the taker's
monotonic clock. Every reading of time goes through a :class:`Clock`, so tests run the timing on
a fake one. Pure over a :class:`~lakebench_ray.sinks.Store` (no Ray), so it works the same on S3
and locally.
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

from .. import layout
from ..errors import LeaseHeld, LeaseLost, StorageUnavailable
from ..sinks import Store

log = logging.getLogger(__name__)


def _level(exc: BaseException) -> int:
    """An outage is the run's to report (once, in its one line); anything else deserves a warning."""
    return logging.INFO if isinstance(exc, StorageUnavailable) else logging.WARNING

#: Seconds a lease lasts without renewal (a killed run blocks its prefix at most this long, or
#: not at all when it ran on this host).
DEFAULT_TTL_S = 60.0
_LEASE_NAME = re.compile(r"lease(?:-(\d{4,})-of-(\d{4,}))?\.json")


def _iso(epoch: float) -> str:
    try:
        return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):  # a time no calendar holds, from a hand-edited lease
        return f"{epoch:.0f} (epoch seconds)"


class Clock:
    """The lease's time: wall time for what it records, monotonic time and sleeps for its waits.

    Injectable (``Lease(clock=...)``) so that the lease's timing is tested on a fake clock rather
    than by spending, and racing, real seconds."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait for ``event`` at most ``seconds``; whether it is set."""
        return event.wait(seconds)


SYSTEM_CLOCK = Clock()


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
        """The lease in ``data``, or None when it is no lease of this kind (not JSON, a field
        missing or of the wrong type, a time that is not a finite number, no process id): such a
        lease is treated as unreadable, never compared or trusted."""
        try:
            doc = json.loads(data)
        except (ValueError, TypeError, RecursionError):
            return None
        if not isinstance(doc, dict):
            return None
        values = {}
        for field in dataclasses.fields(cls):
            if field.name not in doc:
                if field.default is dataclasses.MISSING:
                    return None
                continue
            value = doc[field.name]
            kind = _FIELD_TYPES[field.name]
            if isinstance(value, bool) or not isinstance(value, kind):
                return None
            if kind is not str and not (math.isfinite(value) and value >= 0):
                return None
            values[field.name] = float(value) if kind == (int, float) else value
        info = cls(**values)
        if not 0 < info.pid < 2**31 or info.expires_at < info.renewed_at:
            return None
        return info

    @property
    def ttl_s(self) -> float:
        """How long the holder's lease lasts without renewal (a difference on the holder's clock)."""
        return self.expires_at - self.renewed_at

    def renewed(self, now: float) -> "LeaseInfo":
        """The same lease (holder, host, pid) renewed at ``now`` for its own ttl."""
        return dataclasses.replace(self, renewed_at=round(now, 3), expires_at=round(now + self.ttl_s, 3))

    def describe(self) -> str:
        return f"run {self.holder} on host {self.host} (pid {self.pid}, started {self.started_at})"

    def remaining(self, now: float, age: float | None = None) -> float:
        """Seconds before it expires unless renewed: by the store's clock when the store told
        the lease object's ``age`` (the holder's ttl minus that age), else by the holder's
        ``expires_at`` against ``now`` on the reader's clock."""
        if age is not None:
            return self.ttl_s - max(0.0, age)
        return self.expires_at - now

    def process_gone(self) -> bool:
        """Taken on this host (and PID namespace), by a process that no longer exists."""
        here = self.host == socket.gethostname() and self.pid_namespace == _pid_namespace()
        return here and not _pid_alive(self.pid)

    def live(self, now: float, age: float | None = None) -> bool:
        """Unexpired (see :meth:`remaining`) and, when it was taken on this host (and PID
        namespace), its process still exists."""
        return self.remaining(now, age) > 0 and not self.process_gone()


_FIELD_TYPES = {"holder": str, "host": str, "pid": int, "started_at": str, "renewed_at": (int, float),
                "expires_at": (int, float), "prefix": str, "partition": str, "pid_namespace": str}


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


@dataclasses.dataclass(frozen=True)
class Fence:
    """Who holds a lease, so that any process of the run (the driver, its checkpoint actor) can
    confirm the run still holds it right before a write that makes its work count. Picklable: it
    travels to a Ray actor, which confirms through its own store."""

    key: str
    holder: str
    where: str  # the prefix as messages name it

    def confirm(self, store: Store, clock: Clock = SYSTEM_CLOCK) -> str:
        """Renew the lease by a compare-and-swap if it is still this run's; its new version tag.

        Raises :class:`LeaseLost` naming whoever holds it now. A swap that fails because another
        process of this run renewed it meanwhile (same holder) is tried again, a few times; when
        every try lost to this run's own renewals (frequent where swaps are best-effort: written,
        then read back after a settle, see ``sinks/s3/best_effort.py``), the lease is still this
        run's, just renewed, and its current tag is returned."""
        for _attempt in range(4):
            current = store.read_tagged(self.key)
            info = LeaseInfo.parse(current[0]) if current else None
            if info is None or info.holder != self.holder:
                raise self.lost(self.why_lost(info, current is not None))
            tag = store.replace_if(self.key, info.renewed(clock.time()).to_bytes(), current[1])
            if tag is not None:
                return tag
        current = store.read_tagged(self.key)
        info = LeaseInfo.parse(current[0]) if current else None
        if info is None or info.holder != self.holder:
            raise self.lost(self.why_lost(info, current is not None))
        return current[1]

    @staticmethod
    def why_lost(info: LeaseInfo | None, exists: bool) -> str:
        if info is not None:
            return f"taken over by {info.describe()}"
        return "replaced by an unreadable lease" if exists else "deleted by someone else"

    def lost(self, why: str) -> LeaseLost:
        error = LeaseLost(
            f"this run lost its lease on {self.where} ({why}): it stopped writing and reports nothing; "
            "another run may be writing there: run again with resume=true once no other run writes there"
        )
        error.why = why
        return error


class Lease:
    """This run's lease on ``prefix`` (partition ``index`` of ``count``)."""

    def __init__(self, store: Store, prefix: str, count: int = 1, index: int = 0, *,
                 ttl_s: float = DEFAULT_TTL_S, holder: str | None = None, clock: Clock = SYSTEM_CLOCK):
        self.store = store
        self.clock = clock
        self.prefix = layout.data_prefix(prefix)
        self.key = layout.lease_key(self.prefix, count, index)
        self.partition = (index, count)
        self.ttl_s = float(ttl_s)
        self.holder = holder or secrets.token_hex(6)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.started = clock.time()
        self.previous: LeaseInfo | None = None
        self.lost: str | None = None  # why, once lost
        #: Whether the run writes nothing now (its pool paused for a storage outage). Renewals
        #: that fail past the ttl then do not lose the lease: nothing of this run writes while it
        #: may be expired, and once the storage answers a compare-and-swap tells whether another
        #: run took it meanwhile (see :attr:`overdue`). Otherwise an outage longer than the ttl
        #: would end every run however long ``outage_budget_s`` allows.
        self.idle: Callable[[], bool] = lambda: False
        #: Not renewed for longer than the ttl while idle: confirm (``confirm()``) before writing again.
        self.overdue = False
        self._tag: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def fence(self) -> Fence:
        return Fence(self.key, self.holder, self.store.describe(self.prefix))

    def _info(self, now: float) -> LeaseInfo:
        return LeaseInfo(
            holder=self.holder, host=self.host, pid=self.pid, started_at=_iso(self.started),
            renewed_at=round(now, 3), expires_at=round(now + self.ttl_s, 3),
            prefix=self.prefix, partition=f"{self.partition[0]}/{self.partition[1]}",
            pid_namespace=_pid_namespace(),
        )

    def _refuse(self, info: LeaseInfo | None) -> LeaseHeld:
        where = self.store.describe(self.prefix)
        lease = self.store.describe(self.key)
        if info is None:
            return LeaseHeld(f"{where} is locked by another run (unreadable lease {lease}): "
                             "wait for that run to end, or delete the lease if no run is writing there")
        return LeaseHeld(
            f"{where} is being written by {info.describe()}, partition {info.partition}; its lease "
            f"expires at {_iso(info.expires_at)} by that host's clock unless renewed: wait for that run to end "
            f"or stop it, or write to another output.prefix; if no run writes there any more, delete {lease}"
        )

    # -- taking and giving back --------------------------------------------------------------------
    def _stale_after_waiting(self, tag: str, info: LeaseInfo, age: float | None, wait_s: float | None,
                             note, stop: Callable[[], None]) -> bool:
        """Watch a live-looking lease: True once it expired or vanished, False as soon as its
        holder renews it (or ``wait_s`` passed)."""
        clock = self.clock
        remaining = info.remaining(clock.time(), age)
        budget = remaining + 1.0 if wait_s is None else wait_s
        budget = min(budget, self.ttl_s + 5.0)
        if budget <= 0:
            return False
        note(f"{self.store.describe(self.prefix)} is leased by {info.describe()}, last renewed "
             f"{_iso(info.renewed_at)}: waiting up to {budget:.0f}s to see whether it is still alive")
        start = clock.monotonic()
        deadline, expires = start + budget, start + remaining
        step = min(1.0, max(0.05, self.ttl_s / 20))
        while clock.monotonic() < deadline:
            stop()
            clock.sleep(min(step, max(0.0, deadline - clock.monotonic())))
            current = self.store.read_tagged(self.key)
            if current is None:
                return True
            if current[1] != tag:
                return False  # renewed (or taken by someone else): a live holder
            if clock.monotonic() >= expires or info.process_gone():
                return True
        return False

    def acquire(self, note: Callable[[str], None] = log.warning, *, wait_s: float | None = None,
                stop: Callable[[], None] = lambda: None) -> "Lease":
        """Take the lease or raise :class:`LeaseHeld` naming the live holder (bounded tries).

        ``wait_s``: how long to watch a live-looking lease for a renewal (None: until it would
        expire, at most ``ttl``; 0: refuse at once). ``stop`` is called while watching and raises
        to give up (a signal)."""
        for _attempt in range(8):
            tag = self.store.create_exclusive(self.key, self._info(self.clock.time()).to_bytes())
            if tag is not None:
                self._tag = tag
                break
            current = self.store.read_aged(self.key)
            if current is None:
                continue  # released between our create and our read: try again
            data, found_tag, age = current
            info = LeaseInfo.parse(data)
            why = "unreadable"
            if info is not None:
                why = "left by a process that is gone" if info.process_gone() else "expired"
                if info.live(self.clock.time(), age):
                    if not self._stale_after_waiting(found_tag, info, age, wait_s, note, stop):
                        raise self._refuse(self._current_info() or info)
                    why = "not renewed while watched" if not info.process_gone() else why
            tag = self.store.replace_if(self.key, self._info(self.clock.time()).to_bytes(), found_tag)
            if tag is None:
                continue  # someone else renewed, released or took it meanwhile: look again
            self._tag = tag
            self.previous = info
            note(
                f"took over the lease on {self.store.describe(self.prefix)} ({why}): "
                + (f"previous holder {info.describe()}, last renewed {_iso(info.renewed_at)} by its clock"
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
        info = self._current_info()
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
            current = self.store.read_aged(key)
            info = LeaseInfo.parse(current[0]) if current else None
            if info is not None and info.live(self.clock.time(), current[2]):
                raise self._refuse(info)

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still this run's."""
        self.stop_renewing()
        tag, self._tag = self._tag, None
        if tag is not None and self.lost is None:
            try:
                if not self.store.delete_if(self.key, tag):  # renewed by this run's checkpoint actor since
                    current = self.store.read_tagged(self.key)
                    info = LeaseInfo.parse(current[0]) if current else None
                    if info is not None and info.holder == self.holder:
                        self.store.delete_if(self.key, current[1])
            except Exception as exc:  # noqa: BLE001 - it expires on its own; never mask the cause
                # During a storage outage the run's own one-line error says so already.
                log.log(_level(exc), "could not release the lease %s (%s); it expires in %.0fs",
                            self.store.describe(self.key), exc, self.ttl_s)

    # -- keeping it --------------------------------------------------------------------------------
    def confirm(self) -> None:
        """Renew the lease now (compare-and-swap) or raise :class:`LeaseLost` naming the new
        holder: called right before each write that makes the run's work count."""
        if self.lost is not None:
            raise self.fence.lost(self.lost)
        if self._tag is None:
            raise self.fence.lost("it was never taken")
        try:
            self._tag = self.fence.confirm(self.store, self.clock)
            self.overdue = False
        except LeaseLost as exc:
            self.lost = getattr(exc, "why", str(exc))
            log.error("lost the lease on %s: %s", self.store.describe(self.prefix), self.lost)
            raise

    def lost_error(self) -> LeaseLost:
        return self.fence.lost(self.lost or "lost")

    def renew(self) -> bool:
        """Extend the lease; False (and ``lost`` set) when another run took it."""
        if self._tag is None or self.lost is not None:
            return False
        try:
            self.confirm()
        except LeaseLost:
            return False
        return True

    def start_renewing(self) -> "Lease":
        def loop() -> None:
            last_ok = self.clock.monotonic()
            while not self.clock.wait(self._stop, self.ttl_s / 4):
                try:
                    if not self.renew():
                        return
                    last_ok = self.clock.monotonic()
                except Exception as exc:  # noqa: BLE001 - e.g. an outage: retry until it expires
                    log.log(_level(exc), "could not renew the lease on %s: %s", self.store.describe(self.prefix), exc)
                    if self.clock.monotonic() - last_ok > self.ttl_s:
                        if not self.idle():
                            self.lost = f"not renewed for {self.ttl_s:.0f}s ({exc})"
                            return
                        self.overdue = True  # nothing writes: keep trying, confirm before writing again

        self._thread = threading.Thread(target=loop, name="lakebench-lease", daemon=True)
        self._thread.start()
        return self

    def stop_renewing(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)


__all__ = ["Clock", "DEFAULT_TTL_S", "Fence", "Lease", "LeaseInfo", "SYSTEM_CLOCK", "partitions_overlap"]
