"""Every wait is bounded, says its real timeout, and gives way to SIGINT/SIGTERM: joining Ray at
a port that is not Ray (a loopback server that accepts and never answers, an HTTP server, a
server that answers gRPC's handshake and nothing else), an S3 endpoint that never answers or is
no S3 server, and ``verify`` against one. Real sockets on loopback, real subprocesses, signals."""

from __future__ import annotations

import contextlib
import glob
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from lakebench_ray.errors import ConfigError, SinkError
from lakebench_ray.runtime import cluster

from .helpers import ROOT

#: An HTTP/2 SETTINGS frame, as a gRPC server answers a client's preface (and here nothing more).
H2_SETTINGS = bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
HTTP_404 = (b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 21\r\nConnection: close\r\n\r\n"
            b"<html>not found</html>")


@contextlib.contextmanager
def loopback_server(reply: bytes | None, close_after: bool = False):
    """A TCP server on a free loopback port: accepts, then answers each connection's first bytes
    with ``reply`` (None: never answers anything). Yields (port, accepted connections)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    done = threading.Event()

    def serve(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(reply)
            if close_after:
                conn.close()

    def loop() -> None:
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            accepted.append(conn)
            if reply is not None:
                threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        done.set()
        thread.join(5)
        for conn in accepted:
            with contextlib.suppress(OSError):
                conn.close()
        listener.close()


def test_a_port_that_accepts_and_never_answers_is_not_ray(monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 0.5)
    with loopback_server(None) as (port, _):
        with pytest.raises(ConfigError) as err:
            cluster.resolve_address(f"127.0.0.1:{port}")
    message = str(err.value)
    assert "\n" not in message and f"127.0.0.1:{port} is not a Ray head" in message
    assert "sends nothing within 0.5s" in message and "6379" in message


@pytest.mark.parametrize("how", ["ray.address", "recorded head"])
def test_an_http_port_posing_as_ray_is_refused_in_one_line(monkeypatch, tmp_path, how):
    """The dashboard's port without http://, any web server; also when it is the head that
    ``ray_current_cluster`` records."""
    with loopback_server(HTTP_404, close_after=True) as (port, _):
        if how == "recorded head":
            monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
            monkeypatch.delenv("RAY_ADDRESS")  # the tests' "local": here Ray's default, the recorded head
            (tmp_path / "ray").mkdir()
            (tmp_path / "ray" / "ray_current_cluster").write_text(f"127.0.0.1:{port}\n")
            address = None
        else:
            address = f"127.0.0.1:{port}"
        with pytest.raises(ConfigError, match=r"is not a Ray head: it answers HTTP \(HTTP/1.1 404 Not Found\)") as err:
            cluster.resolve_address(address)
    assert "\n" not in str(err.value)


def test_a_grpc_server_answers_the_handshake(monkeypatch):
    """What a GCS answers passes the check (the join itself is then bounded, see below)."""
    with loopback_server(H2_SETTINGS) as (port, _):
        assert cluster.resolve_address(f"127.0.0.1:{port}") == f"127.0.0.1:{port}"


def left_behind(tmp: str) -> list[str]:
    """What the run left in its temp directory (TMPDIR): nothing of its own, ever."""
    return glob.glob(os.path.join(tmp, "lakebench-ray-*"))


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_joining_a_ray_that_never_answers_gives_way_to_a_signal(tmp_path, signum):
    """Something answers gRPC's handshake and then nothing (Ray's join would block for minutes in
    C++): SIGINT/SIGTERM end the run within seconds, exit 130/143, one line, no log file left."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with loopback_server(H2_SETTINGS) as (port, accepted):
        env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_TMPDIR")}
        env["TMPDIR"] = str(tmp)
        proc = subprocess.Popen(
            [sys.executable, "-m", "lakebench_ray", "generate", f"output.uri={tmp_path / 'out'}", "num_files=1",
             f"ray.address=127.0.0.1:{port}"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while len(accepted) < 2 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)  # the handshake, then Ray's own connection: it is joining now
            assert len(accepted) >= 2, "the run never tried to join"
            time.sleep(0.5)
            sent = time.monotonic()
            proc.send_signal(signum)
            _, err = proc.communicate(timeout=20)  # "within seconds": minutes before
            waited = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    print(f"{signal.Signals(signum).name} answered in {waited:.1f}s")
    assert proc.returncode == 128 + signum, err
    last = err.strip().splitlines()[-1]
    assert last == f"lakebench-ray: error: stopped by {signal.Signals(signum).name} while joining Ray: nothing written"
    assert not left_behind(str(tmp)), "a temp file was left behind"
    assert not (tmp_path / "out").exists()


def s3_config(tmp_path, port: int, *extra: str):
    import lakebench_ray

    return lakebench_ray.load_config(None, [
        "output.uri=s3://bucket", f"s3.endpoint_url=http://127.0.0.1:{port}", "s3.region=us-east-1",
        "s3.read_timeout=1", "s3.connect_timeout=1", *extra])


@pytest.fixture
def fake_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_s3_preflight_against_a_silent_endpoint_says_the_real_timeout(tmp_path, fake_credentials):
    from lakebench_ray.sinks import open_store

    with loopback_server(None) as (port, _):
        store = open_store(**s3_config(tmp_path, port).store_spec())
        with pytest.raises(SinkError) as err:
            store.preflight()
    message = str(err.value)
    assert "\n" not in message and "did not answer within 1s (2 tries)" in message, message


def test_s3_preflight_against_a_web_server_says_it_is_no_s3(tmp_path, fake_credentials):
    from lakebench_ray.sinks import open_store

    with loopback_server(HTTP_404, close_after=True) as (port, _):
        store = open_store(**s3_config(tmp_path, port).store_spec())
        with pytest.raises(SinkError, match="answered HTTP 404 without an S3 error document while listing") as err:
            store.preflight()
    assert "does not exist" not in str(err.value)


@pytest.mark.slow
def test_preflight_against_a_silent_endpoint_gives_way_to_ctrl_c(tmp_path):
    with loopback_server(None) as (port, accepted):
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        proc = subprocess.Popen(
            [sys.executable, "-m", "lakebench_ray", "generate", "output.uri=s3://bucket",
             f"s3.endpoint_url=http://127.0.0.1:{port}", "num_files=1"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while not accepted and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert accepted, "the preflight never connected"
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)  # "within seconds": minutes before
            waited = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1].startswith("lakebench-ray: error: stopped by SIGINT while checking s3://bucket")


@pytest.mark.slow
def test_verify_against_a_silent_endpoint_ends_in_seconds(tmp_path, fake_credentials):
    from lakebench_ray.verify import verify

    with loopback_server(None) as (port, _):
        with pytest.raises(SinkError, match="cannot verify s3://bucket/customer/interactions: cannot connect") as err:
            verify(s3_config(tmp_path, port))
    assert "\n" not in str(err.value)


def test_the_outage_budget_is_not_overrun_by_the_probes_backoff():
    """outage_budget_s=10: probes at 1, 3, 7 s and then at 10 s, the end of the budget, where the
    run gives up (the backoff's next step, 15 s, is past it). On a fake clock."""
    from lakebench_ray.errors import StorageOutage
    from lakebench_ray.runtime.pause import OutageGate, OutagePause

    now = [0.0]
    probes = []

    def probe():
        probes.append(round(now[0], 1))
        return "connection refused"

    gate = OutageGate(is_outage=lambda exc: True, probe=probe, budget_s=10, clock=lambda: now[0])
    pause = OutagePause(gate, note=lambda _: None)
    assert pause.storage_away(OSError("away"))
    with pytest.raises(StorageOutage, match="did not answer for 10s"):  # one step (0.1 s) of this loop
        while now[0] < 60:
            now[0] += 0.1
            pause.wait_out(remaining=1)
    assert 10 <= probes[-1] < 10.2 and now[0] < 10.2, probes  # the backoff alone would probe at 15 s
