"""Where everything a run writes goes: the single home for names and locations.

The data prefix ``<uri>/<prefix>/`` holds only data files (``part-NNNNNN.parquet``), so a
recursive reader (``read_parquet('<prefix>/**')``, Spark, Trino) never meets anything else.
Everything that describes a run (checkpoint, report, lease, preflight probes) lives in the
*control* directory ``<uri>/_lakebench/<prefix>/``, outside the data prefix; a leading ``_`` or
``.`` also hides it from Spark and Trino if someone points them at ``<uri>`` itself.

Every key here is relative to the store's root (the output URI). Pure: no I/O, no third-party
imports, so stores, the runtime and ``verify`` all ask this module rather than spelling names.
"""

from __future__ import annotations

import re
import secrets

from .errors import ConfigError
from .core.plan import file_key, file_name, in_partition, parse_file_name

#: Output URI schemes: an S3 bucket (``s3://bucket[/path]``) or a local directory (a path, or
#: ``file://path``). Everything that needs to tell them apart asks :func:`is_s3`.
S3_SCHEME = "s3://"
FILE_SCHEME = "file://"


def is_s3(uri: str) -> bool:
    """Whether an output URI names an S3 bucket (else it is a local directory, ``file://`` or a
    plain path): the one rule for the scheme, so the store that is opened and the limits that
    are checked never disagree about where files go."""
    return str(uri).startswith(S3_SCHEME)


def bucket_uri(bucket: str) -> str:
    """``s3://bucket`` from a bucket name, or the URI itself when it already is one (Lakebench
    names buckets without the scheme)."""
    bucket = str(bucket).strip()
    return bucket if is_s3(bucket) else f"{S3_SCHEME}{bucket.strip('/')}"


def local_path(uri: str) -> str:
    """The directory a local output URI names (``file://`` dropped)."""
    uri = str(uri)
    return uri[len(FILE_SCHEME) :] if uri.startswith(FILE_SCHEME) else uri


#: The bucket names boto3 sends at all (its own parameter check): ``plan`` refuses what
#: ``generate`` would be refused, before anything else.
_BUCKET_NAME = re.compile(r"[a-zA-Z0-9.\-_]{1,255}")


def check_output_uri(uri: str) -> None:
    """Refuse an output URI no store can open, in one line naming ``output.uri``."""
    uri = str(uri)
    if not uri.strip():
        raise ConfigError("output.uri: must not be empty: give a directory or s3://bucket")
    if is_s3(uri) and not uri[len(S3_SCHEME) :].strip("/"):
        raise ConfigError(f"output.uri: '{uri}' names no bucket: write s3://BUCKET[/PATH]")
    if is_s3(uri):
        bucket = uri[len(S3_SCHEME) :].split("/", 1)[0]
        if not _BUCKET_NAME.fullmatch(bucket):
            raise ConfigError(f"output.uri: {bucket!r} is not a bucket name S3 clients accept (letters, digits, "
                              "'.', '-' and '_' only): check the bucket in output.uri")
    if "://" in uri and not uri.startswith((S3_SCHEME, FILE_SCHEME)):
        scheme = uri.split("://", 1)[0]
        raise ConfigError(f"output.uri: scheme '{scheme}://' is not supported: use a local directory or s3://BUCKET")


#: The control directory's top-level name, directly under the output URI.
CONTROL_ROOT = "_lakebench"
#: Marks a local temp file: ``.<final name>.tmp-<writer>`` beside its final name.
TEMP_MARK = ".tmp-"


def data_prefix(prefix: str) -> str:
    """The data prefix without slashes at the ends ('' means the root)."""
    return str(prefix).strip("/")


def control_dir(prefix: str) -> str:
    """``_lakebench/<prefix>``: checkpoint, report and lease of the dataset under ``prefix``."""
    prefix = data_prefix(prefix)
    return f"{CONTROL_ROOT}/{prefix}" if prefix else CONTROL_ROOT


def legacy_control_dir(prefix: str) -> str:
    """Where releases before the control directory kept checkpoint, report and lease: inside the
    data prefix (``<prefix>/_lakebench``). Never read; a run names what it finds there."""
    prefix = data_prefix(prefix)
    return f"{prefix}/{CONTROL_ROOT}" if prefix else CONTROL_ROOT


