"""How to reach S3 and how to upload: :class:`S3Options`, where each value comes from, S3's limits.

Every bound on an S3 setting lives here, once: the config layer builds an :class:`S3Options` from
its ``s3`` section to check it, and the store uses the same class. Hence this module imports
neither boto3 nor botocore (the config layer must not), only plain Python.

Payload signing: SigV4 normally hashes every payload byte with SHA-256, which costs more client
CPU than anything else in an upload. That hash is skipped (``UNSIGNED-PAYLOAD``) where it is safe:
over TLS, and over plain HTTP only to loopback, private-network or cluster-internal hosts
(in-cluster MinIO/SeaweedFS); elsewhere the payload is signed as boto3 does.
``S3Options.sign_payload`` overrides the choice.

Credentials come only from boto3's standard chain (environment, profile, web identity, instance or
pod role); they are never stored in :class:`S3Options` nor written into a message.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, fields
from typing import Any, Mapping
from urllib.parse import urlsplit

from ...errors import ConfigError

MIB = 1 << 20
#: S3's limits for multipart uploads.
MIN_PART_MB = 5
MAX_PART_MB = 5 * 1024
MAX_PARTS = 10_000

#: ``s3.checksum``: ``auto`` asks the server to check the strongest checksum it checks (measured
#: at preflight); ``crc32`` requires full-object CRC32 (refused otherwise); ``md5`` always sends
#: Content-MD5.
CHECKSUMS = ("auto", "crc32", "md5")
#: ``s3.conditional_writes``: ``auto`` uses them when the server enforces them, else a best-effort
#: lease with a warning; ``require`` refuses a server that ignores them; ``off`` never relies on them.
CONDITIONAL_WRITES = ("auto", "require", "off")

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def _parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name}: expected true or false, got '{value}'")


#: Option -> environment variables that set it when no explicit value is given (first set wins).
_ENV_VARS = {
    "endpoint_url": ("S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    "region": ("S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "path_style": ("S3_PATH_STYLE",),
    "verify_ssl": ("S3_VERIFY_SSL",),
    "ca_cert": ("S3_CA_CERT", "AWS_CA_BUNDLE"),
    "sign_payload": ("S3_SIGN_PAYLOAD",),
    "checksum": ("S3_CHECKSUM",),
    "conditional_writes": ("S3_CONDITIONAL_WRITES",),
}
_BOOL_FIELDS = ("path_style", "verify_ssl", "sign_payload")
@dataclass(frozen=True)
class S3Options:
    """How to reach S3 and how to upload. Plain values only (picklable, shippable to actors).

    ``path_style=None`` picks path-style addressing when ``endpoint_url`` is set (MinIO, SeaweedFS,
    Ceph usually have no wildcard DNS) and virtual-hosted style for AWS. ``max_attempts`` counts
    every attempt of a request, the first included (like ``AWS_MAX_ATTEMPTS``).
    ``sign_payload=None`` signs the payload only over plain HTTP to a non-private host.
    """

    endpoint_url: str | None = None
    region: str = "us-east-1"
    path_style: bool | None = None
    verify_ssl: bool = True
    ca_cert: str | None = None
    part_size_mb: int = 16
    max_concurrency: int = 4
    max_attempts: int = 8
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    retry_mode: str = "standard"
    checksum: str = "auto"
    sign_payload: bool | None = None
    conditional_writes: str = "auto"

    def __post_init__(self) -> None:
        if self.endpoint_url is not None:
            url = str(self.endpoint_url).strip().rstrip("/")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(
                    f"s3.endpoint_url: '{self.endpoint_url}' is not an http(s) URL: "
                    "write e.g. http://minio:9000 or https://s3.example.com"
                )
            if parts.username or parts.password:
                raise ConfigError(
                    "s3.endpoint_url: must not contain a user name or password: "
                    "give credentials through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile"
                )
            object.__setattr__(self, "endpoint_url", url or None)
        if not self.region:
            object.__setattr__(self, "region", "us-east-1")
        if isinstance(self.part_size_mb, bool) or not isinstance(self.part_size_mb, int) or not (
            MIN_PART_MB <= self.part_size_mb <= MAX_PART_MB
        ):
            raise ConfigError(
                f"s3.part_size_mb: must be an integer from {MIN_PART_MB} (S3's minimum part size) "
                f"to {MAX_PART_MB}, got {self.part_size_mb!r}"
            )
        for name in ("max_concurrency", "max_attempts"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"s3.{name}: must be an integer >= 1, got {value!r}")
        for name in ("connect_timeout", "read_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"s3.{name}: must be a number of seconds > 0, got {value!r}")
        if self.retry_mode not in ("standard", "adaptive"):
            raise ConfigError(f"s3.retry_mode: must be 'standard' or 'adaptive', got {self.retry_mode!r}")
        if self.checksum not in CHECKSUMS:
            raise ConfigError(f"s3.checksum: must be one of {', '.join(CHECKSUMS)}, got {self.checksum!r}")
        if self.conditional_writes not in CONDITIONAL_WRITES:
            raise ConfigError(
                f"s3.conditional_writes: must be one of {', '.join(CONDITIONAL_WRITES)}, got {self.conditional_writes!r}"
            )
        for name in ("verify_ssl",):
            object.__setattr__(self, name, _parse_bool(f"s3.{name}", getattr(self, name)))
        for name in ("path_style", "sign_payload"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _parse_bool(f"s3.{name}", getattr(self, name)))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "S3Options":
        """Options from explicit values, else the environment, else the defaults.

        ``overrides`` are field names; ``None`` means "not given" (so a config section whose unset
        keys are ``None`` can be passed as is). Environment variables: ``S3_ENDPOINT`` or
        ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``S3_REGION`` / ``AWS_REGION`` / ``AWS_DEFAULT_REGION``,
        ``S3_PATH_STYLE``, ``S3_VERIFY_SSL``, ``S3_CA_CERT`` (or ``AWS_CA_BUNDLE``),
        ``S3_SIGN_PAYLOAD``, ``S3_CHECKSUM``, ``S3_CONDITIONAL_WRITES``.
        """
        env = os.environ if environ is None else environ
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"s3: unknown option(s) {', '.join(unknown)}: known are {', '.join(sorted(known))}")

        def first(*names: str) -> str | None:
            for name in names:
                value = env.get(name)
                if value is not None and value.strip() != "":
                    return value.strip()
            return None

        values: dict[str, Any] = {}
        for name, env_names in _ENV_VARS.items():
            value = first(*env_names)
            if value is not None:
                if name in _BOOL_FIELDS:
                    value = _parse_bool(env_names[0], value)
                values[name] = value
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    # -- derived -----------------------------------------------------------------------------
    @property
    def part_size(self) -> int:
        return self.part_size_mb * MIB

    @property
    def addressing_style(self) -> str:
        path_style = self.path_style if self.path_style is not None else self.endpoint_url is not None
        return "path" if path_style else "virtual"

    @property
    def payload_signed(self) -> bool:
        """Whether SigV4 hashes every payload byte (see the module docstring for when it does not)."""
        if self.sign_payload is not None:
            return self.sign_payload
        if self.endpoint_url is None:
            return False  # AWS: always https
        parts = urlsplit(self.endpoint_url)
        if parts.scheme == "https":
            return False
        return not _is_trusted_host(parts.hostname or "")

    def describe_endpoint(self) -> str:
        if self.endpoint_url:
            return self.endpoint_url
        return f"https://s3.{self.region}.amazonaws.com"


def _is_trusted_host(host: str) -> bool:
    """Loopback, private or link-local addresses, and cluster-internal names."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith((".localhost", ".svc", ".cluster.local", ".internal")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket[/root/path]`` -> ``(bucket, "root/path")`` (root without slashes at the ends)."""
    text = str(uri).strip()
    if not text.startswith("s3://"):
        raise ConfigError(f"output.uri: '{uri}' is not an S3 URI: write s3://BUCKET[/PATH]")
    bucket, _, root = text[len("s3://") :].partition("/")
    if not bucket:
        raise ConfigError(f"output.uri: '{uri}' names no bucket: write s3://BUCKET[/PATH]")
    if not (3 <= len(bucket) <= 63) or bucket != bucket.lower() or not all(
        c.isalnum() or c in "-._" for c in bucket
    ):
        raise ConfigError(
            f"output.uri: '{bucket}' is not a valid bucket name: use 3-63 lower-case letters, digits, '-' or '.'"
        )
    return bucket, root.strip("/")
