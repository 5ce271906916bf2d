#!/usr/bin/env python
"""Client CPU per GB uploaded: boto3 defaults vs lakebench's S3Store writer, in the same run.

    python scripts/bench_s3.py                 # starts SeaweedFS on 127.0.0.1, uploads 1 GiB per mode
    python scripts/bench_s3.py --gb 4 --repeat 3 --modes boto3,sink,sink-signed,source
    python scripts/bench_s3.py --endpoint http://minio:9000 --bucket scratch   # credentials: boto3 chain

Each mode runs in its own child process (so peak RSS is that mode's own) and uploads the same
incompressible bytes, produced the same way: fresh ``bytes`` copied from a random 64 MiB block, as
``ParquetWriter`` hands fresh ``bytes`` to the stream, split into ``--files`` objects (a generator
actor writes many files of a few hundred MiB). One small upload before the measurement opens the
connections and loads credentials. ``--repeat`` runs the modes in turn that many times and reports
medians: the local server shares the machine's cores with the client, so single runs are noisy.
Modes:

* ``boto3``: ``client.upload_fileobj`` with every default (client config and TransferConfig);
* ``boto3-tuned``: ``upload_fileobj`` tuned as far as boto3 allows: 16 MiB parts, 4 in flight,
  checksums only when required, payload signing off (botocore still signs every payload over
  plain HTTP: compare with ``sink-signed`` there, with ``sink`` over TLS);
* ``sink``: ``S3Store.open_writer`` with default ``S3Options`` (16 MiB parts, 4 in flight);
* ``sink-signed``: the same with ``sign_payload=True`` (SHA-256 of every byte, as over plain HTTP
  to a non-private host); ``sink-md5``: Content-MD5 instead of CRC32;
* ``source``: only producing the bytes (the floor both upload modes include);
* ``generate``: a generator actor's whole path, generating Customer360 files of ``gb / files``
  GiB and streaming them through the sink (for its peak RSS: ``--modes generate --gb 0.5 --files 1``).

CPU is ``time.process_time()`` of the child (all its threads, user + system); the server's CPU is
shown separately when this script started the server. Peak RSS is the child's ``VmHWM``
(interpreter, boto3 and the 64 MiB source block included; "before" is the RSS after the warm-up).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

MIB = 1 << 20
GB = 1 << 30
BLOCK = 64 * MIB
WRITE_SIZE = 1 * MIB  # like a Parquet data page handed to the stream


def _rss_mb(field: str = "VmRSS") -> float:
    """This process's resident memory; ``VmHWM`` is its peak (reset at exec, unlike ru_maxrss,
    which a child inherits from its parent)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _Source(io.RawIOBase):
    """``total`` bytes as fresh ``bytes`` copies out of one random block (not seekable)."""

    def __init__(self, block: bytes, total: int):
        super().__init__()
        self._view = memoryview(block)
        self._total = total
        self._pos = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        remaining = self._total - self._pos
        if remaining <= 0:
            return b""
        size = remaining if size is None or size < 0 else min(size, remaining)
        out = []
        got = 0
        while got < size:
            start = (self._pos + got) % len(self._view)
            take = min(size - got, len(self._view) - start)
            out.append(self._view[start : start + take])
            got += take
        self._pos += size
        return bytes(out[0]) if len(out) == 1 else b"".join(out)

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _child(args) -> dict:
    block = os.urandom(BLOCK)
    total = int(args.gb * GB)
    files = max(1, args.files)
    per_file = total // files
    prefix = f"bench/{args.mode}-{uuid.uuid4().hex[:8]}"
    if args.mode == "boto3":
        import boto3

        client = boto3.client("s3", endpoint_url=args.endpoint, region_name=args.region)

        def upload(key: str, size: int) -> None:
            client.upload_fileobj(_Source(block, size), args.bucket, key)

    elif args.mode == "boto3-tuned":
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        config = Config(request_checksum_calculation="when_required", response_checksum_validation="when_required",
                        s3={"payload_signing_enabled": False})
        client = boto3.client("s3", endpoint_url=args.endpoint, region_name=args.region, config=config)
        transfer = TransferConfig(multipart_threshold=args.part_size_mb * MIB, multipart_chunksize=args.part_size_mb * MIB,
                                  max_concurrency=args.concurrency)

        def upload(key: str, size: int) -> None:
            client.upload_fileobj(_Source(block, size), args.bucket, key, Config=transfer)

    elif args.mode.startswith("sink"):
        from lakebench_ray.sinks.s3 import S3Options, S3Store

        extra = {"sign_payload": True} if args.mode == "sink-signed" else {}
        if args.mode == "sink-md5":
            extra = {"checksum": "md5"}
        options = S3Options.from_env(
            endpoint_url=args.endpoint, region=args.region, part_size_mb=args.part_size_mb,
            max_concurrency=args.concurrency, **extra,
        )
        store = S3Store(f"s3://{args.bucket}", options)
        from lakebench_ray.sinks.digest import crc32

        crc32_impl = f"{crc32.__module__ or 'zlib'}.crc32"

        def upload(key: str, size: int) -> None:
            source = _Source(block, size)
            with store.open_writer(key) as writer:
                for _ in range(size // WRITE_SIZE + 2):
                    chunk = source.read(WRITE_SIZE)
                    if not chunk:
                        break
                    writer.stream.write(chunk)
                writer.commit()

    elif args.mode == "generate":
        # A generator actor's whole path: generate Customer360 files and stream them to S3.
        from lakebench_ray.config import load_config
        from lakebench_ray.core import build_loyalty_table
        from lakebench_ray.format import write_file
        from lakebench_ray.planning import make_plan
        from lakebench_ray.sinks.s3 import S3Options, S3Store

        options = S3Options.from_env(endpoint_url=args.endpoint, region=args.region, part_size_mb=args.part_size_mb,
                                     max_concurrency=args.concurrency)
        store = S3Store(f"s3://{args.bucket}", options)
        plans = {}

        def upload(key: str, size: int) -> None:
            if size not in plans:
                config = load_config(None, [f"file_size_mb={max(1, size // MIB)}", "num_files=1"])
                loyalty = build_loyalty_table(config.seed, config.customer_id_max, config.profile)
                plans[size] = (make_plan(config, loyalty).params, loyalty)
            params, loyalty = plans[size]
            with store.open_writer(key) as writer:
                write_file(params, loyalty, 0, writer.stream)
                writer.commit()

    elif args.mode == "source":

        def upload(key: str, size: int) -> None:
            source = _Source(block, size)
            for _ in range(size // WRITE_SIZE + 2):
                if not source.read(WRITE_SIZE):
                    break

    else:
        raise SystemExit(f"unknown mode {args.mode}")
    if args.mode.startswith("boto3"):
        crc32_impl = "botocore"
    elif not args.mode.startswith("sink"):
        crc32_impl = "-"
    upload(f"{prefix}/warmup.bin", 8 * MIB)  # connections, credentials, imports
    rss_before = _rss_mb()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for index in range(files):
        upload(f"{prefix}/file-{index}.bin", per_file)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "mode": args.mode,
        "crc32": crc32_impl,
        "prefix": prefix if args.mode != "source" else None,
        "bytes": per_file * files,
        "wall_s": wall,
        "cpu_s": cpu,
        "user_s": usage1.ru_utime - usage0.ru_utime,
        "sys_s": usage1.ru_stime - usage0.ru_stime,
        "minor_faults": usage1.ru_minflt - usage0.ru_minflt,
        "rss_before_mb": rss_before,
        "peak_rss_mb": _rss_mb("VmHWM"),
    }


def _proc_cpu_s(pid: int | None) -> float | None:
    if not pid:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _median(runs: list[dict]) -> dict:
    out = dict(runs[0])
    for name, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = statistics.median(r[name] for r in runs)
    return out


def _print_line(result: dict) -> None:
    gibs = result["bytes"] / GB
    print(
        f"{result['mode']:12s} [{result['crc32']}] {gibs:.2f} GiB  wall {result['wall_s']:6.2f} s ({gibs / result['wall_s']:.2f} GiB/s)  "
        f"client CPU {result['cpu_s'] / gibs:5.2f} s/GiB (user {result['user_s'] / gibs:.2f}, "
        f"sys {result['sys_s'] / gibs:.2f}, {result['minor_faults'] / gibs / 1000:.0f}k faults)  "
        f"peak RSS {result['peak_rss_mb']:.0f} MiB (before {result['rss_before_mb']:.0f})"
        + (f"  server CPU {result['server_cpu_s'] / gibs:.2f} s/GiB" if "server_cpu_s" in result else ""),
        flush=True,
    )


def _delete_prefix(client, bucket: str, prefix: str) -> None:
    for _ in range(1000):  # bounded: pages of up to 1000 keys
        objects = client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])
        if not objects:
            return
        client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in objects]})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", help="use this S3 endpoint (credentials from the boto3 chain)")
    parser.add_argument("--bucket", help="bucket to upload into (default: a new one)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--gb", type=float, default=1.0, help="GiB uploaded per mode (default 1)")
    parser.add_argument("--files", type=int, default=4, help="objects per mode (default 4)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of all modes; medians reported")
    parser.add_argument("--modes", default="boto3,boto3-tuned,sink")
    parser.add_argument("--part-size-mb", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the uploaded objects")
    parser.add_argument("--child", dest="mode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(_child(args)))
        return 0

    server = None
    env = dict(os.environ)
    tmp = None
    try:
        if args.endpoint is None:
            from tests.s3server import SeaweedFS

            tmp = tempfile.TemporaryDirectory(prefix="lakebench-bench-s3-")
            server = SeaweedFS(tmp.name)
            info = server.start()
            args.endpoint = info.endpoint
            env.update(info.env)
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
                env.pop(name, None)
            env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(tmp.name, "none")
            print(f"started SeaweedFS at {info.endpoint} (pid {info.pid})", flush=True)
        import boto3

        admin = boto3.session.Session(
            aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"), aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=env.get("AWS_SESSION_TOKEN"),
        ).client("s3", endpoint_url=args.endpoint, region_name=args.region)
        created = False
        if args.bucket is None:
            args.bucket = f"lakebench-bench-{uuid.uuid4().hex[:8]}"
            admin.create_bucket(Bucket=args.bucket)
            created = True

        modes = [m.strip() for m in args.modes.split(",") if m.strip()]
        results: dict[str, list[dict]] = {mode: [] for mode in modes}
        for _round in range(max(1, args.repeat)):
            for mode in modes:
                command = [
                    sys.executable, __file__, "--child", mode, "--endpoint", args.endpoint, "--bucket", args.bucket,
                    "--region", args.region, "--gb", str(args.gb), "--files", str(args.files),
                    "--part-size-mb", str(args.part_size_mb), "--concurrency", str(args.concurrency),
                ]
                server_cpu0 = _proc_cpu_s(server.info.pid if server else None)
                done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
                server_cpu1 = _proc_cpu_s(server.info.pid if server else None)
                if done.returncode != 0:
                    print(f"{mode}: failed\n{done.stderr[-3000:]}", file=sys.stderr)
                    return 1
                result = json.loads(done.stdout.strip().splitlines()[-1])
                if server_cpu0 is not None and server_cpu1 is not None:
                    result["server_cpu_s"] = server_cpu1 - server_cpu0
                results[mode].append(result)
                if result.get("prefix") and not args.keep:
                    _delete_prefix(admin, args.bucket, result["prefix"])
                _print_line(result)
        if args.repeat > 1:
            print(f"medians of {args.repeat} rounds:")
            for mode in modes:
                _print_line(_median(results[mode]))
        cpu_per_gib = {mode: _median(rs)["cpu_s"] / (rs[0]["bytes"] / GB) for mode, rs in results.items()}
        if "boto3" in cpu_per_gib and "sink" in cpu_per_gib:
            ratio = cpu_per_gib["sink"] / cpu_per_gib["boto3"]
            verdict = "meets" if ratio <= 0.5 else "MISSES"
            print(f"sink / boto3 defaults, client CPU per GiB: {ratio:.2f} ({verdict} the <= 0.5 target)")
        for ours in ("sink", "sink-signed"):
            if "boto3-tuned" in cpu_per_gib and ours in cpu_per_gib:
                print(f"{ours} / boto3 tuned, client CPU per GiB: {cpu_per_gib[ours] / cpu_per_gib['boto3-tuned']:.2f}")
        if "generate" in cpu_per_gib:
            print(f"whole actor path (generate + upload): {cpu_per_gib['generate']:.2f} client CPU s/GiB")
        if created and not args.keep:
            admin.delete_bucket(Bucket=args.bucket)
    finally:
        if server is not None:
            server.stop()
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
