"""The 41-column Arrow schema of the Customer360 bronze table, in the spec's order."""

import pyarrow as pa

from ..errors import ConfigError

COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("id", pa.int64()),
    ("row_id", pa.int64()),
    ("event_timestamp", pa.timestamp("us")),
    ("event_id", pa.string()),
    ("session_id", pa.string()),
    ("customer_id", pa.int64()),
    ("email_raw", pa.string()),
    ("phone_raw", pa.string()),
    ("interaction_type", pa.string()),
    ("product_id", pa.string()),
    ("product_category", pa.string()),
    ("transaction_amount", pa.float64()),
    ("currency", pa.string()),
    ("channel", pa.string()),
    ("device_type", pa.string()),
    ("browser", pa.string()),
    ("ip_address", pa.string()),
    ("city_raw", pa.string()),
    ("state_raw", pa.string()),
    ("zip_code", pa.string()),
    ("page_views", pa.int32()),
    ("time_on_site_seconds", pa.int32()),
    ("bounce_rate", pa.float64()),
    ("click_count", pa.int32()),
    ("cart_value", pa.float64()),
    ("items_in_cart", pa.int32()),
    ("support_ticket_id", pa.string()),
    ("issue_category", pa.string()),
    ("satisfaction_score", pa.int32()),
    ("campaign_id", pa.string()),
    ("utm_source", pa.string()),
    ("utm_medium", pa.string()),
    ("loyalty_member", pa.bool_()),
    ("loyalty_tier", pa.string()),
    ("points_earned", pa.int32()),
    ("points_redeemed", pa.int32()),
    ("data_source", pa.string()),
    ("data_quality_flag", pa.string()),
    ("raw_user_agent", pa.string()),
    ("session_fingerprint", pa.string()),
    ("interaction_payload", pa.string()),
)

SCHEMA = pa.schema([pa.field(name, dtype) for name, dtype in COLUMNS])
COLUMN_NAMES = tuple(name for name, _ in COLUMNS)

#: Columns whose values are (nearly) unique per row in every profile: a dictionary page on them
#: costs space and time and helps no reader. (A profile may add its own: see
#: ``UNIQUE_STRINGS`` in :mod:`.profiles`.)
HIGH_CARDINALITY = (
    "event_id",
    "session_id",
    "ip_address",
    "session_fingerprint",
    "interaction_payload",
)
#: Columns drawn from a small vocabulary. They are built as Arrow dictionary arrays (no string
#: copies, and the Parquet writer reuses the dictionary instead of hashing every value) and are
#: stored as dictionary-encoded ``string`` columns.
CATEGORICAL = (
    "interaction_type",
    "product_category",
    "currency",
    "channel",
    "device_type",
    "browser",
    "city_raw",
    "state_raw",
    "issue_category",
    "utm_source",
    "utm_medium",
    "loyalty_tier",
    "data_source",
    "data_quality_flag",
    "raw_user_agent",
)


def dictionary_columns(unique_strings: tuple = ()) -> tuple[str, ...]:
    """String columns worth a dictionary page: all but the (nearly) unique ones."""
    return tuple(
        name
        for name, dtype in COLUMNS
        if pa.types.is_string(dtype)
        and (name in CATEGORICAL or (name not in HIGH_CARDINALITY and name not in unique_strings))
    )


#: The in-memory schema of a generated row group: :data:`SCHEMA` with the categorical columns as
#: ``dictionary<int32, string>``. Files written from it read back as exactly :data:`SCHEMA`.
BATCH_SCHEMA = pa.schema(
    [
        pa.field(name, pa.dictionary(pa.int32(), dtype) if name in CATEGORICAL else dtype)
        for name, dtype in COLUMNS
    ]
)


def column_set(columns) -> "frozenset[str] | None":
    """The names of a projection, checked: None (every column) or a non-empty set of columns of
    :data:`SCHEMA`. A wrong name is refused here, before anything is generated."""
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = (columns,)
    try:
        names = frozenset(columns)
    except TypeError:
        raise ConfigError(f"columns: expected a list of column names, got {columns!r}") from None
    if not names:
        raise ConfigError("columns: name at least one column (or None for all of them)")
    unknown = sorted(str(name) for name in names if name not in _NAME_SET)
    if unknown:
        raise ConfigError(
            f"columns: '{unknown[0]}' is not a column of the table: use names of lakebench_ray.core.COLUMN_NAMES "
            f"(e.g. {', '.join(COLUMN_NAMES[:4])})"
        )
    return names


def project(schema: pa.Schema, columns: "frozenset[str] | None") -> pa.Schema:
    """``schema`` with only ``columns`` (None: all), in the table's column order."""
    if columns is None:
        return schema
    return pa.schema([field for field in schema if field.name in columns])


_NAME_SET = frozenset(COLUMN_NAMES)
