"""S3Store against a real SeaweedFS server (and a fault-injecting proxy in front of it)."""

from __future__ import annotations

import dataclasses
import re

import io
import base64
import os
import zlib
import pickle
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakebench_ray.errors import ConfigError, SinkError
from lakebench_ray.sinks.s3 import store as s3store
from lakebench_ray.sinks.s3 import S3Options, S3Store, parse_s3_uri

MIB = 1 << 20
ROOT = "bronze/run1"


def make_store(bucket: str, endpoint: str, *, create_bucket: bool = False, **overrides) -> S3Store:
    options = dict(endpoint_url=endpoint, region="us-east-1", path_style=True, part_size_mb=5,
                   max_concurrency=2, max_attempts=4)
    options.update(overrides)
    return S3Store(f"s3://{bucket}/{ROOT}", S3Options(**options), create_bucket=create_bucket)


def open_uploads(client, bucket: str) -> list:
    return client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def object_keys(client, bucket: str) -> list[str]:
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


def write_in_varied_chunks(stream, data: bytes) -> None:
    """Small writes, a write bigger than a part, a mutable buffer changed after the write, views."""
    view = memoryview(data)
    pos = 0
    for _ in range(10):
        assert stream.write(data[pos : pos + 100]) == 100
        pos += 100
    assert stream.write(data[pos : pos + 7 * MIB]) == 7 * MIB  # spans a part boundary
    pos += 7 * MIB
    scratch = bytearray(data[pos : pos + 3 * MIB])
    assert stream.write(scratch) == len(scratch)
    scratch[:] = b"\0" * len(scratch)  # the writer must have copied mutable input
    pos += 3 * MIB
    assert stream.write(view[pos : pos + 123_457]) == 123_457
    pos += 123_457
    while pos < len(data):
        chunk = data[pos : pos + MIB]
        assert stream.write(chunk) == len(chunk)
        pos += len(chunk)
    assert stream.tell() == len(data)


# -- writer ------------------------------------------------------------------------------------------


