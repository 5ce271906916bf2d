"""Every rule of the spec on >= 100,000 generated rows (two files, read back from Parquet), in
both profiles; the rules a profile adds where the spec is silent are checked for ``realistic``
here and for ``lakebench`` (the default) in ``test_workload.py``.

Tolerances: a share p estimated from n rows has standard error sqrt(p(1-p)/n); each check allows
six standard errors (plus 1e-3 for the 16-bit quantisation of weights), so a correct generator
fails with probability below 1e-8 whatever the seed, while a wrong weight of a few points fails.
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lakebench_ray.core import SCHEMA, GenParams, build_loyalty_table, profiles
from lakebench_ray.core import vocab as V
from lakebench_ray.core.profiles import realistic as R

from .helpers import file_bytes, read_table

ROWS_PER_FILE = 60_000
PARAMS = GenParams(rows_per_file=ROWS_PER_FILE, row_group_rows=25_000, payload_kb=0.5, customer_id_max=200_000)


@pytest.fixture(scope="module")
def loyalty(profile):
    return build_loyalty_table(PARAMS.seed, PARAMS.customer_id_max, profile.NAME)


@functools.lru_cache(maxsize=None)
def _table(profile: str) -> pa.Table:
    params = GenParams(**dict(PARAMS.as_dict(), profile=profile))
    loyalty = build_loyalty_table(params.seed, params.customer_id_max, params.profile)
    return pa.concat_tables([read_table(file_bytes(params, fid, loyalty)) for fid in (0, 7)])


def _columns(table: pa.Table) -> dict:
    """Columns as numpy arrays (strings as object arrays, nulls as None)."""
    return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}


@pytest.fixture(scope="module", params=sorted(profiles.PROFILES))
def profile(request):
    return profiles.get(request.param)


@pytest.fixture(scope="module")
def table(profile) -> pa.Table:
    return _table(profile.NAME)


@pytest.fixture(scope="module")
def nulls(table):
    """Column name -> Arrow validity as a numpy bool array (True where null)."""
    return {name: table.column(name).is_null().to_numpy(zero_copy_only=False) for name in table.column_names}


@pytest.fixture(scope="module")
def df(table):
    return _columns(table)


@pytest.fixture(scope="module")
def rdf():
    """The realistic profile's rows."""
    return _columns(_table(R.NAME))


def tol(p: float, n: int) -> float:
    return 6 * math.sqrt(max(p * (1 - p), 1e-12) / n) + 1e-3


def assert_share(mask: np.ndarray, p: float, what: str) -> None:
    n = len(mask)
    observed = float(np.mean(mask))
    assert abs(observed - p) <= tol(p, n), f"{what}: expected {p:.4f} +- {tol(p, n):.4f}, observed {observed:.4f} over {n} rows"


def assert_distribution(values: np.ndarray, vocab, what: str) -> None:
    total = sum(w for _, w in vocab)
    seen = set(values[values != None].tolist()) if values.dtype == object else set(values.tolist())  # noqa: E711
    assert seen <= {v for v, _ in vocab}, f"{what}: unexpected values {seen - {v for v, _ in vocab}}"
    for value, weight in vocab:
        assert_share(values == value, weight / total, f"{what}={value}")


def test_row_count_and_schema(table):
    assert table.num_rows >= 100_000
    assert table.schema.equals(SCHEMA)
    assert len(SCHEMA) == 41
    assert table.schema.field("event_timestamp").type == pa.timestamp("us")
    assert SCHEMA.names[:3] == ["id", "row_id", "event_timestamp"] and SCHEMA.names[-1] == "interaction_payload"


def test_ids(df):
    expected = np.concatenate([np.arange(ROWS_PER_FILE) + f * ROWS_PER_FILE for f in (0, 7)])
    assert (df["id"] == expected).all()
    assert (df["row_id"] == df["id"]).all()


def test_timestamps_in_range(table):
    start, end = PARAMS.timestamp_range_us
    ts = table.column("event_timestamp").cast(pa.int64()).to_numpy()
    assert ts.min() >= start and ts.max() < end
    # Uniform: each quarter of the range holds about a quarter of the events.
    quarters = np.floor((ts - start) / (end - start) * 4)
    for q in range(4):
        assert_share(quarters == q, 0.25, f"timestamp quarter {q}")


