"""The ``lakebench`` profile (the default): every column the spec leaves open is distributed as
Lakebench's own generator (v1.4.0) draws it, because its silver and gold stages and its queries
were written against that data. Values are drawn per row and independently, unless said.

Kept better than that generator, without moving any column's distribution: nulls (never NaN) in
``cart_value``; a letter-O corruption that always changes the number; timestamps in UTC whatever
the machine's time zone; a user agent whose browser and device are the row's own (on offline
rows, which have neither, they are drawn as the generator draws them); calibrated file sizes.
"""

from __future__ import annotations

import functools
import numpy as np
import pyarrow as pa

from .. import arrays as A
from .. import vocab as V
from ..corruption import PhoneTemplates, email_modes, emails
from ..rowgroup import RowGroup
from ..strings import prefixed_digits

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

#: Clean formats, then the four corruptions (digits only, +1 with dashes, truncated to area code
#: and exchange, letter O on the digits-only form).
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


class _Tables:
    """Arrow vocabularies of this profile, built once per process."""

    def __init__(self):
        self.category = A.strings(V.PRODUCT_CATEGORIES)
        self.currency = A.strings(V.values(CURRENCIES))
        self.channel = A.strings(V.values(CHANNELS))
        self.device = A.strings(V.values(DEVICES))
        self.browser = A.strings(V.values(BROWSERS))
        self.offline = np.array([c in V.OFFLINE_CHANNELS for c in V.values(CHANNELS)])
        self.issue = A.strings(V.values(ISSUE_CATEGORIES))
        self.utm_source = A.strings(UTM_SOURCES)
        self.utm_medium = A.strings(UTM_MEDIUMS)
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


