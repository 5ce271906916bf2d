"""The lease on a prefix (and partition): taken only if absent, refused while its holder lives,
taken over (with a note) once expired or its process is gone, lost when someone else takes it.
On a local directory and on the S3 test server (conditional PUT, If-Match)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from lakebench_ray.errors import LeaseHeld, LeaseLost, StorageUnavailable
from lakebench_ray.layout import lease_key
from lakebench_ray.control.lease import Clock, Lease, LeaseInfo, partitions_overlap
from lakebench_ray.control.checkpoint import CheckpointLog
from lakebench_ray.sinks import LocalStore

PREFIX = "customer/interactions"


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path)
    request.getfixturevalue("s3_env")
    bucket = request.getfixturevalue("s3_bucket")
    from lakebench_ray.sinks import open_store

    return open_store(f"s3://{bucket}")


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant(store, info: LeaseInfo, count: int = 1, index: int = 0) -> None:
    assert store.create_exclusive(lease_key(PREFIX, count, index), info.to_bytes()) is not None


def foreign(**kw) -> LeaseInfo:
    now = time.time()
    base = dict(holder="feedface0001", host="other-host", pid=4242, started_at="2026-01-01T00:00:00+00:00",
                renewed_at=now, expires_at=now + 60, prefix=PREFIX, partition="0/1")
    base.update(kw)
    return LeaseInfo(**base)


class FakeClock(Clock):
    """A host's clock ``offset`` seconds off the true time, whose sleeps pass at once (and call
    ``on_sleep``: what other hosts do meanwhile)."""

    def __init__(self, offset: float = 0.0, on_sleep=None):
        self.offset, self.elapsed, self.on_sleep = offset, 0.0, on_sleep

    def time(self) -> float:
        return time.time() + self.offset + self.elapsed

    def monotonic(self) -> float:
        return self.elapsed

    def sleep(self, seconds: float) -> None:
        self.elapsed += seconds
        if self.on_sleep is not None:
            self.on_sleep()

    def wait(self, event, seconds: float) -> bool:
        self.sleep(seconds)
        return event.is_set()


def test_conditional_writes(store):
    key = "_lakebench/x/lease.json"
    tag = store.create_exclusive(key, b"one")
    assert tag and store.create_exclusive(key, b"two") is None
    assert store.read_tagged(key) == (b"one", tag)
    assert store.replace_if(key, b"three", "not-the-tag") is None
    new = store.replace_if(key, b"three", tag)
    assert new and new != tag and store.read_tagged(key)[0] == b"three"
    assert store.delete_if(key, tag) is False and store.get_bytes(key) == b"three"
    assert store.delete_if(key, new) is True and store.get_bytes(key) is None
    assert store.replace_if(key, b"four", new) is None and store.get_bytes(key) is None


def test_second_holder_refused_naming_the_first(store):
    first = Lease(store, PREFIX).acquire()
    with pytest.raises(LeaseHeld, match=f"run {first.holder} on host .* \\(pid {first.pid}") as err:
        Lease(store, PREFIX).acquire(wait_s=0)
    assert "\n" not in str(err.value)
    first.release()
    assert store.get_bytes(first.key) is None
    Lease(store, PREFIX).acquire().release()


def test_overlapping_partitions_conflict(store):
    assert partitions_overlap((0, 1), (3, 4)) and not partitions_overlap((0, 2), (1, 2))
    assert partitions_overlap((1, 2), (3, 4)) and not partitions_overlap((0, 2), (3, 4))
    half = Lease(store, PREFIX, 2, 0).acquire()
    other = Lease(store, PREFIX, 2, 1).acquire()  # disjoint ids: both may run
    with pytest.raises(LeaseHeld, match=half.holder):
        Lease(store, PREFIX, 1, 0).acquire(wait_s=0)
    with pytest.raises(LeaseHeld, match=other.holder):
        Lease(store, PREFIX, 4, 3).acquire(wait_s=0)
    assert store.get_bytes(lease_key(PREFIX, 1, 0)) is None and store.get_bytes(lease_key(PREFIX, 4, 3)) is None
    half.release()
    other.release()


def test_live_foreign_lease_is_refused(store):
    plant(store, foreign())
    with pytest.raises(LeaseHeld, match="feedface0001 on host other-host \\(pid 4242"):
        Lease(store, PREFIX).acquire(wait_s=0)


def test_a_lease_nobody_renews_is_waited_out_and_taken_over(store):
    """A retry on a new pod: the dead pod's lease (another host, so no pid to check) still looks
    live; the new run watches it, sees no renewal, and takes it over once the holder's ttl has
    passed (on the taker's clock: a fake one here, so no real second is spent or raced)."""
    plant(store, foreign(expires_at=time.time() + 30))
    notes = []
    clock = FakeClock()
    lease = Lease(store, PREFIX, ttl_s=60, clock=clock).acquire(note=notes.append)
    assert 28 <= clock.elapsed <= 31, "taken over before the lease expired, or waited past it"
    assert "waiting up to" in notes[0] and "took over the lease" in notes[-1]
    lease.release()


def test_a_holder_whose_clock_is_behind_is_not_taken_over_while_it_renews(store):
    """Expiry by the store's clock: the holder's clock is 120 s behind (its expires_at looks 90 s
    past to everyone else), yet it renews, so a second run is refused instead of taking over."""
    holder = Lease(store, PREFIX, ttl_s=30, clock=FakeClock(offset=-120)).acquire()
    assert LeaseInfo.parse(store.get_bytes(holder.key)).expires_at < time.time()
    taker_clock = FakeClock(on_sleep=lambda: taker_clock.elapsed >= 7.5 and holder.renew())
    with pytest.raises(LeaseHeld, match=holder.holder):
        Lease(store, PREFIX, ttl_s=30, clock=taker_clock).acquire(note=lambda _: None)
    assert LeaseInfo.parse(store.get_bytes(holder.key)).holder == holder.holder
    holder.release()


def test_a_run_whose_lease_was_taken_over_never_records_or_reports(store):
    """The holder (clock 120 s behind, ttl 30) stalls past its ttl; a second run takes over. When
    the holder goes on, its next checkpoint save and its report are refused in one line naming
    the new holder, and nothing it would have saved is written."""
    holder = Lease(store, PREFIX, ttl_s=30, clock=FakeClock(offset=-120)).acquire()
    second = Lease(store, PREFIX, ttl_s=30, clock=FakeClock()).acquire(note=lambda _: None)
    checkpoint = CheckpointLog(store, "_lakebench/customer/interactions/checkpoint", "g", fence=holder.confirm)
    checkpoint.hold(0, {"size": 1, "crc32": "00000000", "tag": "t"})
    with pytest.raises(LeaseLost, match=f"taken over by run {second.holder} on host") as err:
        checkpoint.flush()
    assert "\n" not in str(err.value)
    assert checkpoint.saved == 0 and not store.list("_lakebench/customer/interactions/checkpoint")
    with pytest.raises(LeaseLost, match=second.holder):
        holder.confirm()
    assert holder.renew() is False
    # The checkpoint actor's fence (another process of the holder's run) refuses alike.
    with pytest.raises(LeaseLost, match=second.holder):
        holder.fence.confirm(store)
    holder.release()  # never deletes the new holder's lease
    assert LeaseInfo.parse(store.get_bytes(second.key)).holder == second.holder
    second.release()


def test_confirming_renews_and_any_process_of_the_run_may_do_it(store):
    """The checkpoint actor renews through the fence (its own store, its own clock): the driver's
    renewals and release go on as before, with the holder's host and pid kept."""
    lease = Lease(store, PREFIX, ttl_s=30).acquire()
    before = LeaseInfo.parse(store.get_bytes(lease.key))
    lease.fence.confirm(store, FakeClock(offset=5))
    after = LeaseInfo.parse(store.get_bytes(lease.key))
    assert after.renewed_at > before.renewed_at and (after.host, after.pid) == (before.host, before.pid)
    assert lease.renew() and lease.lost is None
    lease.fence.confirm(store)
    lease.release()  # its tag is stale after the fence's renewal: still deleted, as it is this run's
    assert store.get_bytes(lease.key) is None


def test_a_dead_holder_whose_clock_was_ahead_does_not_block_the_prefix(store):
    """A holder an hour ahead wrote an expiry an hour away by everyone else's clock; it died.
    The store's clock shows no renewal for its ttl: the lease is taken over, not waited on for an
    hour; and a refusal names the lease file to delete."""
    now = time.time() + 3600
    plant(store, foreign(renewed_at=now, expires_at=now + 30))
    with pytest.raises(LeaseHeld, match="delete .*lease.json"):
        Lease(store, PREFIX).acquire(wait_s=0)
    notes = []
    lease = Lease(store, PREFIX, clock=FakeClock()).acquire(note=notes.append)
    assert "took over the lease" in notes[-1] and "feedface0001" in notes[-1]
    lease.release()


@pytest.mark.parametrize("doc", [
    {"expires_at": "soon"}, {"pid": "4242"}, {"pid": True}, {"renewed_at": float("inf")},
    {"holder": 7}, {"pid": 10**30}, {"expires_at": -1},
], ids=lambda d: ",".join(f"{k}={v!r}" for k, v in d.items()))
def test_a_lease_file_with_wrong_value_types_is_unreadable_not_a_traceback(tmp_path, doc):
    store = LocalStore(tmp_path)
    raw = json.loads(foreign().to_bytes())
    raw.update(doc)
    text = json.dumps(raw).replace("Infinity", "1e999")
    assert LeaseInfo.parse(text.encode()) is None
    assert LeaseInfo.parse(b"[1, 2]") is None and LeaseInfo.parse(b"\xff") is None
    store.put_bytes(lease_key(PREFIX), text.encode())
    notes = []
    lease = Lease(store, PREFIX).acquire(note=notes.append)
    assert "the previous lease was unreadable" in notes[-1]
    lease.release()


@pytest.mark.parametrize("case", ["expired", "process gone"])
def test_stale_lease_is_taken_over_with_a_note(store, case):
    import socket

    if case == "expired":
        plant(store, foreign(renewed_at=time.time() - 120, expires_at=time.time() - 60))
    else:
        from lakebench_ray.control.lease import _pid_namespace

        plant(store, foreign(host=socket.gethostname(), pid=dead_pid(), pid_namespace=_pid_namespace()))
    notes = []
    # Written just now by the store's clock: the expired one is watched for its holder's ttl first.
    lease = Lease(store, PREFIX, clock=FakeClock()).acquire(note=notes.append)
    assert len(notes) == (2 if case == "expired" else 1)
    assert "took over the lease" in notes[-1] and "feedface0001" in notes[-1]
    assert lease.previous is not None and lease.previous.holder == "feedface0001"
    assert json.loads(store.get_bytes(lease.key))["holder"] == lease.holder
    lease.release()


def test_renewal_extends_and_notices_a_takeover(store):
    lease = Lease(store, PREFIX, ttl_s=30).acquire()
    before = json.loads(store.get_bytes(lease.key))["expires_at"]
    time.sleep(0.01)
    assert lease.renew() and json.loads(store.get_bytes(lease.key))["expires_at"] > before
    # Someone else takes it over (as a run would after expiry).
    data, tag = store.read_tagged(lease.key)
    assert store.replace_if(lease.key, foreign().to_bytes(), tag)
    assert lease.renew() is False and "feedface0001" in lease.lost
    lease.release()  # never deletes someone else's lease
    assert json.loads(store.get_bytes(lease.key))["holder"] == "feedface0001"


def test_renewing_thread_keeps_it_alive(tmp_path):
    store = LocalStore(tmp_path)
    lease = Lease(store, PREFIX, ttl_s=0.4).acquire().start_renewing()
    try:
        time.sleep(1.0)  # longer than the ttl: only renewals keep it live
        info = LeaseInfo.parse(store.get_bytes(lease.key))
        assert info.live(time.time()) and lease.lost is None
        # Watched, renewed by its holder meanwhile: refused (without waiting for expiry).
        with pytest.raises(LeaseHeld, match=lease.holder):
            Lease(store, PREFIX, ttl_s=0.4).acquire()
    finally:
        lease.release()
    assert store.get_bytes(lease.key) is None


def test_a_dead_pid_of_another_pid_namespace_is_not_taken_for_gone(store):
    """Containers sharing the host's name (host network) do not share pids: only the expiry counts."""
    import socket

    plant(store, foreign(host=socket.gethostname(), pid=dead_pid(), pid_namespace="another-namespace"))
    with pytest.raises(LeaseHeld, match="feedface0001"):
        Lease(store, PREFIX).acquire(wait_s=0)


class Unreachable(LocalStore):
    """A local store that stops answering while ``down`` (as during a storage outage)."""

    down = False

    def read_tagged(self, key):
        if self.down:
            raise StorageUnavailable("the storage does not answer")
        return super().read_tagged(key)

    def replace_if(self, key, data, tag):
        if self.down:
            raise StorageUnavailable("the storage does not answer")
        return super().replace_if(key, data, tag)


@pytest.mark.parametrize("paused", [True, False])
def test_an_outage_past_the_ttl_loses_the_lease_only_of_a_run_that_writes(tmp_path, paused):
    """A run paused for an outage writes nothing: its lease stays claimed past the ttl (overdue)
    and a compare-and-swap renews it once the storage answers. A run still writing loses it."""
    store = Unreachable(tmp_path)
    clock = FakeClock()
    lease = Lease(store, PREFIX, ttl_s=30, clock=clock).acquire()
    lease.idle = lambda: paused
    seen, finished = [], threading.Event()

    def on_sleep():
        store.down = 10 <= clock.elapsed < 100  # a 90 s outage
        seen.append((clock.elapsed, lease.overdue, lease.lost))
        if clock.elapsed >= 130 or lease.lost:
            finished.set()

    clock.on_sleep = on_sleep
    lease.start_renewing()
    for _ in range(3000):  # bounded: the fake clock's 130 s pass in a moment
        if finished.is_set() or lease.lost:
            break
        time.sleep(0.01)
    lease.stop_renewing()
    if paused:
        assert lease.lost is None and not lease.overdue
        assert any(overdue for _, overdue, _ in seen), "never past the ttl"
        assert LeaseInfo.parse(store.get_bytes(lease.key)).holder == lease.holder
    else:
        assert lease.lost.startswith("not renewed for 30s"), lease.lost
    lease.release()