def test_multipart_round_trip_is_byte_identical(s3_env, s3_bucket, s3_client):
    store = make_store(s3_bucket, s3_env.endpoint)
    data = os.urandom(11 * MIB + 12_345)
    with store.open_writer("data/part-0.bin") as writer:
        write_in_varied_chunks(writer.stream, data)
        assert writer.upload_id is not None
        assert writer.commit() == len(data)
    assert store.get_bytes("data/part-0.bin") == data
    head = s3_client.head_object(Bucket=s3_bucket, Key=f"{ROOT}/data/part-0.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # 2 parts of 5 MiB + the rest
    assert open_uploads(s3_client, s3_bucket) == []
    assert store.list("data") == {"data/part-0.bin": len(data)}
    # The receipt: the CRC32 of the whole object, combined from the parts' CRCs, is what the
    # server verified and keeps as the object's FULL_OBJECT checksum; the ETag is the tag a
    # listing reports.
    receipt = writer.receipt
    assert receipt.size == len(data) and receipt.crc32 == f"{zlib.crc32(data):08x}"
    head = s3_client.head_object(Bucket=s3_bucket, Key=f"{ROOT}/data/part-0.bin", ChecksumMode="ENABLED")
    assert head["ChecksumType"] == "FULL_OBJECT"
    assert base64.b64decode(head["ChecksumCRC32"]).hex() == receipt.crc32
    assert receipt.tag == head["ETag"] and store.stat_all("data")["data/part-0.bin"].tag == head["ETag"]


def test_small_object_is_a_single_put(s3_env, s3_bucket, s3_client, s3_fault_proxy):
    store = make_store(s3_bucket, s3_fault_proxy.endpoint)
    with store.open_writer("small.bin") as writer:
        for piece in (b"abc", bytearray(b"def"), memoryview(b"0123456789" * 100)):
            writer.stream.write(piece)
        assert writer.commit() == 1006
    assert writer.upload_id is None
    assert [e[0] for e in s3_fault_proxy.log] == ["PUT"]
    assert "?" not in s3_fault_proxy.log[0][1]
    assert store.get_bytes("small.bin") == b"abcdef" + b"0123456789" * 100
    head = s3_client.head_object(Bucket=s3_bucket, Key=f"{ROOT}/small.bin")
    assert "-" not in head["ETag"]
    body = b"abcdef" + b"0123456789" * 100
    assert writer.receipt.crc32 == f"{zlib.crc32(body):08x}" and writer.receipt.tag == head["ETag"]
    with store.open_writer("empty.bin") as writer:
        assert writer.commit() == 0
    assert store.get_bytes("empty.bin") == b""


def test_abort_leaves_no_object_and_no_upload(s3_env, s3_bucket, s3_client):
    store = make_store(s3_bucket, s3_env.endpoint)
    writer = store.open_writer("aborted.bin")
    writer.stream.write(os.urandom(12 * MIB))  # two parts sent, one pending
    assert writer.upload_id is not None
    writer.abort()
    writer.abort()  # idempotent
    assert store.get_bytes("aborted.bin") is None
    assert open_uploads(s3_client, s3_bucket) == []
    assert object_keys(s3_client, s3_bucket) == []
    with pytest.raises(SinkError, match="aborted"):
        writer.commit()
    with pytest.raises(ValueError):
        writer.stream.write(b"more")


def test_error_inside_with_block_aborts(s3_env, s3_bucket, s3_client):
    store = make_store(s3_bucket, s3_env.endpoint)
    with pytest.raises(RuntimeError, match="generator broke"):
        with store.open_writer("broken.bin") as writer:
            writer.stream.write(os.urandom(11 * MIB))
            raise RuntimeError("generator broke")
    assert open_uploads(s3_client, s3_bucket) == []
    assert object_keys(s3_client, s3_bucket) == []


def test_transient_faults_are_retried_to_identical_bytes(s3_env, s3_bucket, s3_client, s3_fault_proxy):
    proxy = s3_fault_proxy
    proxy.fail_part_uploads("503", times=2)
    proxy.fail_part_uploads("drop", times=1)
    proxy.fail_part_uploads("reset", times=1)
    proxy.fail_part_uploads("corrupt", times=1)  # server rejects the CRC32 -> sent again
    proxy.add_fault("503", method="POST", query_contains="uploadId=", times=1)  # CompleteMultipartUpload
    store = make_store(s3_bucket, proxy.endpoint, max_attempts=8)
    data = os.urandom(23 * MIB)
    with store.open_writer("faulty.bin") as writer:
        write_in_varied_chunks(writer.stream, data)
        writer.commit()
    assert dict(proxy.stats.faults) == {"503": 3, "drop": 1, "reset": 1, "corrupt": 1}
    assert [status for *_, status in proxy.requests_matching("PUT", "partNumber=")].count(400) == 1  # BadDigest
    got = s3_client.get_object(Bucket=s3_bucket, Key=f"{ROOT}/faulty.bin")["Body"].read()
    assert got == data
    assert open_uploads(s3_client, s3_bucket) == []


def test_permanent_failure_raises_sink_error_and_cleans_up(s3_env, s3_bucket, s3_client, s3_fault_proxy):
    s3_fault_proxy.fail_part_uploads("503", times=None)
    store = make_store(s3_bucket, s3_fault_proxy.endpoint, max_attempts=2)
    chunk = os.urandom(MIB)
    writes = 0
    with pytest.raises(SinkError) as failure:
        with store.open_writer("doomed.bin") as writer:
            for writes in range(1, 41):  # the error must surface on a write, long before 40 MiB
                writer.stream.write(chunk)
            writer.commit()
    assert writes < 40
    message = str(failure.value)
    assert "\n" not in message and "SlowDown" in message and "doomed.bin" in message
    assert s3_fault_proxy.stats.faults["503"] >= 2
    assert open_uploads(s3_client, s3_bucket) == []
    assert object_keys(s3_client, s3_bucket) == []


def test_write_blocks_while_max_concurrency_parts_are_in_flight(s3_env, s3_bucket, s3_client, s3_fault_proxy):
    s3_fault_proxy.fail_part_uploads("delay", times=None, delay_s=0.3)
    store = make_store(s3_bucket, s3_fault_proxy.endpoint, max_concurrency=2)
    data = os.urandom(20 * MIB + 1)  # 5 parts: 3 more than may be in flight
    with store.open_writer("bounded.bin") as writer:
        for pos in range(0, len(data), MIB):
            writer.stream.write(data[pos : pos + MIB])
            # held by the writer: the part being filled + at most max_concurrency parts in flight
            assert writer._pending <= 5 * MIB
        writer.commit()
    assert s3_fault_proxy.stats.max_concurrent_parts == 2
    assert store.get_bytes("bounded.bin") == data


@pytest.mark.parametrize("overrides", [{"sign_payload": True}, {"checksum": "md5"}], ids=["signed", "md5"])
def test_other_integrity_modes_round_trip(s3_env, s3_bucket, overrides):
    store = make_store(s3_bucket, s3_env.endpoint, **overrides)
    data = os.urandom(11 * MIB + 7)
    with store.open_writer("mode.bin") as writer:
        write_in_varied_chunks(writer.stream, data)
        writer.commit()
    assert store.get_bytes("mode.bin") == data
    assert writer.receipt.crc32 == f"{zlib.crc32(data):08x}"  # md5 mode: computed as bytes arrive
    store.put_bytes("small.bin", b"x" * 10)
    assert store.get_bytes("small.bin") == b"x" * 10


# -- parquet through the writer and the reader ----------------------------------------------------


def test_parquet_streams_into_writer_and_reads_back(s3_env, s3_bucket):
    store = make_store(s3_bucket, s3_env.endpoint)
    rng = np.random.default_rng(7)
    payload = pa.array([rng.bytes(1024).hex() for _ in range(6000)])
    table = pa.table({"id": pa.array(np.arange(6000, dtype=np.int64)), "payload": payload})
    with store.open_writer("t/file.parquet") as writer:
        with pq.ParquetWriter(writer.stream, table.schema, compression="snappy") as pw:
            for start in range(0, 6000, 1500):
                pw.write_table(table.slice(start, 1500))
        size = writer.commit()
    assert size > 10 * MIB  # multipart
    reader = store.open_reader("t/file.parquet")
    parquet = pq.ParquetFile(reader)
    assert parquet.metadata.num_row_groups == 4
    assert parquet.read().equals(table)
    # plain reader behaviour
    raw = store.get_bytes("t/file.parquet")
    assert reader.seekable() and reader.readable()
    reader.seek(-4, io.SEEK_END)
    assert reader.read() == b"PAR1" == raw[-4:]
    reader.seek(1000)
    assert reader.read(10) == raw[1000:1010]
    assert reader.tell() == 1010
    reader.seek(0)
    assert reader.read() == raw
    with pytest.raises(SinkError, match="does not exist"):
        store.open_reader("t/missing.parquet")


# -- small objects, listing, partials -------------------------------------------------------------


def test_put_get_list_delete(s3_env, s3_bucket, s3_client, monkeypatch):
    monkeypatch.setattr(s3store, "LIST_PAGE", 3)  # several pages
    store = make_store(s3_bucket, s3_env.endpoint)
    for i in range(7):
        store.put_bytes(f"a/{i}.bin", bytes([i]) * (i + 1))
    store.put_bytes("ab/other.bin", b"o")
    store.put_bytes("_lakebench/checkpoint.json", b'{"done": []}')
    s3_client.put_object(Bucket=s3_bucket, Key="outside-root.bin", Body=b"x")
    assert store.get_bytes("a/3.bin") == b"\x03" * 4
    assert store.get_bytes("a/missing.bin") is None
    assert store.list("a") == {f"a/{i}.bin": i + 1 for i in range(7)}
    assert store.list("a/") == store.list("a")
    everything = store.list("")
    assert set(everything) == {*(f"a/{i}.bin" for i in range(7)), "ab/other.bin", "_lakebench/checkpoint.json"}
    store.put_bytes("a/3.bin", b"new")  # overwrite
    assert store.get_bytes("a/3.bin") == b"new"
    store.delete("a/3.bin")
    store.delete("a/3.bin")  # missing: no error
    assert store.get_bytes("a/3.bin") is None
    assert store.describe("a/1.bin") == f"s3://{s3_bucket}/{ROOT}/a/1.bin"


def test_list_and_cleanup_partials(s3_env, s3_bucket, s3_client):
    store = make_store(s3_bucket, s3_env.endpoint)
    inside = s3_client.create_multipart_upload(Bucket=s3_bucket, Key=f"{ROOT}/data/part-3.parquet")
    s3_client.upload_part(Bucket=s3_bucket, Key=f"{ROOT}/data/part-3.parquet", UploadId=inside["UploadId"],
                          PartNumber=1, Body=b"x" * 100)
    s3_client.create_multipart_upload(Bucket=s3_bucket, Key=f"{ROOT}/other/part-9.parquet")
    assert store.list_partials("data") == ["data/part-3.parquet"]
    assert store.list("data") == {}  # an unfinished upload is not an object
    assert store.cleanup_partials("data") == 1
    assert store.list_partials("data") == []
    assert store.list_partials("") == ["other/part-9.parquet"]
    assert store.cleanup_partials("") == 1
    assert open_uploads(s3_client, s3_bucket) == []


def test_store_pickles_for_ray_actors(s3_env, s3_bucket):
    store = make_store(s3_bucket, s3_env.endpoint)
    store.put_bytes("p.bin", b"before")
    clone = pickle.loads(pickle.dumps(store))
    assert clone.get_bytes("p.bin") == b"before"
    assert clone.options == store.options and clone.uri == store.uri


def test_operations_map_errors_to_sink_error(s3_env):
    store = make_store("no-such-bucket-" + uuid.uuid4().hex[:8], s3_env.endpoint, max_attempts=1)
    with pytest.raises(SinkError, match="NoSuchBucket"):
        store.get_bytes("x")
    with pytest.raises(SinkError, match="NoSuchBucket"):
        store.list("")
    with pytest.raises(SinkError, match="NoSuchBucket") as failure:
        with store.open_writer("x") as writer:
            writer.stream.write(b"abc")
            writer.commit()
    assert isinstance(failure.value.__cause__, Exception)
    writer = store.open_writer("big")
    with pytest.raises(SinkError, match="cannot start the upload.*NoSuchBucket"):
        writer.stream.write(os.urandom(6 * MIB))  # a full part: CreateMultipartUpload fails
    writer.abort()  # already aborted: no-op


# -- preflight -----------------------------------------------------------------------------------------


def assert_one_line(error: SinkError, *, secrets: tuple[str, ...]) -> str:
    message = str(error)
    assert "\n" not in message
    for secret in secrets:
        assert secret not in message
    return message


def test_preflight_passes_and_leaves_nothing(s3_env, s3_bucket, s3_client):
    store = make_store(s3_bucket, s3_env.endpoint)
    store.preflight()
    assert object_keys(s3_client, s3_bucket) == []
    assert open_uploads(s3_client, s3_bucket) == []


def test_preflight_unreachable_endpoint(s3_env):
    store = make_store("some-bucket", "http://127.0.0.1:1")
    with pytest.raises(SinkError) as failure:
        store.preflight()
    message = assert_one_line(failure.value, secrets=(s3_env.secret_key,))
    assert message.startswith("cannot reach S3 endpoint http://127.0.0.1:1: ")
    assert message.endswith(": check s3.endpoint_url")
    assert "refused" in message.lower()


def test_preflight_missing_bucket(s3_env):
    name = "missing-" + uuid.uuid4().hex[:8]
    store = make_store(name, s3_env.endpoint)
    with pytest.raises(SinkError) as failure:
        store.preflight()
    message = assert_one_line(failure.value, secrets=(s3_env.secret_key,))
    assert message == (
        f"bucket '{name}' does not exist at {s3_env.endpoint}: create it or set output.create_bucket=true"
    )


def test_preflight_create_bucket(s3_env, s3_client):
    name = "created-" + uuid.uuid4().hex[:8]
    store = make_store(name, s3_env.endpoint, create_bucket=True)
    try:
        store.preflight()
        store.preflight()  # exists now: fine
        assert object_keys(s3_client, name) == []
        store.put_bytes("k", b"v")
        assert store.get_bytes("k") == b"v"
    finally:
        from .conftest_s3 import _empty_bucket

        _empty_bucket(s3_client, name)
        s3_client.delete_bucket(Bucket=name)


@pytest.mark.parametrize("which", ["wrong-secret", "unknown-key"])
def test_preflight_bad_credentials(s3_env, s3_bucket, monkeypatch, which):
    wrong = "not-the-secret-" + uuid.uuid4().hex
    if which == "wrong-secret":
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)
    else:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "LBNOBODY" + uuid.uuid4().hex[:8].upper())
    store = make_store(s3_bucket, s3_env.endpoint)
    with pytest.raises(SinkError) as failure:
        store.preflight()
    message = assert_one_line(failure.value, secrets=(s3_env.secret_key, wrong))
    assert "rejected the credentials" in message
    assert "check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY" in message


