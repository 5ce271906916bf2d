"""The ``lakebench`` profile (the default): Lakebench's own generator (v1.4.0), value for value.

For the same seed, file id and rows per file, a file holds the values Lakebench's
``generate_file_data`` makes, in every column, with its timestamps as its pods make them (TZ=UTC).
Lakebench draws a file from one ``np.random.default_rng(seed + file_id)``, column after column, in
per-row Python loops; here the same draws are made on the same generator in the same order, in
bulk (:mod:`..numpy_draws`), so the values are equal and the work is not per row.

A file is made in two steps: its draws (everything but the payload) once per file, as small
numeric arrays (about 170 bytes a row); then row group after row group, the strings of those
rows and their payload, which is Lakebench's last draw and so continues the file's stream.

The differences, each a Lakebench defect that no figure depends on:

- ``cart_value`` is null, not NaN, on login and support rows (NaN is not a missing value to SQL).
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import functools
from typing import Iterable, Iterator, Optional

import numpy as np
import pyarrow as pa

from .. import arrays as A
from .. import vocab as V
from ..corruption import PhoneTemplates, emails
from ..numpy_draws import Draws
from ..params import GenParams
from ..plan import row_groups
from ..schema import BATCH_SCHEMA, column_set, project
from ..strings import hex_matrix, hex_of_uint32, fixed_width_strings, prefixed_digits, uuid4_from_bytes

NAME = "lakebench"

CURRENCIES = V.uniform(V.CURRENCIES)
CHANNELS = V.uniform(V.CHANNELS)
DEVICES = V.uniform(V.DEVICE_TYPES)
BROWSERS = V.uniform(V.BROWSERS)
ISSUE_CATEGORIES = V.uniform(("billing", "technical", "general_inquiry"))
SATISFACTION = V.uniform((1, 2, 3, 4, 5))
UTM_SOURCES = ("google", "facebook", "email", "direct")
UTM_MEDIUMS = ("cpc", "organic", "referral")
#: Source and medium are drawn independently: every pair occurs.
UTM_PAIRS = V.uniform(tuple((s, m) for s in UTM_SOURCES for m in UTM_MEDIUMS))
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com")
EMAIL_USER_RANGE = (1000, 999_999)  # [low, high)
POINTS_PER_DOLLAR = {"bronze": 10.0, "silver": 10.0, "gold": 10.0}

#: Lakebench's order of the interaction types (its ``choice`` draws an index into this order).
INTERACTION_ORDER = ("purchase", "browse", "support", "login", "abandoned_cart")

PRODUCT_RANGE = (10_000, 99_999)
ZIP_RANGE = (10_000, 99_999)
TICKET_RANGE = (10_000, 100_000)
CAMPAIGN_RANGE = (100, 1000)
PAGE_VIEWS_RANGE = (1, 21)
TIME_ON_SITE_RANGE = (30, 3630)
CLICK_RANGE = (1, 101)
ITEMS_RANGE = (0, 21)
CART_MAX = 9999.99
AREA_RANGE = EXCHANGE_RANGE = (200, 999)
LINE_RANGE = (1000, 9999)
#: IPv4 octets, each [low, high).
IP_OCTETS = ((1, 255), (0, 255), (0, 255), (1, 254))
USER_AGENT_VERSIONS = (90, 130)  # major version, [low, high)
USER_AGENT_OS = ("Windows NT 10.0", "macOS 14.0", "Linux", "iOS 17", "Android 14")

#: (city, state) pairs, drawn uniformly: the inconsistent spellings silver has to reconcile.
CITY_STATE = (
    ("New York", "NY"), ("NYC", "New York"), ("New York City", "NY"),
    ("Los Angeles", "CA"), ("LA", "California"), ("Los Angeles", "California"),
    ("Chicago", "IL"), ("Chicago", "Illinois"), ("Houston", "TX"), ("Houston", "Texas"),
    ("Phoenix", "AZ"), ("Phoenix", "Arizona"), ("Philadelphia", "PA"), ("Philly", "Pennsylvania"),
    ("San Antonio", "TX"), ("San Antonio", "Texas"), ("San Diego", "CA"), ("San Diego", "California"),
    ("Dallas", "TX"), ("Dallas", "Texas"), ("San Jose", "CA"), ("San Jose", "California"),
)
#: A dirty row's city: its misspelling, where the city has one (others stay as they are).
CITY_MISSPELLINGS = {
    "Chicago": "Chicgao", "New York": "Newyork", "New York City": "Newyork City", "NYC": "Nyc",
    "Phoenix": "Pheonix", "Los Angeles": "Los Angelas", "LA": "La", "Houston": "Huston",
    "Philadelphia": "Philidelphia", "Philly": "Phily",
}
#: A dirty row's state: one of four other spellings, equally likely.
STATE_VARIANTS = {
    "CA": ("california", "CALIFORNIA", "Calif.", "Ca"),
    "NY": ("new york", "NEW YORK", "N.Y.", "Ny"),
    "New York": ("new york", "NEW YORK", "ny", "N.Y."),
    "IL": ("illinois", "ILLINOIS", "Ill.", "Il"),
    "Illinois": ("IL", "il", "Ill.", "ILLINOIS"),
    "TX": ("texas", "TEXAS", "Tex.", "Tx"),
    "Texas": ("TX", "tx", "Tex.", "TEXAS"),
    "AZ": ("arizona", "ARIZONA", "Ariz.", "Az"),
    "Arizona": ("AZ", "az", "Ariz.", "ARIZONA"),
    "PA": ("pennsylvania", "PENNSYLVANIA", "Penn.", "Pa"),
    "Pennsylvania": ("PA", "pa", "Penn.", "PENNSYLVANIA"),
    "California": ("CA", "ca", "Calif.", "CALIFORNIA"),
}
assert all(state in STATE_VARIANTS for _, state in CITY_STATE)  # every dirty state draws a variant

#: Clean formats, then the four corruptions (digits only, +1 with dashes, truncated to area code
#: and exchange, letter O for the first 0 of the digits-only form: unchanged without a 0).
PHONE = PhoneTemplates(("+1AAAEEELLLL", "(AAA) EEE-LLLL", "AAAEEELLLL", "+1-AAA-EEE-LLLL", "AAAEEE", "AAAEEELLLL"))
PHONE_CLEAN_FORMATS = 2
PHONE_PATTERNS = {
    "clean": r"^(\+1[0-9]{10}|\([0-9]{3}\) [0-9]{3}-[0-9]{4})$",
    "digits_only": r"^[0-9]{10}$",
    "extra_dashes": r"^\+1-[0-9]{3}-[0-9]{3}-[0-9]{4}$",
    "truncated": r"^[0-9]{6}$",
    "letter_o": r"^[0-9O]{10}$",
}
#: String columns with (nearly) a distinct value per row: stored without a dictionary page.
UNIQUE_STRINGS = ("email_raw", "phone_raw", "product_id", "zip_code", "support_ticket_id")
#: Each field of a dirty row is corrupted on its own draw (a row may have a dirty email and a
#: clean phone), as in Lakebench's generator.
DIRTY_TOGETHER = False
#: Cart, clicks and items are drawn on their own, uniformly.
CART_RULE = "uniform"

_CAMPAIGN_SHARE = V.CAMPAIGN_SHARE
_REDEEM_SHARE = V.POINTS_REDEEMED_SHARE
_DUPLICATE_EMAIL = ".DUPLICATE"


def _span(r: tuple[int, int]) -> int:
    return r[1] - r[0]


# -- the draws of a file ---------------------------------------------------------------------------

#: The columns in the order of the draws their values need (a column needs every draw up to its
#: own): the stream is drawn no further than the last column asked for.
STAGES = (
    ("id", "row_id"),
    ("city_raw",),
    ("state_raw",),
    ("interaction_type",),
    ("transaction_amount",),
    ("page_views", "bounce_rate"),
    ("time_on_site_seconds",),
    ("support_ticket_id", "issue_category", "satisfaction_score"),
    ("campaign_id", "utm_source", "utm_medium"),
    ("customer_id", "loyalty_member", "loyalty_tier", "points_earned"),
    ("points_redeemed",),
    ("product_id",),
    ("product_category",),
    ("click_count",),
    ("cart_value",),
    ("items_in_cart",),
    ("channel",),
    ("device_type",),
    ("browser",),
    ("event_timestamp",),
    ("event_id",),
    ("session_id",),
    ("email_raw",),
    ("phone_raw",),
    ("currency",),
    ("ip_address",),
    ("zip_code",),
    ("data_source",),
    ("data_quality_flag",),
    ("raw_user_agent",),
    ("session_fingerprint",),
    ("interaction_payload",),
)
STAGE_OF = {name: k for k, names in enumerate(STAGES) for name in names}
assert sorted(STAGE_OF) == sorted(f.name for f in BATCH_SCHEMA)


@dataclasses.dataclass
class FileDraws:
    """What a file's draws decided, one entry per row (arrays), up to ``stages`` of :data:`STAGES`.
    ``draws`` is left where the next stage starts (the payload, when every stage was drawn)."""

    rows: int
    stages: int
    draws: Draws
    a: dict = dataclasses.field(default_factory=dict)


def _uniform_ints(d: Draws, n: int, span: int) -> np.ndarray:
    """``integers(0, span)`` called n times in a loop."""
    return d.program(np.zeros(n, dtype=bool), np.full(n, span, dtype=np.uint64))[0]


def _pattern(d: Draws, n: int, ops: tuple) -> tuple[np.ndarray, np.ndarray]:
    """n rows of a loop body that makes the same draws every row: ``ops`` holds a span per
    bounded integer and None per ``random()``. Returns (integers, doubles), each (n, len(ops))."""
    is_double = np.tile(np.array([op is None for op in ops]), n)
    span = np.tile(np.array([1 if op is None else op for op in ops], dtype=np.uint64), n)
    ints, dbls = d.program(is_double, span)
    return ints.reshape(n, len(ops)), dbls.reshape(n, len(ops))


def _seconds(value) -> float:
    """``datetime.fromisoformat(value).timestamp()`` as in a pod whose local time is UTC."""
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime(value.year, value.month, value.day)
    else:
        stamp = dt.datetime.fromisoformat(str(value).strip())
    if stamp.tzinfo is not None:
        return (stamp - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds()
    return calendar.timegm(stamp.timetuple()) + stamp.microsecond / 1e6


def _micros(seconds: np.ndarray) -> np.ndarray:
    """``datetime.fromtimestamp(t)`` (local time UTC) in microseconds: the fraction of a second
    rounded half to even to whole microseconds."""
    frac, whole = np.modf(seconds)
    us = np.rint(frac * 1e6)
    up, down = us >= 1e6, us < 0
    us = np.where(up, us - 1e6, np.where(down, us + 1e6, us))
    whole = np.where(up, whole + 1, np.where(down, whole - 1, whole))
    return whole.astype(np.int64) * 1_000_000 + us.astype(np.int64)


def draw_file(params: GenParams, loyalty: np.ndarray, file_id: int, rows: int,
              wanted: Optional[frozenset] = None) -> FileDraws:
    """Make file ``file_id``'s draws for ``rows`` rows, up to the last stage a column of ``wanted``
    (None: all) needs, except the payload's, which are made row group by row group. Every draw
    before that stage is made, wanted or not (later values depend on where the stream is), but
    the random bytes of unwanted UUIDs and fingerprints are skipped over, not made."""
    stages = len(STAGES) if wanted is None else 1 + max(STAGE_OF[name] for name in wanted)
    d = Draws(params.seed + file_id)
    g = d.gen
    out = FileDraws(rows=rows, stages=stages, draws=d)
    a = out.a
    last = min(stages, len(STAGES) - 1) - 1  # the payload is drawn later
    n_dirty = int(rows * params.dirty_ratio) if params.dirty_ratio > 0 else 0

    def step(k: int) -> bool:
        return k <= last

    if step(1):
        a["pair"] = pair = g.integers(0, len(CITY_STATE), size=rows)
        city_dirty = np.zeros(rows, dtype=bool)
        if n_dirty:
            city_dirty[g.choice(rows, size=n_dirty, replace=False)] = True
        a["city_dirty"] = city_dirty
    if step(2):
        variant = np.full(rows, -1, dtype=np.int64)
        if n_dirty:
            idx = g.choice(rows, size=n_dirty, replace=False)
            variant[idx] = _uniform_ints(d, n_dirty, 4)
        a["state_variant"] = variant
    if step(3):
        weights = dict(V.INTERACTION_TYPES)
        a["itype"] = itype = g.choice(len(INTERACTION_ORDER), size=rows, p=[weights[t] for t in INTERACTION_ORDER])
    if step(4):
        raw = np.round(np.clip(np.exp(g.normal(V.AMOUNT_MU, V.AMOUNT_SIGMA, size=rows)), V.AMOUNT_MIN, V.AMOUNT_MAX), 2)
        a["amount"] = np.where(itype == 0, raw, 0.0)
    viewing = None
    if step(5):
        viewing = itype <= 1  # purchase, browse
        views = np.zeros(rows, dtype=np.int32)
        views[viewing] = PAGE_VIEWS_RANGE[0] + _uniform_ints(d, int(viewing.sum()), _span(PAGE_VIEWS_RANGE))
        a["views"] = views
    if step(6):
        seconds = np.zeros(rows, dtype=np.int32)
        seconds[viewing] = TIME_ON_SITE_RANGE[0] + _uniform_ints(d, int(viewing.sum()), _span(TIME_ON_SITE_RANGE))
        a["seconds"] = seconds
    if step(7):
        support = itype == 2
        ints, _ = _pattern(d, int(support.sum()), (_span(TICKET_RANGE), len(ISSUE_CATEGORIES), len(SATISFACTION)))
        a["support"] = support
        a["ticket"], a["issue"], a["score"] = ints[:, 0] + TICKET_RANGE[0], ints[:, 1], ints[:, 2] + 1
    if step(8):
        hit, vals = d.conditional(rows, _CAMPAIGN_SHARE, (_span(CAMPAIGN_RANGE), len(UTM_SOURCES), len(UTM_MEDIUMS)))
        a["campaign"] = hit
        a["campaign_no"], a["utm_source"], a["utm_medium"] = vals[:, 0] + CAMPAIGN_RANGE[0], vals[:, 1], vals[:, 2]
    if step(9):
        a["customer"] = customer = (g.zipf(V.ZIPF_ALPHA, size=rows) % (params.customer_id_max + 1)).astype(np.int64)
        a["tier"] = tier = loyalty[customer]
    if step(10):
        members = np.flatnonzero(tier > 0)
        hit, vals = d.conditional(len(members), _REDEEM_SHARE, (_span(V.POINTS_REDEEMED_RANGE),))
        redeemed = np.zeros(rows, dtype=np.int32)
        redeemed[members[hit]] = vals[:, 0] + V.POINTS_REDEEMED_RANGE[0]
        a["redeemed"] = redeemed
    if step(11):
        a["product"] = PRODUCT_RANGE[0] + _uniform_ints(d, rows, _span(PRODUCT_RANGE))
    if step(12):
        a["category"] = g.integers(0, len(V.PRODUCT_CATEGORIES), size=rows)
    if step(13):
        a["clicks"] = g.integers(CLICK_RANGE[0], CLICK_RANGE[1], size=rows, dtype=np.int32)
    if step(14):
        a["cart"] = np.round(g.uniform(0, CART_MAX, size=rows), 2)
    if step(15):
        a["items"] = g.integers(ITEMS_RANGE[0], ITEMS_RANGE[1], size=rows, dtype=np.int32)
    if step(16):
        a["channel"] = g.integers(0, len(CHANNELS), size=rows)
    if step(17):
        a["device"] = g.integers(0, len(DEVICES), size=rows)
    if step(18):
        a["browser"] = g.integers(0, len(BROWSERS), size=rows)
    if step(19):
        if params.timestamp_order == "by_file":
            # Row i lies in the i-th of ``rows`` equal parts of the file's slice, at the place the
            # draw says: sorted, each row group within its share (the same draws, other columns
            # unchanged).
            lo, hi = params.file_time_range_us(file_id)
            i = np.arange(rows + 1, dtype=np.int64)
            q, r = divmod(hi - lo, rows)  # (hi - lo) * i // rows without overflowing int64
            edges = lo + q * i + (r * i) // rows
            width = np.diff(edges)
            a["ts"] = edges[:-1] + np.minimum((g.random(rows) * width).astype(np.int64), width - 1)
        else:
            a["ts"] = _micros(g.uniform(_seconds(params.timestamp_start), _seconds(params.timestamp_end), size=rows))
    for k in (20, 21):  # event_id, session_id: 16 random bytes a row
        if step(k):
            if wanted is None or STAGES[k][0] in wanted:
                a[STAGES[k][0]] = d.bytes_rows(rows, 16)
            else:
                d.skip_uint32(rows * 4)
    if step(22):
        ints, dbls = _pattern(d, rows, (_span(EMAIL_USER_RANGE), len(EMAIL_DOMAINS), None))
        a["email_user"], a["email_domain"] = ints[:, 0] + EMAIL_USER_RANGE[0], ints[:, 1]
        a["email_duplicate"] = dbls[:, 2] < params.duplicate_email_pct
        mode = np.zeros(rows, dtype=np.int32)  # 0 clean, else 1 + Lakebench's mode
        if n_dirty:
            idx = g.choice(rows, size=n_dirty, replace=False)
            mode[idx] = 1 + g.integers(0, 6, size=n_dirty)
        a["email_mode"] = mode
    if step(23):
        ints, dbls = _pattern(d, rows, (_span(AREA_RANGE), _span(EXCHANGE_RANGE), _span(LINE_RANGE), None))
        digits = ints[:, :3] + np.array([AREA_RANGE[0], EXCHANGE_RANGE[0], LINE_RANGE[0]])
        template = np.where(dbls[:, 3] < 0.5, 0, 1)
        if n_dirty:
            idx = g.choice(rows, size=n_dirty, replace=False)
            modes = g.integers(0, len(V.PHONE_CORRUPTIONS), size=n_dirty)
            fresh, _ = _pattern(d, n_dirty, (_span(AREA_RANGE), _span(EXCHANGE_RANGE), _span(LINE_RANGE)))
            digits[idx] = fresh + np.array([AREA_RANGE[0], EXCHANGE_RANGE[0], LINE_RANGE[0]])
            template[idx] = PHONE_CLEAN_FORMATS + modes
        a["phone_digits"], a["phone_template"] = digits, template
    if step(24):
        a["currency"] = g.integers(0, len(CURRENCIES), size=rows)
    if step(25):
        ints, _ = _pattern(d, rows, tuple(_span(r) for r in IP_OCTETS))
        a["ip"] = ints + np.array([lo for lo, _ in IP_OCTETS])
    if step(26):
        a["zip"] = ZIP_RANGE[0] + _uniform_ints(d, rows, _span(ZIP_RANGE))
    if step(27):
        a["data_source"] = g.choice(len(V.DATA_SOURCES), size=rows, p=list(V.weights(V.DATA_SOURCES)))
    if step(28):
        a["quality"] = g.choice(len(V.QUALITY_FLAGS), size=rows, p=list(V.weights(V.QUALITY_FLAGS)))
    if step(29):
        spans = (len(BROWSERS), _span(USER_AGENT_VERSIONS), len(DEVICES), len(USER_AGENT_OS))
        a["agent"] = _pattern(d, rows, spans)[0]
    if step(30):
        if wanted is None or "session_fingerprint" in wanted:
            a["fingerprint"] = d.bytes_rows(rows, 32)
        else:
            d.skip_uint32(rows * 8)
    for key, value in a.items():
        if key not in _OUTPUT_TYPED and value.dtype.kind == "i" and value.size:
            a[key] = value.astype(np.min_scalar_type(-1 - int(np.abs(value).max())))  # kept small
    return out


#: Draws kept in the column's own type (the others are kept in the smallest integer type).
_OUTPUT_TYPED = frozenset(("customer", "ts", "views", "seconds", "redeemed", "clicks", "items"))


# -- strings, row group by row group ---------------------------------------------------------------


class _Tables:
    """Arrow vocabularies of this profile, built once per process."""

    def __init__(self):
        self.interaction = A.strings(INTERACTION_ORDER)
        self.category = A.strings(V.PRODUCT_CATEGORIES)
        self.currency = A.strings(V.values(CURRENCIES))
        self.channel = A.strings(V.values(CHANNELS))
        self.device = A.strings(V.values(DEVICES))
        self.browser = A.strings(V.values(BROWSERS))
        self.offline = np.array([c in V.OFFLINE_CHANNELS for c in V.values(CHANNELS)])
        self.issue = A.strings(V.values(ISSUE_CATEGORIES))
        self.utm_source = A.strings(UTM_SOURCES)
        self.utm_medium = A.strings(UTM_MEDIUMS)
        self.tier = A.strings(("", *V.values(V.LOYALTY_TIERS)))
        self.data_source = A.strings(V.values(V.DATA_SOURCES))
        self.quality = A.strings(V.values(V.QUALITY_FLAGS))
        self.octet_pairs = A.strings(f"{i >> 8}.{i & 0xFF}" for i in range(1 << 16))
        cities = [c for c, _ in CITY_STATE]
        self.city, codes = A.unique(cities + [CITY_MISSPELLINGS.get(c, c) for c in cities])
        self.city_clean, self.city_dirty = codes[: len(cities)], codes[len(cities):]
        states = [s for _, s in CITY_STATE]
        self.state, codes = A.unique(states + [v for s in states for v in STATE_VARIANTS[s]])
        self.state_clean = codes[: len(states)]
        self.state_dirty = codes[len(states):].reshape(len(states), 4)
        self.user_agent = A.strings(
            f"{b}/{v}.0 ({d}; {o})"
            for b in V.values(BROWSERS)
            for v in range(*USER_AGENT_VERSIONS)
            for d in V.values(DEVICES)
            for o in USER_AGENT_OS
        )


@functools.cache
def _tables() -> _Tables:
    """Built once per process, on first use."""
    return _Tables()


def _has_zero_digit(values: np.ndarray, width: int) -> np.ndarray:
    rest = values.astype(np.int64)
    zero = np.zeros(len(rest), dtype=bool)
    for _ in range(width):
        zero |= rest % 10 == 0
        rest = rest // 10
    return zero


def build_batch(params: GenParams, fd: FileDraws, file_id: int, first: int, n: int,
                wanted: Optional[frozenset] = None, payload: Optional[pa.Array] = None) -> pa.RecordBatch:
    """Rows ``first .. first + n`` of a file from its draws: the columns of ``wanted`` (None: all),
    in the table's order (``payload``: that row group's payload column, when wanted)."""
    t = _tables()
    a = {key: value[first : first + n] for key, value in fd.a.items() if len(value) == fd.rows}
    cols: dict[str, pa.Array] = {}

    def want(*names: str) -> bool:
        return wanted is None or any(name in wanted for name in names)

    if want("id", "row_id"):
        cols["id"] = cols["row_id"] = pa.array(np.arange(n, dtype=np.int64) + (file_id * params.rows_per_file + first))
    if want("city_raw"):
        pair = a["pair"]
        cols["city_raw"] = A.categorical(t.city, np.where(a["city_dirty"], t.city_dirty[pair], t.city_clean[pair]))
    if want("state_raw"):
        pair, variant = a["pair"], a["state_variant"]
        dirty = variant >= 0
        cols["state_raw"] = A.categorical(t.state, np.where(dirty, t.state_dirty[pair, np.maximum(variant, 0)],
                                                            t.state_clean[pair]))
    itype = a.get("itype")
    if itype is not None:
        non_commerce = (itype == 2) | (itype == 3)  # support, login
        cols["interaction_type"] = A.categorical(t.interaction, itype)
    if want("transaction_amount", "points_earned"):
        cols["transaction_amount"] = pa.array(a["amount"])
    if want("page_views", "bounce_rate"):
        views = a["views"]
        cols["page_views"] = pa.array(views)
        cols["bounce_rate"] = pa.array((views == 1).astype(np.float64))
    if want("time_on_site_seconds"):
        cols["time_on_site_seconds"] = pa.array(a["seconds"])
    if want("support_ticket_id", "issue_category", "satisfaction_score"):
        support = a["support"]
        # The support fields are drawn for support rows only: spread them over the rows.
        before = int(np.count_nonzero(fd.a["support"][:first]))
        where = np.cumsum(support) - 1 + before
        take = np.where(support, where, 0)
        ticket, issue, score = (fd.a[k][take] if len(fd.a[k]) else np.zeros(n, np.int64)
                                for k in ("ticket", "issue", "score"))
        cols["support_ticket_id"] = prefixed_digits("TKT", ticket, 5, ~support)
        cols["issue_category"] = A.categorical(t.issue, issue, ~support)
        cols["satisfaction_score"] = A.nullable(score.astype(np.int32), pa.int32(), ~support)
    if want("campaign_id", "utm_source", "utm_medium"):
        hit = a["campaign"]
        before = int(np.count_nonzero(fd.a["campaign"][:first]))
        take = np.where(hit, np.cumsum(hit) - 1 + before, 0)
        number, source, medium = (fd.a[k][take] if len(fd.a[k]) else np.zeros(n, np.int64)
                                  for k in ("campaign_no", "utm_source", "utm_medium"))
        cols["campaign_id"] = prefixed_digits("CMP", number, 3, ~hit)
        cols["utm_source"] = A.categorical(t.utm_source, source, ~hit)
        cols["utm_medium"] = A.categorical(t.utm_medium, medium, ~hit)
    if want("customer_id", "loyalty_member", "loyalty_tier", "points_earned"):
        tier = a["tier"].astype(np.int32)
        cols["customer_id"] = pa.array(a["customer"])
        cols["loyalty_member"] = pa.array(tier > 0)
        cols["loyalty_tier"] = A.categorical(t.tier, tier, tier == 0)
        # int(amount * 10) on a member's purchase: truncated toward zero, amounts are positive.
        earned = np.where((itype == 0) & (tier > 0), a["amount"] * POINTS_PER_DOLLAR["bronze"], 0.0)
        cols["points_earned"] = pa.array(earned.astype(np.int32))
    if want("points_redeemed"):
        cols["points_redeemed"] = pa.array(a["redeemed"])
    if want("product_id"):
        cols["product_id"] = prefixed_digits("PRD", a["product"], 5, non_commerce)
    if want("product_category"):
        cols["product_category"] = A.categorical(t.category, a["category"], non_commerce)
    if want("click_count"):
        cols["click_count"] = A.nullable(a["clicks"], pa.int32(), non_commerce)
    if want("cart_value"):
        cols["cart_value"] = A.nullable(a["cart"], pa.float64(), non_commerce)  # null, not NaN
    if want("items_in_cart"):
        cols["items_in_cart"] = A.nullable(a["items"], pa.int32(), non_commerce)
    if want("channel", "device_type", "browser"):
        channel = a["channel"]
        offline = t.offline[channel]
        cols["channel"] = A.categorical(t.channel, channel)
    if want("device_type"):
        cols["device_type"] = A.categorical(t.device, a["device"], offline)
    if want("browser"):
        cols["browser"] = A.categorical(t.browser, a["browser"], offline)
    if want("event_timestamp"):
        cols["event_timestamp"] = pa.array(a["ts"].astype("datetime64[us]"), type=pa.timestamp("us"))
    for name in ("event_id", "session_id"):
        if want(name):
            cols[name] = uuid4_from_bytes(a[name].copy())
    if want("email_raw"):
        mode = a["email_mode"]
        local = A.concat("user", A.digits(a["email_user"]), A.where(a["email_duplicate"], _DUPLICATE_EMAIL, ""))
        cols["email_raw"] = emails(local, EMAIL_DOMAINS, a["email_domain"].astype(np.int32), mode)
    if want("phone_raw"):
        digits, template = a["phone_digits"], a["phone_template"]
        letter_o = template == PHONE_CLEAN_FORMATS + V.PHONE_CORRUPTIONS.index("letter_o")
        # str.replace("0", "O", 1): the first 0 becomes O; a number without a 0 stays as it is.
        if letter_o.any():
            letter_o &= _has_zero_digit(digits[:, 0], 3) | _has_zero_digit(digits[:, 1], 3) | _has_zero_digit(digits[:, 2], 4)
        cols["phone_raw"] = PHONE.build(digits[:, 0], digits[:, 1], digits[:, 2], template, letter_o)
    if want("currency"):
        cols["currency"] = A.categorical(t.currency, a["currency"])
    if want("ip_address"):
        ip = a["ip"]
        ip = ip.astype(np.int32)
        cols["ip_address"] = A.concat(A.take(t.octet_pairs, ip[:, 0] << 8 | ip[:, 1]), ".",
                                      A.take(t.octet_pairs, ip[:, 2] << 8 | ip[:, 3]))
    if want("zip_code"):
        cols["zip_code"] = prefixed_digits("", a["zip"], 5)
    if want("data_source"):
        cols["data_source"] = A.categorical(t.data_source, a["data_source"])
    if want("data_quality_flag"):
        cols["data_quality_flag"] = A.categorical(t.quality, a["quality"])
    if want("raw_user_agent"):
        b, v, dv, os_ = a["agent"].astype(np.int32).T
        versions = _span(USER_AGENT_VERSIONS)
        cols["raw_user_agent"] = A.categorical(t.user_agent, ((b * versions + v) * len(DEVICES) + dv) * len(USER_AGENT_OS) + os_)
    if want("session_fingerprint"):
        cols["session_fingerprint"] = fixed_width_strings(hex_matrix(a["fingerprint"]))
    if want("interaction_payload"):
        cols["interaction_payload"] = payload
    schema = project(BATCH_SCHEMA, wanted)
    return pa.RecordBatch.from_arrays([cols[f.name] for f in schema], schema=schema)


def _payload(d: Draws, n: int, nbytes: int, out: Optional[np.ndarray]) -> pa.Array:
    """The next n rows' ``bytes(nbytes).hex()``."""
    if nbytes % 4 == 0:
        run = d.uint32_run()
        array = hex_of_uint32(run.take, n, nbytes, out)
        run.close()
        return array
    return fixed_width_strings(hex_matrix(d.bytes_rows(n, nbytes)))