def _partitioned(stem: str, count: int, index: int) -> str:
    return f"{stem}.json" if count == 1 else f"{stem}-{index:04d}-of-{count:04d}.json"


def checkpoint_key(prefix: str, count: int = 1, index: int = 0) -> str:
    """The single-document checkpoint of earlier releases (still read, never written)."""
    return f"{control_dir(prefix)}/{_partitioned('checkpoint', count, index)}"


def checkpoint_dir(prefix: str, count: int = 1, index: int = 0) -> str:
    """A partition's checkpoint log: ``head.json`` and the segments of its generations."""
    return checkpoint_key(prefix, count, index)[: -len(".json")]


#: The checkpoint log's head (fingerprint, sizes, generation) inside :func:`checkpoint_dir`.
HEAD_NAME = "head.json"
#: Segment folders of a checkpoint log: ``g-<generation>/``.
GENERATION_MARK = "g-"
SEGMENT_SUFFIX = ".jsonl"


def checkpoint_head_key(folder: str) -> str:
    return f"{folder}/{HEAD_NAME}"


def generation_dir(folder: str, generation: str) -> str:
    """Where the segments of one generation of the checkpoint log at ``folder`` go."""
    return f"{folder}/{GENERATION_MARK}{generation}"


def segment_key(folder: str, generation: str, writer: str, first: int, last: int) -> str:
    """A segment written by ``writer`` holding its flushes ``first``..``last``: a writer's
    segments list in the order it wrote them, and writers (named by their start time) in the
    order they started."""
    return f"{generation_dir(folder, generation)}/{writer}-{first:09d}-{last:09d}{SEGMENT_SUFFIX}"


def report_key(prefix: str, count: int = 1, index: int = 0) -> str:
    """The report's summary document (small: counts, plan, configuration, failures)."""
    return f"{control_dir(prefix)}/{_partitioned('report', count, index)}"


def report_files_key(prefix: str, count: int = 1, index: int = 0) -> str:
    """The report's per-file details, one JSON line per file written, beside the summary."""
    return report_key(prefix, count, index)[: -len(".json")] + "-files.jsonl"


def lease_key(prefix: str, count: int = 1, index: int = 0) -> str:
    return f"{control_dir(prefix)}/{_partitioned('lease', count, index)}"


def is_lease_name(name: str) -> bool:
    """Any partition's lease file name (``lease.json``, ``lease-0001-of-0004.json``)."""
    return name == "lease.json" or (name.startswith("lease-") and name.endswith(".json"))


def probe_name() -> str:
    """A fresh, hidden file name for a preflight probe (written, read back and deleted at once)."""
    return f".probe-{secrets.token_hex(6)}"


def probe_key() -> str:
    """A fresh key for a preflight probe in the control directory."""
    return f"{CONTROL_ROOT}/{probe_name()}"


def temp_name(final_name: str, writer: str) -> str:
    """A local temp file's name: hidden (leading dot) and unique per writer."""
    return f".{final_name}{TEMP_MARK}{writer}"


def parse_temp_name(name: str) -> str | None:
    """The final name a temp file was written for, or None when ``name`` is no temp file."""
    if not name.startswith(".") or TEMP_MARK not in name:
        return None
    return name[1:].split(TEMP_MARK, 1)[0]


def is_hidden(relative: str) -> bool:
    """Metadata, not data: any path part starting with ``_`` or ``.`` (``_SUCCESS``, temp files)."""
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


__all__ = [
    "CONTROL_ROOT",
    "TEMP_MARK",
    "HEAD_NAME",
    "checkpoint_dir",
    "checkpoint_head_key",
    "checkpoint_key",
    "generation_dir",
    "segment_key",
    "report_files_key",
    "control_dir",
    "data_prefix",
    "file_key",
    "file_name",
    "in_partition",
    "is_hidden",
    "is_lease_name",
    "is_s3",
    "bucket_uri",
    "local_path",
    "check_output_uri",
    "lease_key",
    "parse_file_name",
    "parse_temp_name",
    "probe_key",
    "probe_name",
    "report_key",
    "temp_name",
]