def test_preflight_no_credentials(s3_env, s3_bucket, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = make_store(s3_bucket, s3_env.endpoint)
    with pytest.raises(SinkError, match="no S3 credentials found") as failure:
        store.preflight()
    assert_one_line(failure.value, secrets=(s3_env.secret_key,))


def test_preflight_read_only_credentials(s3_env, s3_bucket, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_env.readonly_access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_env.readonly_secret_key)
    store = make_store(s3_bucket, s3_env.endpoint)
    with pytest.raises(SinkError) as failure:
        store.preflight()
    message = assert_one_line(failure.value, secrets=(s3_env.readonly_secret_key, s3_env.secret_key))
    assert message.startswith(f"no permission to write to s3://{s3_bucket}/{ROOT}")
    assert "s3:PutObject" in message


# -- options -----------------------------------------------------------------------------------------


def test_options_from_env_and_validation():
    env = {
        "S3_ENDPOINT": "http://minio.minio.svc:9000/",
        "AWS_REGION": "eu-west-1",
        "S3_PATH_STYLE": "true",
        "S3_VERIFY_SSL": "0",
        "S3_CA_CERT": "/etc/ca.pem",
    }
    options = S3Options.from_env(env, part_size_mb=16, region=None)
    assert options.endpoint_url == "http://minio.minio.svc:9000"
    assert options.region == "eu-west-1" and options.path_style is True and options.verify_ssl is False
    assert options.ca_cert == "/etc/ca.pem" and options.part_size_mb == 16 and options.part_size == 16 * MIB
    assert not options.payload_signed  # cluster-internal http endpoint: trusted
    assert S3Options.from_env({"AWS_ENDPOINT_URL": "http://10.0.0.5:9000"}).endpoint_url == "http://10.0.0.5:9000"
    defaults = S3Options.from_env({})
    assert defaults.endpoint_url is None and defaults.region == "us-east-1" and defaults.part_size_mb == 16
    assert defaults.addressing_style == "virtual" and not defaults.payload_signed
    assert S3Options(endpoint_url="http://127.0.0.1:9000").addressing_style == "path"
    assert S3Options(endpoint_url="http://storage.example.com").payload_signed
    assert not S3Options(endpoint_url="https://storage.example.com").payload_signed
    assert not S3Options(endpoint_url="http://storage.example.com", sign_payload=False).payload_signed
    with pytest.raises(ConfigError, match="part_size_mb.*>?5"):
        S3Options(part_size_mb=4)
    with pytest.raises(ConfigError, match="S3_PATH_STYLE"):
        S3Options.from_env({"S3_PATH_STYLE": "maybe"})
    with pytest.raises(ConfigError, match="max_concurrency"):
        S3Options(max_concurrency=0)
    with pytest.raises(ConfigError, match="not an http"):
        S3Options(endpoint_url="minio:9000")
    with pytest.raises(ConfigError, match="user name or password"):
        S3Options(endpoint_url="http://key:secret@minio:9000")
    with pytest.raises(ConfigError, match="unknown option"):
        S3Options.from_env({}, part_size=5)
    assert parse_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    with pytest.raises(ConfigError):
        parse_s3_uri("s3://Bad_Bucket/x")


def test_part_requests_are_cheap_to_send(s3_env, s3_bucket):
    """Guards the CPU savings: no payload hash, our CRC32 header, a chunk list body, no Expect."""
    store = make_store(s3_bucket, s3_env.endpoint)
    seen = []

    def capture(request, **_):
        seen.append((request.url, dict(request.headers), type(request.body).__name__))

    client = store.session.client()
    client.meta.events.register("before-send.s3.UploadPart", capture)
    data = os.urandom(6 * MIB)
    with store.open_writer("cheap.bin") as writer:
        for pos in range(0, len(data), MIB):
            writer.stream.write(data[pos : pos + MIB])
        writer.commit()
    assert len(seen) == 2
    for _url, headers, body_type in seen:
        assert headers["X-Amz-Content-SHA256"] in ("UNSIGNED-PAYLOAD", b"UNSIGNED-PAYLOAD")
        assert "x-amz-checksum-crc32" in {k.lower() for k in headers}
        assert "Expect" not in headers
    assert seen[0][2] == "GatherBody"
    assert store.get_bytes("cheap.bin") == data


def test_failure_inside_parquet_close_still_fails_commit(s3_env, s3_bucket, s3_client, s3_fault_proxy):
    s3_fault_proxy.add_fault("503", method="PUT", times=None)
    store = make_store(s3_bucket, s3_fault_proxy.endpoint, max_attempts=1)
    writer = store.open_writer("late.bin")
    writer.stream.write(os.urandom(6 * MIB))  # part 1 fails in the background
    writer._wait_inflight()
    with pytest.raises(SinkError, match="SlowDown"):
        writer.stream.write(b"x")  # surfaces here and aborts
    with pytest.raises(SinkError, match="SlowDown"):
        writer.commit()  # and again here, with the reason, if the caller swallowed it
    assert open_uploads(s3_client, s3_bucket) == []


@pytest.mark.unit
def test_mechanisms_follow_what_the_store_enforces_and_the_settings():
    """The choice made from the probe's findings (the findings themselves are measured on real
    servers in tests/test_stores.py): the strongest each store enforces, one warning clause per
    weaker mechanism, and a one-line refusal where a setting requires what is not enforced."""
    from lakebench_ray.sinks.s3.capabilities import Capabilities, choose

    everything = Capabilities(conditional_create=True, compare_and_swap=True, conditional_delete=True,
                              full_object_crc32=True, part_crc32=True, content_md5=True)
    nothing = Capabilities()
    md5_only = Capabilities(content_md5=True)
    chosen, weaker = choose(everything, "auto", "auto", "E")
    assert (chosen.lease, chosen.checksum, weaker) == ("conditional", "crc32", [])
    chosen, weaker = choose(dataclasses.replace(everything, full_object_crc32=False), "auto", "auto", "E")
    assert (chosen.lease, chosen.checksum, weaker) == ("conditional", "crc32-parts", [])
    chosen, weaker = choose(md5_only, "auto", "auto", "E")
    assert (chosen.lease, chosen.checksum, len(weaker)) == ("best-effort", "md5", 1) and "best-effort" in weaker[0]
    chosen, weaker = choose(nothing, "auto", "auto", "E")
    assert (chosen.lease, chosen.checksum, len(weaker)) == ("best-effort", "none", 2)
    chosen, weaker = choose(everything, "off", "md5", "E")
    assert (chosen.lease, chosen.checksum, chosen.conditional_delete) == ("best-effort", "md5", False)
    assert "s3.conditional_writes=off" in weaker[0]
    for settings, needle in ((("require", "auto"), "ignores conditional writes (If-None-Match and If-Match)"),
                             (("auto", "crc32"), "does not check full-object CRC32")):
        with pytest.raises(SinkError, match=re.escape(needle)) as err:
            choose(md5_only, *settings, "http://127.0.0.1:9")
        assert "\n" not in str(err.value)