def file_row_groups(params: GenParams, loyalty: np.ndarray, file_id: int, *, rows: Optional[int] = None,
                    columns: Optional[Iterable[str]] = None,
                    payload_buffer: Optional[np.ndarray] = None) -> Iterator[pa.RecordBatch]:
    """The row groups of file ``file_id`` in order (``rows``: only that many rows, as a file of
    that many rows would have them; for calibration). The file's draws are made once; each row
    group's strings and payload as it is asked for, so memory holds the draws (about 170 bytes a
    row) and one row group. ``columns`` (None: all) as in :func:`build_batch`."""
    total = params.rows_per_file if rows is None else rows
    wanted = column_set(columns)
    fd = draw_file(params, loyalty, file_id, total, wanted)
    for first, count in row_groups(total, params.row_group_rows):
        payload = None
        if wanted is None or "interaction_payload" in wanted:
            payload = _payload(fd.draws, count, params.payload_bytes, payload_buffer)
        yield build_batch(params, fd, file_id, first, count, wanted, payload)


_cache: dict = {}


def build_row_group(params: GenParams, loyalty: np.ndarray, file_id: int, row_group: int, first: int, n: int, *,
                    payload_buffer: Optional[np.ndarray] = None,
                    columns: Optional[Iterable[str]] = None) -> pa.RecordBatch:
    """One row group on its own (Ray Data reads them apart): the file's draws are made (and kept
    for the next row group of the same file, one file per process), the payload's stream is
    moved to the row group's first row."""
    wanted = column_set(columns)
    key = (params, file_id, wanted)  # (the loyalty table is a function of the parameters)
    fd = _cache.get(key)
    if fd is None:
        _cache.clear()
        fd = draw_file(params, loyalty, file_id, params.rows_per_file, wanted)
        fd.payload_state = fd.draws.bits.state
        _cache[key] = fd
    payload = None
    if wanted is None or "interaction_payload" in wanted:
        d = Draws(0)
        d.bits.state = fd.payload_state
        d.skip_uint32(first * -(-params.payload_bytes // 4))
        payload = _payload(d, n, params.payload_bytes, payload_buffer)
    return build_batch(params, fd, file_id, first, n, wanted, payload)


# -- what verify checks (derived from the tables above) ------------------------------------------
CITY_CLEAN = tuple(dict.fromkeys(c for c, _ in CITY_STATE))
CITY_DIRTY = tuple(dict.fromkeys(CITY_MISSPELLINGS[c] for c, _ in CITY_STATE if c in CITY_MISSPELLINGS))
#: Share of dirty rows whose city changes (cities without a misspelling stay as they are).
CITY_DIRTY_SHARE = sum(c in CITY_MISSPELLINGS for c, _ in CITY_STATE) / len(CITY_STATE)
#: Spelling -> 0 for a clean state, 1 for a spelling only dirty rows use. (Some dirty spellings
#: are another pair's clean one, "IL" for "Illinois": a dirty state is not always visible.)
STATE_STYLES = {
    **{v: 1 for _, s in CITY_STATE for v in STATE_VARIANTS[s]},
    **{s: 0 for _, s in CITY_STATE},
}
#: Dirty state styles every large enough sample shows: the spellings no clean row uses.
STATE_VARIANT_STYLES = ("dirty spelling",)