def test_uuid_v4(df):
    pattern = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    for name in ("event_id", "session_id"):
        values = df[name]
        assert all(pattern.match(v) for v in values[:5000]), name
        assert len(set(values)) == len(values), f"{name} not unique"
    assert pc.all(pc.match_substring_regex(pa.array(df["event_id"]), pattern.pattern)).as_py()


def test_zipf_customers(df):
    cid = df["customer_id"]
    assert cid.min() >= 0 and cid.max() <= PARAMS.customer_id_max
    # P(X = k) for Zipf(1.5) is k^-1.5 / zeta(1.5); customer 1 gets ~38%, 2 gets ~13.5%.
    zeta = 2.612375348685488
    for k in (1, 2, 3, 10):
        assert_share(cid == k, k**-1.5 / zeta, f"customer {k}")
    # Heavy tail: the top 1% of customers make more than half of the events.
    counts = np.sort(np.bincount(cid))[::-1]
    active = counts[counts > 0]
    assert active[: max(1, len(active) // 100)].sum() > 0.5 * len(cid)


def test_interaction_mix(df):
    assert_distribution(df["interaction_type"], V.INTERACTION_TYPES, "interaction_type")


def test_conditional_nulls(df, nulls, table, profile):
    itype = df["interaction_type"]
    non_commerce = np.isin(itype, ["login", "support"])
    for name in ("product_id", "product_category", "cart_value", "items_in_cart", "click_count"):
        assert (nulls[name] == non_commerce).all(), f"{name}: null exactly for login/support"
    assert not pc.any(pc.is_nan(table.column("cart_value"))).as_py(), "cart_value uses null, not NaN"
    support = itype == "support"
    for name in ("support_ticket_id", "issue_category", "satisfaction_score"):
        assert (nulls[name] == ~support).all(), f"{name}: non-null exactly for support"
    assert all(re.fullmatch(r"TKT\d{5}", v) for v in df["support_ticket_id"][support])
    assert set(df["issue_category"][support]) <= set(V.values(profile.ISSUE_CATEGORIES))
    scores = df["satisfaction_score"][support].astype(int)
    assert scores.min() >= 1 and scores.max() <= 5
    assert all(re.fullmatch(r"PRD\d{5}", v) for v in df["product_id"][~non_commerce])
    assert set(df["product_category"][~non_commerce]) == set(V.PRODUCT_CATEGORIES)


def test_campaign_attribution(df, profile):
    campaign = df["campaign_id"]
    has = np.array([v is not None for v in campaign])
    assert_share(has, V.CAMPAIGN_SHARE, "campaign present")
    assert all(re.fullmatch(r"CMP\d{3}", v) for v in campaign[has])
    for name in ("utm_source", "utm_medium"):
        assert (np.array([v is not None for v in df[name]]) == has).all(), f"{name} null exactly without campaign"
    pairs = set(zip(df["utm_source"][has], df["utm_medium"][has]))
    assert pairs <= {p for p, _ in profile.UTM_PAIRS}


def test_channel_device_coherence(df, profile):
    channel = df["channel"]
    assert_distribution(channel, profile.CHANNELS, "channel")
    offline = np.isin(channel, list(V.OFFLINE_CHANNELS))
    for name in ("device_type", "browser"):
        nulls = np.array([v is None for v in df[name]])
        assert (nulls == offline).all(), f"{name} null exactly for store/call_center"
    agents = df["raw_user_agent"]
    assert all(a is not None for a in agents)
    online = ~offline
    if profile.NAME == "lakebench":
        return  # Lakebench draws the user agent's browser and device apart from the row's own
    assert all(a.startswith(f"{b}/") and f"({d};" in a for a, b, d in zip(agents[online][:5000], df["browser"][online][:5000], df["device_type"][online][:5000]))


def test_transaction_amounts(df):
    amount = df["transaction_amount"]
    purchase = df["interaction_type"] == "purchase"
    assert (amount[~purchase] == 0.0).all()
    paid = amount[purchase]
    assert paid.min() >= 1.00 and paid.max() <= 9999.99
    assert np.allclose(paid, np.round(paid, 2))
    logs = np.log(paid)
    # Clipping moves < 0.2% of mass at mu=4.3, sigma=1.2; the log-moments stay close.
    assert abs(np.median(logs) - 4.3) < 0.05
    assert abs(np.std(logs) - 1.2) < 0.05


def test_web_activity(df):
    itype = df["interaction_type"]
    views = df["page_views"]
    viewing = np.isin(itype, ["browse", "purchase"])
    assert (views[~viewing] == 0).all() and (views[viewing] >= 1).all()
    seconds = df["time_on_site_seconds"]
    assert ((seconds > 0) == (views > 0)).all()
    assert (df["bounce_rate"] == (views == 1).astype(float)).all()


def test_realistic_web_activity_and_cart(rdf):
    df = rdf
    assert not np.any(df["device_type"][df["channel"] == "mobile_app"] == "desktop")
    itype = df["interaction_type"]
    commerce = ~np.isin(itype, ["login", "support"])
    clicks = df["click_count"][commerce].astype(int)
    assert clicks.min() >= 1
    items = df["items_in_cart"][commerce].astype(int)
    cart = df["cart_value"][commerce].astype(float)
    assert ((items == 0) == (cart == 0.0)).all() and items.max() <= 20
    purchase = itype[commerce] == "purchase"
    assert np.allclose(cart[purchase], df["transaction_amount"][commerce][purchase])


def test_realistic_dirty_rows_and_corruption_modes(rdf):
    df = rdf
    email, phone, city, state = df["email_raw"], df["phone_raw"], df["city_raw"], df["state_raw"]
    clean_email = np.array([bool(re.fullmatch(r"user\d+(\.DUPLICATE)?@[a-z]+\.com", e)) for e in email])
    clean_phone = np.array([bool(re.fullmatch(r"\+1\d{10}|\(\d{3}\) \d{3}-\d{4}|\d{3}-\d{3}-\d{4}|\d{3}\.\d{3}\.\d{4}", p)) for p in phone])
    cities = {loc[0] for loc in R.LOCATIONS}
    codes = {loc[1] for loc in R.LOCATIONS}
    clean_city = np.isin(city, list(cities))
    clean_state = np.isin(state, list(codes))
    dirty = ~clean_city
    # One dirty mask drives all four fields: corruption across multiple fields.
    assert ((~clean_state) == dirty).all()
    assert ((~clean_phone) == dirty).all()
    assert ((~clean_email) == dirty).all()
    assert_share(dirty, PARAMS.dirty_ratio, "dirty rows")
    bad_email = email[dirty]
    modes = {
        "missing_at": lambda e: "@" not in e and ".at." not in e,
        "all_caps": lambda e: e == e.upper() and "USER" in e,
        "whitespace": lambda e: e != e.strip(),
        "double_at": lambda e: "@@" in e,
        "missing_tld": lambda e: re.fullmatch(r"user\d+(\.DUPLICATE)?@[a-z]+", e) is not None,
        "at_replaced": lambda e: ".at." in e,
    }
    for mode, check in modes.items():
        share = np.mean([check(e) for e in bad_email])
        assert share > 0.10, f"email mode {mode}: {share:.3f}"
    bad_phone = phone[dirty]
    phone_modes = {
        "digits_only": lambda p: re.fullmatch(r"\d{10}", p),
        "extra_dashes": lambda p: "--" in p,
        "truncated": lambda p: re.fullmatch(r"\d{3}-\d{3}-\d{2}", p),
        "letter_o": lambda p: "O" in p,
    }
    for mode, check in phone_modes.items():
        share = np.mean([bool(check(p)) for p in bad_phone])
        assert share > 0.15, f"phone mode {mode}: {share:.3f}"
    misspelt = {m for loc in R.LOCATIONS for m in loc[7]}
    assert set(city[dirty]) <= misspelt and {"Chicgao", "Pheonix", "Los Angelas"} & set(city[dirty])
    variants = set(state[dirty])
    assert {"california", "CALIFORNIA", "Calif."} <= variants or {"new york", "NEW YORK", "N.Y."} <= variants


def test_duplicate_email_marker(df):
    dup = np.array([".DUPLICATE" in e.upper() for e in df["email_raw"]])
    assert_share(dup, PARAMS.duplicate_email_pct, ".DUPLICATE emails")
    assert all(re.search(r"\.DUPLICATE(@|\.at\.|[a-z])", e, re.I) for e in df["email_raw"][dup][:2000])


def test_realistic_customer_consistency(rdf):
    """Location, ZIP and email domain belong to the customer, not to the row."""
    df = rdf
    cid = df["customer_id"]
    clean = np.isin(df["city_raw"], [loc[0] for loc in R.LOCATIONS])
    seen: dict[int, tuple] = {}
    for c, city, zip_code, state in zip(cid[clean], df["city_raw"][clean], df["zip_code"][clean], df["state_raw"][clean]):
        key = (city, zip_code, state)
        assert seen.setdefault(int(c), key) == key
    assert all(re.fullmatch(r"\d{5}", z) for z in df["zip_code"])


def test_loyalty_consistent_and_distributed(df, loyalty):
    cid = df["customer_id"]
    member = df["loyalty_member"].astype(bool)
    tier = df["loyalty_tier"]
    names = {0: None, 1: "bronze", 2: "silver", 3: "gold"}
    assert (member == (loyalty[cid] > 0)).all()
    assert all(t == names[int(code)] for t, code in zip(tier[:20000], loyalty[cid][:20000]))
    assert (np.array([t is None for t in tier]) == ~member).all()
    # Table-level shares over all customers.
    n = len(loyalty)
    assert_share(loyalty > 0, 0.60, "members")
    members = loyalty[loyalty > 0]
    for code, share in ((1, 0.70), (2, 0.20), (3, 0.10)):
        assert abs(np.mean(members == code) - share) <= tol(share, len(members)), code
    assert loyalty.dtype == np.uint8 and loyalty.nbytes == n and not loyalty.flags.writeable


def test_points(df, loyalty, profile):
    member = df["loyalty_member"].astype(bool)
    purchase = df["interaction_type"] == "purchase"
    earned = df["points_earned"]
    assert (earned[~(member & purchase)] == 0).all()
    assert (earned[member & purchase] >= 1).all()
    for tier, rate in profile.POINTS_PER_DOLLAR.items():
        rows = member & purchase & (df["loyalty_tier"] == tier)
        assert (earned[rows] == np.floor(df["transaction_amount"][rows] * rate)).all(), tier
    redeemed = df["points_redeemed"]
    assert (redeemed[~member] == 0).all()
    assert_share(redeemed[member] > 0, V.POINTS_REDEEMED_SHARE, "points redeemed")
    assert redeemed.max() < 1000


def test_sources_and_flags(df, profile):
    assert_distribution(df["data_source"], V.DATA_SOURCES, "data_source")
    assert_distribution(df["data_quality_flag"], V.QUALITY_FLAGS, "data_quality_flag")
    assert_distribution(df["currency"], profile.CURRENCIES, "currency")


def test_ip_addresses(df):
    ips = df["ip_address"]
    for ip in ips[:20000]:
        parts = ip.split(".")
        assert len(parts) == 4 and all(0 <= int(p) <= 255 and str(int(p)) == p for p in parts)
        assert 1 <= int(parts[0]) <= 254


def test_fingerprint_and_payload(df):
    fp = pa.array(df["session_fingerprint"])
    assert pc.all(pc.match_substring_regex(fp, r"^[0-9a-f]{64}$")).as_py()
    payload = pa.array(df["interaction_payload"])
    assert pc.all(pc.equal(pc.utf8_length(payload), 2 * PARAMS.payload_bytes)).as_py()
    assert pc.all(pc.match_substring_regex(payload, r"^[0-9a-f]*$")).as_py()


def test_payload_default_is_4096_hex(loyalty):
    params = GenParams(rows_per_file=50, row_group_rows=50, customer_id_max=PARAMS.customer_id_max)
    payload = read_table(file_bytes(params, 0, loyalty)).column("interaction_payload")
    assert set(pc.utf8_length(payload).to_pylist()) == {4096}
    empty = GenParams(rows_per_file=50, row_group_rows=50, payload_kb=0, customer_id_max=PARAMS.customer_id_max)
    assert set(read_table(file_bytes(empty, 0, loyalty)).column("interaction_payload").to_pylist()) == {""}