def build_columns(g: RowGroup) -> dict[str, pa.Array]:
    """Every column whose distribution the spec leaves open, for one row group (only those of
    ``g.columns`` and what they are built from: each stream is drawn whole or not at all)."""
    t = _tables()
    p = g.params
    n = g.n
    rng = g.rng
    wants = g.wants
    cols: dict[str, pa.Array] = {}

    if wants("email_raw"):
        # Contact data, drawn per row: user<number>[.DUPLICATE]@<domain>, then a corruption.
        user = A.uniform_int(rng("email_user"), *EMAIL_USER_RANGE, n)
        domain = A.uniform_int(rng("email_domain"), 0, len(EMAIL_DOMAINS), n).astype(np.int32)
        duplicate = A.bernoulli(rng("email_duplicate"), p.duplicate_email_pct, n)
        local = A.concat("user", A.digits(user), A.where(duplicate, ".DUPLICATE", ""))
        mode = email_modes(rng("email_corruption"), A.bernoulli(rng("email_dirty"), p.dirty_ratio, n))
        cols["email_raw"] = emails(local, EMAIL_DOMAINS, domain, mode)

    if wants("phone_raw"):
        phone_rng = rng("phone")
        area = A.uniform_int(phone_rng, *AREA_RANGE, n)
        exchange = A.uniform_int(phone_rng, *EXCHANGE_RANGE, n)
        line = A.uniform_int(phone_rng, *LINE_RANGE, n)
        clean_format = A.uniform_int(rng("phone_format"), 0, PHONE_CLEAN_FORMATS, n)
        corruption = A.uniform_int(rng("phone_corruption"), 0, len(V.PHONE_CORRUPTIONS), n)
        template = np.where(A.bernoulli(rng("phone_dirty"), p.dirty_ratio, n), PHONE_CLEAN_FORMATS + corruption,
                            clean_format)
        letter_o = template == PHONE_CLEAN_FORMATS + V.PHONE_CORRUPTIONS.index("letter_o")
        cols["phone_raw"] = PHONE.build(area, exchange, line, template, letter_o)

    if wants("ip_address"):
        ip_rng = rng("ip_address")
        a, b, c, d = (A.uniform_int(ip_rng, lo, hi, n) for lo, hi in IP_OCTETS)
        cols["ip_address"] = A.concat(A.take(t.octet_pairs, a << 8 | b), ".", A.take(t.octet_pairs, c << 8 | d))

    if wants("city_raw", "state_raw"):
        pair = A.uniform_int(rng("city_state"), 0, len(CITY_STATE), n)
    if wants("city_raw"):
        city_dirty = A.bernoulli(rng("city_dirty"), p.dirty_ratio, n)
        cols["city_raw"] = A.categorical(t.city, np.where(city_dirty, t.city_dirty[pair], t.city_clean[pair]))
    if wants("state_raw"):
        state_dirty = A.bernoulli(rng("state_dirty"), p.dirty_ratio, n)
        variant = A.uniform_int(rng("state_variant"), 0, 4, n)
        cols["state_raw"] = A.categorical(
            t.state, np.where(state_dirty, t.state_dirty[pair, variant], t.state_clean[pair])
        )
    if wants("zip_code"):
        cols["zip_code"] = prefixed_digits("", A.uniform_int(rng("zip_code"), *ZIP_RANGE, n), 5)

    # Commerce: product, currency, channel, device, browser, all uniform.
    non_commerce = g.non_commerce
    if wants("product_id"):
        cols["product_id"] = prefixed_digits("PRD", A.uniform_int(rng("product_id"), *PRODUCT_RANGE, n), 5,
                                             non_commerce)
    if wants("product_category"):
        category = A.uniform_int(rng("product_category"), 0, len(V.PRODUCT_CATEGORIES), n)
        cols["product_category"] = A.categorical(t.category, category, non_commerce)
    if wants("currency"):
        cols["currency"] = A.categorical(t.currency, A.uniform_int(rng("currency"), 0, len(CURRENCIES), n))
    if wants("channel", "device_type", "browser", "raw_user_agent"):
        channel = A.uniform_int(rng("channel"), 0, len(CHANNELS), n)
        offline = t.offline[channel]
        cols["channel"] = A.categorical(t.channel, channel)
        device = A.uniform_int(rng("device_type"), 0, len(DEVICES), n)
        cols["device_type"] = A.categorical(t.device, device, offline)
        browser = A.uniform_int(rng("browser"), 0, len(BROWSERS), n)
        cols["browser"] = A.categorical(t.browser, browser, offline)

    # Web activity: uniform page views while browsing or buying; time on site follows them.
    if wants("page_views", "time_on_site_seconds", "bounce_rate"):
        views = np.where(g.viewing, A.uniform_int(rng("page_views"), *PAGE_VIEWS_RANGE, n), 0)
        cols["page_views"] = pa.array(views.astype(np.int32))
        cols["bounce_rate"] = pa.array((views == 1).astype(np.float64))
    if wants("time_on_site_seconds"):
        seconds = np.where(views > 0, A.uniform_int(rng("time_on_site"), *TIME_ON_SITE_RANGE, n), 0)
        cols["time_on_site_seconds"] = pa.array(seconds.astype(np.int32))
    if wants("click_count"):
        clicks = A.uniform_int(rng("click_count"), *CLICK_RANGE, n)
        cols["click_count"] = A.nullable(clicks.astype(np.int32), pa.int32(), non_commerce)
    if wants("cart_value"):
        cart = np.round(rng("cart_value").uniform(0.0, CART_MAX, n), 2)
        cols["cart_value"] = A.nullable(cart, pa.float64(), non_commerce)
    if wants("items_in_cart"):
        items = A.uniform_int(rng("items_in_cart"), *ITEMS_RANGE, n)
        cols["items_in_cart"] = A.nullable(items.astype(np.int32), pa.int32(), non_commerce)

    # Support fields exist only on support events.
    not_support = ~g.is_support
    if wants("support_ticket_id"):
        ticket = A.uniform_int(rng("support_ticket_id"), *TICKET_RANGE, n)
        cols["support_ticket_id"] = prefixed_digits("TKT", ticket, 5, not_support)
    if wants("issue_category"):
        issue = A.uniform_int(rng("issue_category"), 0, len(ISSUE_CATEGORIES), n)
        cols["issue_category"] = A.categorical(t.issue, issue, not_support)
    if wants("satisfaction_score"):
        score = A.uniform_int(rng("satisfaction_score"), 1, 6, n)
        cols["satisfaction_score"] = A.nullable(score.astype(np.int32), pa.int32(), not_support)

    # Marketing attribution on ~40% of events; source and medium drawn independently.
    if wants("campaign_id", "utm_source", "utm_medium"):
        campaign_rng = rng("campaign")
        no_campaign = ~A.bernoulli(campaign_rng, V.CAMPAIGN_SHARE, n)
        cols["campaign_id"] = prefixed_digits("CMP", A.uniform_int(campaign_rng, *CAMPAIGN_RANGE, n), 3, no_campaign)
    if wants("utm_source"):
        source = A.uniform_int(rng("utm_source"), 0, len(UTM_SOURCES), n)
        cols["utm_source"] = A.categorical(t.utm_source, source, no_campaign)
    if wants("utm_medium"):
        medium = A.uniform_int(rng("utm_medium"), 0, len(UTM_MEDIUMS), n)
        cols["utm_medium"] = A.categorical(t.utm_medium, medium, no_campaign)

    # Loyalty points: 10 per dollar of a member's purchase; 10% of a member's rows redeem.
    member = g.member
    if wants("points_earned"):
        points = np.where(g.is_purchase & member, np.floor(g.amount * POINTS_PER_DOLLAR["bronze"]), 0)
        cols["points_earned"] = pa.array(points.astype(np.int32))
    if wants("points_redeemed"):
        redeem_rng = rng("points_redeemed")
        redeems = member & A.bernoulli(redeem_rng, V.POINTS_REDEEMED_SHARE, n)
        redeemed = np.where(redeems, A.uniform_int(redeem_rng, *V.POINTS_REDEEMED_RANGE, n), 0)
        cols["points_redeemed"] = pa.array(redeemed.astype(np.int32))

    if wants("raw_user_agent"):
        # User agent "<browser>/<version>.0 (<device>; <os>)": the row's browser and device when it
        # has them, otherwise drawn like them; version and operating system uniform.
        ua_rng = rng("raw_user_agent")
        ua_browser = np.where(offline, A.uniform_int(ua_rng, 0, len(BROWSERS), n), browser)
        ua_device = np.where(offline, A.uniform_int(ua_rng, 0, len(DEVICES), n), device)
        version = A.uniform_int(ua_rng, *USER_AGENT_VERSIONS, n) - USER_AGENT_VERSIONS[0]
        os_ = A.uniform_int(ua_rng, 0, len(USER_AGENT_OS), n)
        versions = USER_AGENT_VERSIONS[1] - USER_AGENT_VERSIONS[0]
        agent = ((ua_browser * versions + version) * len(DEVICES) + ua_device) * len(USER_AGENT_OS) + os_
        cols["raw_user_agent"] = A.categorical(t.user_agent, agent)
    return cols


#: Cart, clicks and items are drawn on their own, uniformly.
CART_RULE = "uniform"

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
