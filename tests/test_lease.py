"""The lease on a prefix (and partition): taken only if absent, refused while its holder lives,
taken over (with a note) once expired or its process is gone, lost when someone else takes it.
On a local directory and on the S3 test server (conditional PUT, If-Match)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from lakebench_ray.errors import LeaseHeld
from lakebench_ray.layout import lease_key
from lakebench_ray.lease import Lease, LeaseInfo, partitions_overlap
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
    live; the new run watches it, sees no renewal, and takes it over when it expires."""
    expires_at = time.time() + 1.5
    plant(store, foreign(expires_at=expires_at))
    notes = []
    started = time.monotonic()
    lease = Lease(store, PREFIX, ttl_s=10).acquire(note=notes.append)
    assert time.time() >= expires_at, "taken over before the lease expired"
    assert time.monotonic() - started < 8
    assert "waiting up to" in notes[0] and "took over the lease" in notes[-1]
    lease.release()


@pytest.mark.parametrize("case", ["expired", "process gone"])
def test_stale_lease_is_taken_over_with_a_note(store, case):
    import socket

    if case == "expired":
        plant(store, foreign(renewed_at=time.time() - 120, expires_at=time.time() - 60))
    else:
        from lakebench_ray.lease import _pid_namespace

        plant(store, foreign(host=socket.gethostname(), pid=dead_pid(), pid_namespace=_pid_namespace()))
    notes = []
    lease = Lease(store, PREFIX).acquire(note=notes.append)
    assert len(notes) == 1 and "took over the lease" in notes[0] and "feedface0001" in notes[0]
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
