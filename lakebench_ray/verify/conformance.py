"""Conformance: the spec's rules, checked by streaming files batch by batch.

Memory is bounded whatever the dataset size: one batch of the small columns (or of the payload,
read on its own, one row group at a time) plus fixed-size accumulators: a uint8 tier code per
customer id (255 = unseen), event counts for the first 2**20 customer ids, histograms.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..core import SCHEMA, GenParams, profiles
from ..core import vocab as V
from ..sinks import Store
from .completeness import READ_ERRORS, FileCheck, first_line
from .rules import RuleSet

#: Rows per batch of the small columns, and of the payload column (bounded: 2 KB payloads make
#: 4096 hex characters, so a payload batch is ~16 MB).
BATCH_ROWS = 32_768
PAYLOAD_BATCH_ROWS = 4_096
READ_BUFFER = 1 << 20
#: Customer ids whose event counts are kept for the rank-frequency plot (8 MB).
COUNTED_CUSTOMERS = 1 << 20
UNSEEN = 255
ZETA_1_5 = 2.612375348685488

CATEGORICAL = (
    "interaction_type", "product_category", "currency", "channel", "device_type", "browser", "city_raw",
    "state_raw", "issue_category", "utm_source", "utm_medium", "loyalty_tier", "data_source", "data_quality_flag",
)
#: Every column but the payload (read separately) and the user agent (no rule of the spec).
COLUMNS = tuple(n for n in SCHEMA.names if n not in ("interaction_payload", "raw_user_agent"))
#: Columns of the null-pattern heatmap.
NULL_COLUMNS = (
    "product_id", "product_category", "cart_value", "items_in_cart", "click_count", "support_ticket_id",
    "issue_category", "satisfaction_score", "campaign_id", "utm_source", "utm_medium", "device_type", "browser",
    "loyalty_tier",
)
ITYPES = V.values(V.INTERACTION_TYPES)
_IT = {name: i for i, name in enumerate(ITYPES)}
DIRTY_FIELDS = ("email_raw", "phone_raw", "city_raw", "state_raw")

#: Log-spaced bins of the transaction-amount histogram (1.00 .. 9,999.99).
AMOUNT_BINS = np.logspace(0, 4, 81)

_UUID4 = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"^{_OCTET}(\.{_OCTET}){{3}}$"
_HEX_CHUNK = 1 << 20


class _HexCheck:
    """Whether a byte buffer is all lowercase hex, at memory speed: 1 MiB chunks (cache
    resident) through preallocated scratch, two range tests per byte (digits, a-f)."""

    def __init__(self) -> None:
        self._diff = np.empty(_HEX_CHUNK, dtype=np.uint8)
        self._digit = np.empty(_HEX_CHUNK, dtype=bool)
        self._letter = np.empty(_HEX_CHUNK, dtype=bool)

    def __call__(self, chars: np.ndarray) -> bool:
        for start in range(0, len(chars), _HEX_CHUNK):
            x = chars[start : start + _HEX_CHUNK]
            n = len(x)
            diff, digit, letter = self._diff[:n], self._digit[:n], self._letter[:n]
            np.subtract(x, np.uint8(48), out=diff)  # wraps: only '0'..'9' land below 10
            np.less(diff, np.uint8(10), out=digit)
            np.subtract(x, np.uint8(97), out=diff)  # only 'a'..'f' land below 6
            np.less(diff, np.uint8(6), out=letter)
            digit |= letter
            if not digit.all():
                return False
        return True

TIERS = V.values(V.LOYALTY_TIERS)
EMAIL_MODES = V.EMAIL_CORRUPTIONS
PHONE_MODES = V.PHONE_CORRUPTIONS


def zipf_folded_share(k: int, customer_id_max: int, alpha: float = V.ZIPF_ALPHA) -> float:
    """P(customer_id == k) when ids are Zipf(alpha) draws modulo customer_id_max + 1."""
    if not 0 <= k <= customer_id_max:
        return 0.0
    m = customer_id_max + 1
    zeta = ZETA_1_5 if alpha == 1.5 else float(np.sum(np.arange(1, 2_000_000, dtype=np.float64) ** -alpha))
    terms = 200_000
    j = k + m * np.arange(terms, dtype=np.float64)
    if k == 0:
        j = j[1:]
    total = float(np.sum(j**-alpha))
    # Tail beyond the summed terms: integral of (k + t m)^-alpha dt from terms - 0.5.
    total += (k + (terms - 0.5) * m) ** (1 - alpha) / ((alpha - 1) * m)
    return total / zeta


def _codes(arr: pa.Array, index: dict) -> np.ndarray:
    """Vocabulary codes of a string column: >= 0 a known value, -1 null, -2 an unknown value."""
    if not pa.types.is_dictionary(arr.type):
        arr = pc.dictionary_encode(arr)
    values = arr.dictionary.to_pylist()
    lut = np.array([index.get(v, -2) for v in values] + [-1], dtype=np.int16)
    idx = pc.fill_null(arr.indices, len(values)).to_numpy(zero_copy_only=False)
    return lut[idx]


def _nulls(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.zeros(len(arr), dtype=bool)
    return arr.is_null().to_numpy(zero_copy_only=False)


def _values(arr: pa.Array, fill) -> np.ndarray:
    if arr.null_count:
        arr = pc.fill_null(arr, fill)
    return arr.to_numpy(zero_copy_only=False)


def _match(arr: pa.Array, pattern: str) -> np.ndarray:
    """Regex match per row; null rows do not match."""
    return _values(pc.match_substring_regex(arr, pattern), False)


def _contains(arr: pa.Array, needle: str, ignore_case: bool = False) -> np.ndarray:
    return _values(pc.match_substring(arr, needle, ignore_case=ignore_case), False)


def _index(values) -> dict:
    return {v: i for i, v in enumerate(values)}


class _Facts:
    """The profile's vocabularies and rules in the form the checks use (the profile a dataset was
    made with is recorded in every footer and is part of its fingerprint)."""

    def __init__(self, profile: str):
        P = self.profile = profiles.get(profile)
        self.distributions = (
            ("interaction_type", V.INTERACTION_TYPES),
            ("currency", P.CURRENCIES),
            ("channel", P.CHANNELS),
            ("data_source", V.DATA_SOURCES),
            ("data_quality_flag", V.QUALITY_FLAGS),
        )
        self.index = {
            "interaction_type": _index(ITYPES),
            "product_category": _index(V.PRODUCT_CATEGORIES),
            "currency": _index(V.values(P.CURRENCIES)),
            "channel": _index(V.values(P.CHANNELS)),
            "device_type": _index(V.DEVICE_TYPES),
            "browser": _index(V.BROWSERS),
            "issue_category": _index(V.values(P.ISSUE_CATEGORIES)),
            "utm_source": _index(P.UTM_SOURCES),
            "utm_medium": _index(P.UTM_MEDIUMS),
            "loyalty_tier": _index(TIERS),
            "data_source": _index(V.values(V.DATA_SOURCES)),
            "data_quality_flag": _index(V.values(V.QUALITY_FLAGS)),
            # city: clean names first, then the misspellings
            "city_raw": _index(P.CITY_CLEAN + P.CITY_DIRTY),
        }
        self.clean_cities = len(P.CITY_CLEAN)
        self.utm_valid = np.zeros((len(P.UTM_SOURCES), len(P.UTM_MEDIUMS)), dtype=bool)
        for (source, medium), _w in P.UTM_PAIRS:
            self.utm_valid[P.UTM_SOURCES.index(source), P.UTM_MEDIUMS.index(medium)] = True
        self.offline = np.array([c in V.OFFLINE_CHANNELS for c in V.values(P.CHANNELS)])
        domains = "|".join(re.escape(d) for d in P.EMAIL_DOMAINS)
        self.clean_email = rf"^user[0-9]+(\.DUPLICATE)?@({domains})$"
        self.points_rate = np.array([0.0] + [P.POINTS_PER_DOLLAR[t] for t in TIERS])


class Conformance:
    """Accumulates every rule over the files it is given, batch by batch."""

    def __init__(self, params: GenParams):
        self.params = params
        self.facts = _Facts(params.profile)
        self.rows = 0
        self.files: list[str] = []
        self.data_bytes = 0  # compressed bytes of the files checked
        self.tiers = np.full(params.customer_id_max + 1, UNSEEN, dtype=np.uint8)
        self.customer_counts = np.zeros(min(params.customer_id_max + 1, COUNTED_CUSTOMERS), dtype=np.int64)
        self.customers_beyond = 0
        self.dist_counts = {col: np.zeros(len(vocab), dtype=np.int64) for col, vocab in self.facts.distributions}
        self.null_counts = np.zeros((len(NULL_COLUMNS), len(ITYPES)), dtype=np.int64)
        self.itype_rows = np.zeros(len(ITYPES), dtype=np.int64)
        self.dirty_counts = dict.fromkeys(DIRTY_FIELDS, 0)
        self.amount_hist = np.zeros(len(AMOUNT_BINS) - 1, dtype=np.int64)
        self.purchases = 0
        self.rules = RuleSet()
        self._last_ts: dict[str, int] = {}  # last event time seen per file (sortedness across batches)
        self._hex = _HexCheck()
        self._declare()

    # -- rules ---------------------------------------------------------------------------------
    def _declare(self) -> None:
        p = self.params
        P = self.facts.profile
        r = self.rules
        r.exact("ids_contiguous", "id = file_id*rows_per_file + row, row_id = id")
        if p.timestamp_order == "by_file":
            r.exact("timestamp_in_range", f"event_timestamp in the file's slice of [{p.timestamp_start}, "
                    f"{p.timestamp_end}) ({p.timestamp_slices} slices in file-id order)")
            r.exact("timestamp_sorted", "rows sorted by event_timestamp within each file")
        else:
            r.exact("timestamp_in_range", f"event_timestamp in [{p.timestamp_start}, {p.timestamp_end})")
        r.exact("uuid_v4", "event_id and session_id are UUID v4 strings")
        r.exact("customer_id_in_range", f"customer_id in [0, {p.customer_id_max}]")
        for col, _vocab in self.facts.distributions:
            r.exact(f"{col}_known", f"{col} is one of the spec's values (never null)")
        for col in ("product_id", "product_category", "cart_value", "items_in_cart", "click_count"):
            r.exact(f"login_support_null.{col}", f"{col} is null exactly for login and support events")
        for col in ("support_ticket_id", "issue_category", "satisfaction_score"):
            r.exact(f"support_only.{col}", f"{col} is non-null exactly for support events")
        r.exact("product_fields_valid", "product_id PRD + 5 digits, product_category in the vocabulary")
        r.exact("support_fields_valid", "ticket TKT + 5 digits, issue category known, satisfaction 1..5")
        r.exact("campaign_utm_together", "campaign_id, utm_source, utm_medium all null or all set")
        r.exact("campaign_fields_valid", "campaign_id CMP + 3 digits, (utm_source, utm_medium) a known pair")
        for col in ("device_type", "browser"):
            r.exact(f"offline_no_device.{col}", f"{col} is null exactly for store and call_center")
        r.exact("device_browser_known", "device_type and browser values from the vocabulary")
        r.exact("purchase_amount_range", "purchases: transaction_amount in [1.00, 9999.99], whole cents")
        r.exact("non_purchase_amount_zero", "other events: transaction_amount 0.0")
        r.exact("page_views_rule", "page_views >= 1 for browse/purchase, 0 otherwise")
        r.exact("time_on_site_rule", "time_on_site_seconds > 0 exactly when page_views > 0")
        r.exact("bounce_rule", "bounce_rate 1.0 exactly when page_views == 1, else 0.0")
        if P.CART_RULE == "purchase":  # a cart holds what was bought or left behind
            r.exact("cart_and_clicks",
                    "commerce rows: clicks >= 1, 0 <= items <= 20, items 0 iff cart 0, purchase cart = amount")
        else:
            r.exact("web_ranges", f"page_views in [{P.PAGE_VIEWS_RANGE[0]}, {P.PAGE_VIEWS_RANGE[1]}), "
                    f"time on site in [{P.TIME_ON_SITE_RANGE[0]}, {P.TIME_ON_SITE_RANGE[1]}) when viewed")
            r.exact("cart_and_clicks", f"commerce rows: clicks in [{P.CLICK_RANGE[0]}, {P.CLICK_RANGE[1]}), items "
                    f"in [{P.ITEMS_RANGE[0]}, {P.ITEMS_RANGE[1]}), cart in [0, {P.CART_MAX}]")
        r.exact("loyalty_tier_iff_member", "loyalty_tier set (bronze/silver/gold) exactly for members")
        r.exact("loyalty_consistent_per_customer", "a customer has the same membership and tier in every row checked")
        r.exact("points_earned_rule", "points_earned = floor(amount x points per dollar) for member purchases, else 0")
        r.exact("points_redeemed_rule", "points_redeemed 0 for non-members, 0 or 100..999 for members")
        if P.DIRTY_TOGETHER:
            r.exact("dirty_fields_together", "email, phone, city and state are dirty together or clean together")
        r.exact("dirty_values_known", "dirty cities are known misspellings, dirty states known spellings")
        r.exact("zip_code_format", "zip_code has 5 digits")
        r.exact("ip_address_format", "ip_address is a dotted IPv4 address")
        r.exact("session_fingerprint_hex64", "session_fingerprint is 64 lowercase hex characters")
        r.exact("payload_hex", f"interaction_payload is {2 * p.payload_bytes} lowercase hex characters")

        for col, vocab in self.facts.distributions:
            total = sum(w for _, w in vocab)
            for value, weight in vocab:
                r.share(f"share.{col}.{value}", weight / total, f"share of {col} = {value}")
        r.share("share.campaign", V.CAMPAIGN_SHARE, "share of events with a campaign")
        if P.DIRTY_TOGETHER:
            r.share("share.dirty", p.dirty_ratio, "share of dirty rows (dirty_ratio)")
        else:
            r.share("share.dirty.email_raw", p.dirty_ratio, "share of corrupted emails (dirty_ratio)")
            r.share("share.dirty.phone_raw", p.dirty_ratio, "share of corrupted phone numbers (dirty_ratio)")
            r.share("share.dirty.city_raw", p.dirty_ratio * P.CITY_DIRTY_SHARE,
                    "share of misspelt cities (dirty_ratio x share of cities with a misspelling)")
        r.share("share.duplicate_email", p.duplicate_email_pct, "share of emails with .DUPLICATE (duplicate_email_pct)")
        r.share("share.loyalty_members", V.LOYALTY_MEMBER_SHARE, "share of distinct customers who are members",
                unit="customers")
        for tier, weight in V.LOYALTY_TIERS:
            r.share(f"share.loyalty_tier.{tier}", weight, f"share of member customers with tier {tier}",
                    unit="member customers")
        r.share("share.points_redeemed", V.POINTS_REDEEMED_SHARE, "share of member rows redeeming points",
                unit="member rows")
        for k in (1, 2, 3):
            r.share(f"share.customer_{k}", zipf_folded_share(k, p.customer_id_max),
                    f"share of events by customer {k} (Zipf 1.5)")
        for q in range(4):
            r.share(f"share.timestamp_quarter_{q + 1}", 0.25, f"events in quarter {q + 1} of the file's time range")
        # Log of purchase amounts: normal(4.3, 1.2) before clipping and rounding (both negligible).
        r.mean("amount_log_mean", V.AMOUNT_MU, V.AMOUNT_SIGMA, 0.01, "mean of ln(purchase amount)")
        r.mean("amount_log_variance", V.AMOUNT_SIGMA**2, math.sqrt(2) * V.AMOUNT_SIGMA**2, 0.03,
               "variance of ln(purchase amount) around mu")
        # Presence: a correct dataset misses a mode with probability below 1e-8 at these sizes.
        r.presence("email_modes_present", EMAIL_MODES, "all six email corruptions among dirty rows", 120,
                   unit="dirty emails")
        r.presence("phone_modes_present", PHONE_MODES, "all four phone corruptions among dirty rows", 80,
                   unit="dirty phones")
        if P.STATE_VARIANT_STYLES:
            r.presence("state_variants_present", P.STATE_VARIANT_STYLES,
                       f"all {len(P.STATE_VARIANT_STYLES)} state spellings among dirty rows", 100, unit="dirty states")
        r.presence("misspelt_cities_present", ("misspelt city",), "dirty rows carry misspelt city names", 1,
                   unit="dirty rows")

    # -- streaming -----------------------------------------------------------------------------
    def check_file(self, store: Store, check: FileCheck) -> str | None:
        """Stream one file through the rules; returns a problem line if it cannot be read."""
        try:
            reader = store.open_reader(check.key)
        except READ_ERRORS as exc:
            return f"{check.name}: cannot be opened ({first_line(exc)})"
        try:
            # pre_buffer off and a read buffer: column chunks stream page by page (pre-buffering,
            # pyarrow's default, would hold a whole row group's payload chunk in memory).
            pf = pq.ParquetFile(reader, read_dictionary=list(CATEGORICAL), buffer_size=READ_BUFFER, pre_buffer=False)
            start = check.file_id * self.params.rows_per_file
            for rg in range(pf.metadata.num_row_groups):
                group_start = start
                for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[rg], columns=list(COLUMNS),
                                             use_threads=False):
                    self._batch(batch, check.name, start)
                    start += batch.num_rows
                    self.rows += batch.num_rows
                for batch in pf.iter_batches(batch_size=PAYLOAD_BATCH_ROWS, row_groups=[rg],
                                             columns=["interaction_payload"], use_threads=False):
                    self._payload(batch.column(0), check.name, group_start)
                    group_start += batch.num_rows
        except READ_ERRORS as exc:  # a corrupt page or a failed read is a finding, not a crash
            return f"{check.name}: unreadable data ({first_line(exc)})"
        finally:
            try:
                reader.close()
            except Exception:  # noqa: BLE001
                pass
        self.files.append(check.name)
        self.data_bytes += check.size or 0
        return None

    def check_rows(self, table: pa.Table, name: str) -> None:
        """Stream rows of any origin through the rules, e.g. what a Ray Data sink wrote, read back
        and sorted by ``id``: the ids say which file and row each one is."""
        rows = self.params.rows_per_file
        ids = table.column("id").to_numpy()
        # Cut where a file ends (or ids jump), so that every slice is one file's consecutive rows.
        cuts = np.flatnonzero((np.diff(ids) != 1) | (ids[1:] // rows != ids[:-1] // rows)) + 1
        for lo, hi in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(ids)]])):
            for start in range(int(lo), int(hi), BATCH_ROWS):
                part = table.slice(start, min(BATCH_ROWS, int(hi) - start))
                first_id = int(ids[start])
                small = pa.RecordBatch.from_arrays([part.column(c).combine_chunks() for c in COLUMNS], names=list(COLUMNS))
                self._batch(small, name, first_id)
                self._payload(part.column("interaction_payload").combine_chunks(), name, first_id)
                self.rows += part.num_rows
        self.files.append(name)

    def _payload(self, arr: pa.Array, name: str, first_id: int) -> None:
        n = len(arr)
        want = 2 * self.params.payload_bytes
        if arr.null_count or not pa.types.is_string(arr.type):
            bad = _nulls(arr) | ~_match(arr.cast(pa.string()), rf"^[0-9a-f]{{{want}}}$")
        else:
            offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
            bad = np.diff(offsets) != want
            data = arr.buffers()[2]
            if data is not None and offsets[-1] > offsets[0]:
                chars = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]]
                if not self._hex(chars):
                    bad |= ~_match(arr, r"^[0-9a-f]*$")
        self.rules.count("payload_hex", bad, n, lambda m: f"{name} id {first_id + int(np.argmax(m))}")

    def _batch(self, batch: pa.RecordBatch, name: str, first_id: int) -> None:
        r = self.rules
        n = batch.num_rows
        col = {f.name: batch.column(i) for i, f in enumerate(batch.schema)}
        ids = _values(col["id"], -1)

        def where(mask: np.ndarray) -> str:
            i = int(np.argmax(mask))
            return f"{name} id {ids[i]}"

        expected_ids = np.arange(first_id, first_id + n, dtype=np.int64)
        row_ids = _values(col["row_id"], -1)
        r.count("ids_contiguous", _nulls(col["id"]) | (ids != expected_ids) | (row_ids != ids), n, where)

        start_us, end_us = self.params.file_time_range_us(first_id // self.params.rows_per_file)
        ts_null = _nulls(col["event_timestamp"])
        ts = _values(col["event_timestamp"].cast(pa.int64()), start_us)
        r.count("timestamp_in_range", ts_null | (ts < start_us) | (ts >= end_us), n, where)
        if "timestamp_sorted" in r:
            previous = np.concatenate([[self._last_ts.get(name, ts[0] if n else 0)], ts[:-1]])
            r.count("timestamp_sorted", ts < previous, n, where)
            if n:
                self._last_ts[name] = int(ts[-1])
        quarter = np.clip(((ts - start_us) * 4) // max(1, end_us - start_us), 0, 3)
        for q, c in enumerate(np.bincount(quarter[~ts_null], minlength=4)):
            r.add_share(f"share.timestamp_quarter_{q + 1}", c, n)

        r.count("uuid_v4", ~(_match(col["event_id"], _UUID4) & _match(col["session_id"], _UUID4)), n, where)

        # -- customers (Zipf) -------------------------------------------------------------------
        cid_null = _nulls(col["customer_id"])
        cid = _values(col["customer_id"], -1)
        cmax = self.params.customer_id_max
        in_range = ~cid_null & (cid >= 0) & (cid <= cmax)
        r.count("customer_id_in_range", ~in_range, n, where)
        for k in (1, 2, 3):
            r.add_share(f"share.customer_{k}", np.count_nonzero(cid == k), n)
        counted = cid[in_range]
        low = counted[counted < len(self.customer_counts)]
        self.customer_counts += np.bincount(low, minlength=len(self.customer_counts))
        self.customers_beyond += len(counted) - len(low)

        # -- categorical distributions ---------------------------------------------------------
        codes = {}
        facts = self.facts
        P = facts.profile
        index = facts.index
        for column, vocab in facts.distributions:
            c = _codes(col[column], index[column])
            codes[column] = c
            r.count(f"{column}_known", c < 0, n, where)
            counts = np.bincount(c[c >= 0], minlength=len(vocab))
            self.dist_counts[column] += counts
            for (value, _w), hits in zip(vocab, counts):
                r.add_share(f"share.{column}.{value}", hits, n)

        it = codes["interaction_type"]
        login, support = it == _IT["login"], it == _IT["support"]
        purchase, browse = it == _IT["purchase"], it == _IT["browse"]
        non_commerce = login | support
        commerce = ~non_commerce
        viewing = browse | purchase

        # -- conditional nulls -----------------------------------------------------------------
        nulls = {c: _nulls(col[c]) for c in NULL_COLUMNS}
        cart_nan = np.isnan(_values(col["cart_value"], 0.0))
        nulls["cart_value"] = nulls["cart_value"] | cart_nan
        known_it = it >= 0
        self.itype_rows += np.bincount(it[known_it], minlength=len(ITYPES))
        for i, c in enumerate(NULL_COLUMNS):
            self.null_counts[i] += np.bincount(it[known_it & nulls[c]], minlength=len(ITYPES))
        for c in ("product_id", "product_category", "cart_value", "items_in_cart", "click_count"):
            r.count(f"login_support_null.{c}", nulls[c] != non_commerce, n, where)
        for c in ("support_ticket_id", "issue_category", "satisfaction_score"):
            r.count(f"support_only.{c}", nulls[c] == support, n, where)

        category = _codes(col["product_category"], index["product_category"])
        product_ok = _match(col["product_id"], r"^PRD[0-9]{5}$") & (category >= 0)
        r.count("product_fields_valid", commerce & ~nulls["product_id"] & ~product_ok, n, where)
        issue = _codes(col["issue_category"], index["issue_category"])
        score = _values(col["satisfaction_score"], 0)
        support_ok = _match(col["support_ticket_id"], r"^TKT[0-9]{5}$") & (issue >= 0) & (score >= 1) & (score <= 5)
        r.count("support_fields_valid", support & ~support_ok, n, where)

        # -- marketing attribution -------------------------------------------------------------
        has_campaign = ~nulls["campaign_id"]
        r.count("campaign_utm_together",
                (nulls["utm_source"] == has_campaign) | (nulls["utm_medium"] == has_campaign), n, where)
        r.add_share("share.campaign", np.count_nonzero(has_campaign), n)
        src = _codes(col["utm_source"], index["utm_source"])
        med = _codes(col["utm_medium"], index["utm_medium"])
        pair_ok = (src >= 0) & (med >= 0)
        pair_ok[pair_ok] = facts.utm_valid[src[pair_ok], med[pair_ok]]
        campaign_ok = _match(col["campaign_id"], r"^CMP[0-9]{3}$") & pair_ok
        r.count("campaign_fields_valid", has_campaign & ~campaign_ok, n, where)

        # -- channel / device coherence --------------------------------------------------------
        channel = codes["channel"]
        offline = np.zeros(n, dtype=bool)
        offline[channel >= 0] = facts.offline[channel[channel >= 0]]
        r.count("offline_no_device.device_type", nulls["device_type"] != offline, n, where)
        r.count("offline_no_device.browser", nulls["browser"] != offline, n, where)
        device = _codes(col["device_type"], index["device_type"])
        browser = _codes(col["browser"], index["browser"])
        r.count("device_browser_known", (device == -2) | (browser == -2), n, where)

        # -- amounts ---------------------------------------------------------------------------
        amount_null = _nulls(col["transaction_amount"])
        amount = _values(col["transaction_amount"], np.nan)
        cents = np.abs(amount * 100 - np.rint(amount * 100)) < 1e-6
        paid_ok = (amount >= V.AMOUNT_MIN) & (amount <= V.AMOUNT_MAX) & cents
        r.count("purchase_amount_range", purchase & (amount_null | ~paid_ok), n, where)
        r.count("non_purchase_amount_zero", ~purchase & (amount_null | (amount != 0.0)), n, where)
        paid = amount[purchase & paid_ok]
        if len(paid):
            logs = np.log(paid)
            r.add_mean("amount_log_mean", float(logs.sum()), len(paid))
            r.add_mean("amount_log_variance", float(((logs - V.AMOUNT_MU) ** 2).sum()), len(paid))
            self.amount_hist += np.histogram(paid, bins=AMOUNT_BINS)[0]
            self.purchases += len(paid)

        # -- web activity and cart -------------------------------------------------------------
        views_null = _nulls(col["page_views"])
        views = _values(col["page_views"], -1)
        r.count("page_views_rule", views_null | np.where(viewing, views < 1, views != 0), n, where)
        seconds_null = _nulls(col["time_on_site_seconds"])
        seconds = _values(col["time_on_site_seconds"], -1)
        r.count("time_on_site_rule", seconds_null | views_null | ((seconds > 0) != (views > 0)) | (seconds < 0), n,
                where)
        bounce_null = _nulls(col["bounce_rate"])
        bounce = _values(col["bounce_rate"], -1.0)
        r.count("bounce_rule", bounce_null | (bounce != (views == 1).astype(np.float64)), n, where)
        clicks = _values(col["click_count"], 0)
        items = _values(col["items_in_cart"], -1)
        cart = _values(col["cart_value"], np.nan)
        if P.CART_RULE == "purchase":
            cart_ok = (clicks >= 1) & (items >= 0) & (items <= 20) & ((items == 0) == (cart == 0.0))
            cart_ok &= ~purchase | (cart == amount)
        else:
            lo, hi = P.PAGE_VIEWS_RANGE
            t_lo, t_hi = P.TIME_ON_SITE_RANGE
            web_ok = np.where(viewing, (views >= lo) & (views < hi) & (seconds >= t_lo) & (seconds < t_hi), True)
            r.count("web_ranges", ~web_ok, n, where)
            cart_ok = (clicks >= P.CLICK_RANGE[0]) & (clicks < P.CLICK_RANGE[1])
            cart_ok &= (items >= P.ITEMS_RANGE[0]) & (items < P.ITEMS_RANGE[1]) & (cart >= 0.0) & (cart <= P.CART_MAX)
        r.count("cart_and_clicks", commerce & ~cart_ok, n, where)

        # -- loyalty ---------------------------------------------------------------------------
        member_null = _nulls(col["loyalty_member"])
        member = _values(col["loyalty_member"], False).astype(bool)
        tier = _codes(col["loyalty_tier"], index["loyalty_tier"])  # 0..2, -1 null, -2 unknown
        r.count("loyalty_tier_iff_member", member_null | (tier == -2) | (member != (tier >= 0)), n, where)
        code = np.where(member & (tier >= 0), tier + 1, 0).astype(np.uint8)
        self._loyalty(cid, code, in_range, n, where)
        earned = _values(col["points_earned"], -1)
        rate = facts.points_rate
        member_purchase = member & purchase & (tier >= 0)
        with np.errstate(invalid="ignore"):
            due = np.where(member_purchase, np.floor(np.nan_to_num(amount) * rate[np.maximum(tier, -1) + 1]), 0)
        r.count("points_earned_rule", earned != due, n, where)
        redeemed = _values(col["points_redeemed"], -1)
        lo, hi = V.POINTS_REDEEMED_RANGE
        redeem_ok = np.where(member, (redeemed == 0) | ((redeemed >= lo) & (redeemed < hi)), redeemed == 0)
        r.count("points_redeemed_rule", ~redeem_ok, n, where)
        r.add_share("share.points_redeemed", np.count_nonzero(member & (redeemed > 0)), np.count_nonzero(member))

        # -- dirty data ------------------------------------------------------------------------
        email, phone = col["email_raw"], col["phone_raw"]
        clean_email = _match(email, facts.clean_email)
        clean_phone = _match(phone, P.PHONE_PATTERNS["clean"])
        city = _codes(col["city_raw"], index["city_raw"])
        clean_city = (city >= 0) & (city < facts.clean_cities)
        misspelt = city >= facts.clean_cities
        state = _codes(col["state_raw"], P.STATE_STYLES)  # 0 clean, > 0 a dirty spelling
        clean_state = state == 0
        dirty = ~clean_city
        r.count("dirty_values_known", (~clean_city & ~misspelt) | (state < 0), n, where)
        if P.DIRTY_TOGETHER:
            together = (clean_email == clean_city) & (clean_phone == clean_city) & (clean_state == clean_city)
            r.count("dirty_fields_together", ~together, n, where)
            r.add_share("share.dirty", np.count_nonzero(dirty), n)
        else:
            r.add_share("share.dirty.email_raw", np.count_nonzero(~clean_email), n)
            r.add_share("share.dirty.phone_raw", np.count_nonzero(~clean_phone), n)
            r.add_share("share.dirty.city_raw", np.count_nonzero(misspelt), n)
        for field, clean in zip(DIRTY_FIELDS, (clean_email, clean_phone, clean_city, clean_state)):
            self.dirty_counts[field] += int(np.count_nonzero(~clean))
        r.add_share("share.duplicate_email", np.count_nonzero(_contains(email, ".DUPLICATE", ignore_case=True)), n)
        self._corruption_modes(email, phone, clean_email, clean_phone, misspelt, dirty, state, n)

        # -- formats ---------------------------------------------------------------------------
        r.count("zip_code_format", ~_match(col["zip_code"], r"^[0-9]{5}$"), n, where)
        r.count("ip_address_format", ~_match(col["ip_address"], _IPV4), n, where)
        r.count("session_fingerprint_hex64", ~_match(col["session_fingerprint"], r"^[0-9a-f]{64}$"), n, where)

    def _loyalty(self, cid, code, in_range, n, where) -> None:
        """Same customer -> same tier code in every row checked (first seen is the reference)."""
        c = cid[in_range]
        k = code[in_range]
        # Customers new in this batch take the code of their first row here.
        uniq, first = np.unique(c, return_index=True)
        fresh = self.tiers[uniq] == UNSEEN
        self.tiers[uniq[fresh]] = k[first[fresh]]
        bad = np.zeros(n, dtype=bool)
        bad[in_range] = self.tiers[c] != k
        self.rules.count("loyalty_consistent_per_customer", bad, n, where)

    def _corruption_modes(self, email, phone, clean_email, clean_phone, misspelt, dirty, state, n) -> None:
        r = self.rules
        bad_email = pc.filter(email, pa.array(~clean_email))
        if len(bad_email):
            at = _contains(bad_email, "@")
            dot_at = _contains(bad_email, ".at.")
            upper = _values(pc.equal(bad_email, pc.utf8_upper(bad_email)), False)
            modes = {
                "missing_at": ~at & ~dot_at,
                "all_caps": upper & _contains(bad_email, "USER"),
                "whitespace": _values(pc.not_equal(bad_email, pc.utf8_trim_whitespace(bad_email)), False),
                "double_at": _contains(bad_email, "@@"),
                "missing_tld": _match(bad_email, r"^user[0-9]+(\.DUPLICATE)?@[a-z]+$"),
                "at_replaced": dot_at,
            }
            r.observe("email_modes_present", [m for m, hit in modes.items() if hit.any()], len(bad_email))
        bad_phone = pc.filter(phone, pa.array(~clean_phone))
        if len(bad_phone):
            modes = {m: _match(bad_phone, self.facts.profile.PHONE_PATTERNS[m]) for m in PHONE_MODES}
            modes["letter_o"] &= _contains(bad_phone, "O")
            r.observe("phone_modes_present", [m for m, hit in modes.items() if hit.any()], len(bad_phone))
        if "state_variants_present" in r:
            styles = np.unique(state[state > 0])
            r.observe("state_variants_present", [self.facts.profile.STATE_VARIANT_STYLES[s - 1] for s in styles],
                      np.count_nonzero(state > 0))
        r.observe("misspelt_cities_present", ["misspelt city"] if misspelt.any() else [], np.count_nonzero(dirty))

    # -- end of run ----------------------------------------------------------------------------
    def finish(self) -> None:
        """Per-customer shares, from the tier codes seen."""
        seen = self.tiers[self.tiers != UNSEEN]
        members = seen[seen > 0]
        self.rules.set_share("share.loyalty_members", len(members), len(seen))
        for i, (tier, _w) in enumerate(V.LOYALTY_TIERS):
            self.rules.set_share(f"share.loyalty_tier.{tier}", np.count_nonzero(members == i + 1), len(members))

    def stats(self) -> dict:
        """Bounded summaries for the JSON output and the HTML report."""
        customers_seen = int(np.count_nonzero(self.tiers != UNSEEN))
        return {
            "rows": self.rows,
            "files": list(self.files),
            "bytes": self.data_bytes,
            "customers_seen": customers_seen,
            "interaction_counts": dict(zip(ITYPES, self.dist_counts["interaction_type"].tolist())),
            "distribution_counts": {c: dict(zip(V.values(v), self.dist_counts[c].tolist()))
                                    for c, v in self.facts.distributions},
            "null_share_by_interaction": {
                c: {t: (float(self.null_counts[i, j] / self.itype_rows[j]) if self.itype_rows[j] else None)
                    for j, t in enumerate(ITYPES)}
                for i, c in enumerate(NULL_COLUMNS)
            },
            "dirty_share_by_field": {f: (c / self.rows if self.rows else None) for f, c in self.dirty_counts.items()},
            "purchases": self.purchases,
            "amount_histogram": {"edges": AMOUNT_BINS.tolist(), "counts": self.amount_hist.tolist()},
        }

    def rank_frequency(self) -> np.ndarray:
        """Event counts of the counted customers, most active first (zeros dropped)."""
        counts = np.sort(self.customer_counts)[::-1]
        return counts[counts > 0]
