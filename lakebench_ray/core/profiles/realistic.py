"""The ``realistic`` profile (opt-in: ``profile: realistic``): where the spec is silent, data shaped
like a retailer's rather than like Lakebench's generator.

- Contact data belongs to the customer: a customer keeps one email domain, phone number, city,
  state and ZIP in every file (from a seeded hash of the customer id), cities weighted by size.
- Channels, devices, browsers, currencies, issue categories, satisfaction scores and UTM
  (source, medium) pairs are weighted; devices follow the channel (apps run on phones).
- Page views are geometric, time on site grows with them; carts hold what a purchase paid or an
  abandoned cart held; points are earned per dollar by tier.
- A dirty row is dirty in every contact field at once.
"""

from __future__ import annotations

import functools
import numpy as np
import pyarrow as pa

from .. import arrays as A
from .. import vocab as V
from ..corruption import PhoneTemplates, email_modes, emails
from ..rowgroup import RowGroup
from ..seeding import customer_hash
from ..strings import prefixed_digits

NAME = "realistic"

CURRENCIES = (("USD", 0.70), ("EUR", 0.12), ("GBP", 0.10), ("CAD", 0.08))
CHANNELS = (("web", 0.40), ("mobile_app", 0.30), ("store", 0.15), ("call_center", 0.08), ("social_media", 0.07))
#: Device weights per online channel (channel-device coherence: apps run on phones and tablets).
DEVICE_WEIGHTS = {"web": (0.60, 0.30, 0.10), "mobile_app": (0.0, 0.80, 0.20), "social_media": (0.20, 0.70, 0.10)}
BROWSERS = (("chrome", 0.62), ("safari", 0.22), ("firefox", 0.08), ("edge", 0.08))
BROWSER_VERSIONS = {"chrome": "118.0", "safari": "17.1", "firefox": "119.0", "edge": "118.0"}
DEVICE_OS = {"desktop": "Windows NT 10.0", "mobile": "Android 14", "tablet": "iPadOS 17.1"}
#: User agents of the systems behind the offline channels.
OFFLINE_USER_AGENTS = {"store": "pos-terminal/3.2 (store; Embedded)",
                       "call_center": "agent-desktop/5.1 (call_center; Windows NT 10.0)"}
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com")
ISSUE_CATEGORIES = (("billing", 0.30), ("technical", 0.25), ("general_inquiry", 0.25), ("shipping", 0.12),
                    ("returns", 0.08))
SATISFACTION = ((1, 0.10), (2, 0.12), (3, 0.23), (4, 0.30), (5, 0.25))
#: (utm_source, utm_medium) pairs that occur together, with weights.
UTM_PAIRS = (
    (("google", "cpc"), 0.22), (("google", "organic"), 0.14), (("facebook", "cpc"), 0.12),
    (("facebook", "social"), 0.08), (("instagram", "social"), 0.08), (("email", "email"), 0.16),
    (("direct", "referral"), 0.10), (("bing", "cpc"), 0.05), (("partner", "referral"), 0.05),
)
UTM_SOURCES = tuple(dict.fromkeys(s for (s, _), _w in UTM_PAIRS))
UTM_MEDIUMS = tuple(dict.fromkeys(m for (_, m), _w in UTM_PAIRS))
POINTS_PER_DOLLAR = {"bronze": 1.0, "silver": 1.5, "gold": 2.0}

#: Locations: (city, state code, state name, AP abbreviation, first ZIP, ZIP count, area code,
#: misspellings / informal names used by dirty rows, weight).
LOCATIONS = (
    ("New York", "NY", "New York", "N.Y.", 10001, 290, 212, ("NYC", "New Yrok", "new york city"), 0.14),
    ("Los Angeles", "CA", "California", "Calif.", 90001, 90, 213, ("Los Angelas", "LA", "Los Angles"), 0.10),
    ("Chicago", "IL", "Illinois", "Ill.", 60601, 60, 312, ("Chicgao", "Chcago", "CHI"), 0.08),
    ("Houston", "TX", "Texas", "Tex.", 77001, 99, 713, ("Huston", "Houstn"), 0.07),
    ("Phoenix", "AZ", "Arizona", "Ariz.", 85001, 55, 602, ("Pheonix", "Phenix"), 0.05),
    ("Philadelphia", "PA", "Pennsylvania", "Pa.", 19101, 55, 215, ("Philly", "Philadelpia"), 0.05),
    ("San Antonio", "TX", "Texas", "Tex.", 78201, 60, 210, ("San Antonoi", "SanAntonio"), 0.04),
    ("San Diego", "CA", "California", "Calif.", 92101, 60, 619, ("San Deigo", "SD"), 0.04),
    ("Dallas", "TX", "Texas", "Tex.", 75201, 60, 214, ("Dalas", "Dallass"), 0.04),
    ("San Jose", "CA", "California", "Calif.", 95101, 60, 408, ("San Jos", "SJ"), 0.03),
    ("Austin", "TX", "Texas", "Tex.", 78701, 60, 512, ("Austn", "Austen"), 0.03),
    ("Seattle", "WA", "Washington", "Wash.", 98101, 99, 206, ("Seatle", "Seattel"), 0.04),
    ("Denver", "CO", "Colorado", "Colo.", 80201, 60, 303, ("Denvr", "Denvor"), 0.03),
    ("Boston", "MA", "Massachusetts", "Mass.", 2108, 90, 617, ("Bostan", "Boston MA"), 0.04),
    ("Miami", "FL", "Florida", "Fla.", 33101, 99, 305, ("Miamai", "Maimi"), 0.04),
    ("Atlanta", "GA", "Georgia", "Ga.", 30301, 99, 404, ("Atlnta", "ATL"), 0.04),
    ("Washington", "DC", "District of Columbia", "D.C.", 20001, 99, 202, ("Washington DC", "Washingtn"), 0.03),
    ("Portland", "OR", "Oregon", "Ore.", 97201, 99, 503, ("Portlnd", "PDX"), 0.02),
    ("Nashville", "TN", "Tennessee", "Tenn.", 37201, 99, 615, ("Nashvile", "Nashvill"), 0.02),
    ("Minneapolis", "MN", "Minnesota", "Minn.", 55401, 99, 612, ("Minneapolas", "Mpls"), 0.02),
    ("Detroit", "MI", "Michigan", "Mich.", 48201, 99, 313, ("Detriot", "Detroyt"), 0.02),
    ("Charlotte", "NC", "North Carolina", "N.C.", 28201, 99, 704, ("Charlote", "Charlott"), 0.02),
    ("Columbus", "OH", "Ohio", "O.", 43201, 99, 614, ("Colombus", "Columbis"), 0.02),
    ("Las Vegas", "NV", "Nevada", "Nev.", 89101, 99, 702, ("Las Vagas", "Vegas"), 0.02),
)
#: How a dirty row writes a state: full name, lower case, upper case, AP abbreviation, lower code.
STATE_VARIANTS = ("full", "lower", "upper", "ap", "lower_code")

#: Clean formats (E.164, parentheses, dashes, dots), then the four corruptions.
PHONE = PhoneTemplates((
    "+1AAAEEELLLL", "(AAA) EEE-LLLL", "AAA-EEE-LLLL", "AAA.EEE.LLLL",
    "AAAEEELLLL", "AAA--EEE--LLLL", "AAA-EEE-LL", "AAA-EEE-LLLL",
))
PHONE_CLEAN_FORMATS = 4
PHONE_PATTERNS = {
    "clean": r"^(\+1[0-9]{10}|\([0-9]{3}\) [0-9]{3}-[0-9]{4}|[0-9]{3}-[0-9]{3}-[0-9]{4}|[0-9]{3}\.[0-9]{3}\.[0-9]{4})$",
    "digits_only": r"^[0-9]{10}$",
    "extra_dashes": r"^[0-9]{3}--[0-9]{3}--[0-9]{4}$",
    "truncated": r"^[0-9]{3}-[0-9]{3}-[0-9]{2}$",
    "letter_o": r"^[0-9O]{3}-[0-9O]{3}-[0-9O]{4}$",
}
#: String columns with (nearly) a distinct value per row: none (contact data repeats with the
#: customer, so a dictionary halves it).
UNIQUE_STRINGS = ()
#: A dirty row is dirty in email, phone, city and state at once.
DIRTY_TOGETHER = True


def state_spellings(location) -> dict[str, str]:
    """Every spelling of a location's state, by style ("code" is the clean one)."""
    _, code, name, ap, *_rest = location
    return {"code": code, "full": name, "lower": name.lower(), "upper": name.upper(), "ap": ap,
            "lower_code": code.lower()}


class _Tables:
    """Arrow vocabularies of this profile, built once per process."""

    def __init__(self):
        self.category = A.strings(V.PRODUCT_CATEGORIES)
        self.currency = A.strings(V.values(CURRENCIES))
        self.channel = A.strings(V.values(CHANNELS))
        self.device = A.strings(V.DEVICE_TYPES)
        self.browser = A.strings(V.values(BROWSERS))
        self.issue = A.strings(V.values(ISSUE_CATEGORIES))
        self.utm_source, self.utm_source_of = A.unique(s for s, _ in V.values(UTM_PAIRS))
        self.utm_medium, self.utm_medium_of = A.unique(m for _, m in V.values(UTM_PAIRS))
        self.octet_pairs = A.strings(f"{i >> 8}.{i & 0xFF}" for i in range(1 << 16))
        # User agents: one per (browser, device), then one per offline channel.
        agents = [f"{b}/{BROWSER_VERSIONS[b]} ({d}; {DEVICE_OS[d]})" for b in V.values(BROWSERS) for d in V.DEVICE_TYPES]
        agents += [OFFLINE_USER_AGENTS[c] for c in V.OFFLINE_CHANNELS]
        self.user_agent = A.strings(agents)
        locs = LOCATIONS
        self.loc_table = A.choice_table(tuple(loc[-1] for loc in locs))
        self.zip_first = np.array([loc[4] for loc in locs], dtype=np.int64)
        self.zip_count = np.array([loc[5] for loc in locs], dtype=np.int64)
        self.area_code = np.array([loc[6] for loc in locs], dtype=np.int64)
        # City spellings: the clean names, then every location's misspellings.
        self.city, self.city_of = A.unique([loc[0] for loc in locs] + [m for loc in locs for m in loc[7]])
        self.city_dirty_count = np.array([len(loc[7]) for loc in locs], dtype=np.int64)
        self.city_dirty_start = np.concatenate([[0], np.cumsum(self.city_dirty_count)[:-1]])
        # State spellings: the clean code, then the STATE_VARIANTS styles, per location.
        styles = ("code",) + STATE_VARIANTS
        self.state, self.state_of = A.unique(state_spellings(loc)[s] for loc in locs for s in styles)
        self.state_width = len(styles)
        chans = V.values(CHANNELS)
        self.device_table = np.stack([A.choice_table(DEVICE_WEIGHTS.get(c, (1.0, 1.0, 1.0))) for c in chans])
        self.offline_channel = np.array([c in V.OFFLINE_CHANNELS for c in chans])
        self.offline_agent = np.array([V.OFFLINE_CHANNELS.index(c) if c in V.OFFLINE_CHANNELS else 0 for c in chans])
        tiers = V.values(V.LOYALTY_TIERS)
        self.points_per_dollar = np.array([0.0] + [POINTS_PER_DOLLAR[t] for t in tiers])


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
    seed = p.seed
    customer = g.customer
    wants = g.wants
    cols: dict[str, pa.Array] = {}
    contact = ("email_raw", "phone_raw", "city_raw", "state_raw")
    dirty = A.bernoulli(rng("dirty"), p.dirty_ratio, n) if wants(*contact) else None

    if wants("email_raw"):
        # Email: user<id>@<domain of this customer>, ~10% with a .DUPLICATE marker.
        domain = (customer_hash(seed, "email_domain", customer) % np.uint64(len(EMAIL_DOMAINS))).astype(np.int32)
        duplicate = A.bernoulli(rng("email_duplicate"), p.duplicate_email_pct, n)
        local = A.concat("user", A.digits(customer), A.where(duplicate, ".DUPLICATE", ""))
        cols["email_raw"] = emails(local, EMAIL_DOMAINS, domain, email_modes(rng("email_corruption"), dirty))

    # Location of the customer: city, state, ZIP and the phone's area code agree.
    if wants("phone_raw", "city_raw", "state_raw", "zip_code"):
        loc = t.loc_table[(customer_hash(seed, "location", customer) >> np.uint64(48)).astype(np.uint16)]
    if wants("phone_raw"):
        phone_hash = customer_hash(seed, "phone", customer)
        exchange = 200 + (phone_hash % np.uint64(800)).astype(np.int64)
        line = ((phone_hash >> np.uint64(20)) % np.uint64(10000)).astype(np.int64)
        corruption = A.uniform_int(rng("phone_corruption"), 0, len(V.PHONE_CORRUPTIONS), n)
        template = np.where(dirty, PHONE_CLEAN_FORMATS + corruption,
                            A.uniform_int(rng("phone_format"), 0, PHONE_CLEAN_FORMATS, n))
        letter_o = template == PHONE_CLEAN_FORMATS + V.PHONE_CORRUPTIONS.index("letter_o")
        cols["phone_raw"] = PHONE.build(t.area_code[loc], exchange, line, template, letter_o)

    if wants("ip_address"):
        # IPv4 as two halves "a.b" + "." + "c.d" looked up in a 65,536-entry table of dotted pairs.
        halves = A.draws16(rng("ip_address"), 2 * n).astype(np.int32)
        first = halves[:n]
        first = (1 + (first >> 8) % 223) << 8 | (first & 0xFF)  # first octet 1..223
        cols["ip_address"] = A.concat(A.take(t.octet_pairs, first), ".", A.take(t.octet_pairs, halves[n:]))

    # Dirty rows: city misspellings and the state spelled in another style.
    if wants("city_raw"):
        variant = rng("city_variant").random(n)
        city_dirty_idx = t.city_dirty_start[loc] + (variant * t.city_dirty_count[loc]).astype(np.int64)
        cols["city_raw"] = A.categorical(t.city, t.city_of[np.where(dirty, len(LOCATIONS) + city_dirty_idx, loc)])
    if wants("state_raw"):
        state_variant = np.where(dirty, 1 + A.uniform_int(rng("state_variant"), 0, len(STATE_VARIANTS), n), 0)
        cols["state_raw"] = A.categorical(t.state, t.state_of[loc * t.state_width + state_variant])
    if wants("zip_code"):
        zip_code = t.zip_first[loc] + (customer_hash(seed, "zip", customer) % t.zip_count[loc].astype(np.uint64)).astype(np.int64)
        cols["zip_code"] = prefixed_digits("", zip_code, 5)

    non_commerce = g.non_commerce
    if wants("product_id", "product_category"):
        product_num = A.uniform_int(rng("product_id"), 10000, 100000, n)
        cols["product_id"] = prefixed_digits("PRD", product_num, 5, non_commerce)
        category = (customer_hash(seed, "product_category", product_num) % np.uint64(len(V.PRODUCT_CATEGORIES))).astype(np.int32)
        cols["product_category"] = A.categorical(t.category, category, non_commerce)
    if wants("currency"):
        cols["currency"] = A.categorical(t.currency, A.weighted_choice(rng("currency"), V.weights(CURRENCIES), n))

    # Channel-device coherence: offline channels have no device and no browser.
    if wants("channel", "device_type", "browser", "raw_user_agent"):
        channel = A.weighted_choice(rng("channel"), V.weights(CHANNELS), n)
        offline = t.offline_channel[channel]
        cols["channel"] = A.categorical(t.channel, channel)
        device = t.device_table[channel, A.draws16(rng("device_type"), n)]
        cols["device_type"] = A.categorical(t.device, device, offline)
        browser = A.weighted_choice(rng("browser"), V.weights(BROWSERS), n)
        cols["browser"] = A.categorical(t.browser, browser, offline)

    # Web activity: page views only when browsing or buying; time and bounce follow them.
    if wants("page_views", "time_on_site_seconds", "bounce_rate", "click_count"):
        views = np.where(g.viewing, np.minimum(rng("page_views").geometric(0.18, n), 200), 0)
        cols["page_views"] = pa.array(views.astype(np.int32))
        cols["bounce_rate"] = pa.array((views == 1).astype(np.float64))
    if wants("time_on_site_seconds"):
        seconds = np.where(views > 0, np.maximum(1, np.rint(rng("time_on_site").gamma(np.maximum(views, 1), 40.0))), 0)
        cols["time_on_site_seconds"] = pa.array(np.minimum(seconds, 86_400).astype(np.int32))
    if wants("click_count"):
        clicks = 1 + rng("click_count").poisson(1.5 * views + 2.0)
        cols["click_count"] = A.nullable(clicks.astype(np.int32), pa.int32(), non_commerce)

    # Cart: what a purchase paid, what an abandoned cart held, sometimes something while browsing.
    if wants("cart_value", "items_in_cart"):
        cart_rng = rng("cart")
        cart_amount = np.round(np.clip(cart_rng.lognormal(V.AMOUNT_MU, V.AMOUNT_SIGMA, n), V.AMOUNT_MIN, V.AMOUNT_MAX), 2)
        browse_cart = cart_rng.random(n) < 0.30
        is_abandoned = g.itype == V.values(V.INTERACTION_TYPES).index("abandoned_cart")
        is_browse = g.viewing & ~g.is_purchase
        has_cart = g.is_purchase | is_abandoned | (is_browse & browse_cart)
        cart_value = np.where(g.is_purchase, g.amount, np.where(has_cart, cart_amount, 0.0))
        items = np.where(has_cart, np.minimum(1 + cart_rng.poisson(1.3, n), 20), 0)
        cols["cart_value"] = A.nullable(cart_value, pa.float64(), non_commerce)
        cols["items_in_cart"] = A.nullable(items.astype(np.int32), pa.int32(), non_commerce)

    # Support fields exist only on support events.
    not_support = ~g.is_support
    if wants("support_ticket_id"):
        ticket = A.uniform_int(rng("support_ticket_id"), 10000, 100000, n)
        cols["support_ticket_id"] = prefixed_digits("TKT", ticket, 5, not_support)
    if wants("issue_category"):
        issue = A.weighted_choice(rng("issue_category"), V.weights(ISSUE_CATEGORIES), n)
        cols["issue_category"] = A.categorical(t.issue, issue, not_support)
    if wants("satisfaction_score"):
        score = 1 + A.weighted_choice(rng("satisfaction_score"), V.weights(SATISFACTION), n)
        cols["satisfaction_score"] = A.nullable(score.astype(np.int32), pa.int32(), not_support)

    # Marketing attribution on ~40% of events; source and medium come in coherent pairs.
    if wants("campaign_id", "utm_source", "utm_medium"):
        campaign_rng = rng("campaign")
        no_campaign = campaign_rng.random(n) >= V.CAMPAIGN_SHARE
        cols["campaign_id"] = prefixed_digits("CMP", A.uniform_int(campaign_rng, 100, 1000, n), 3, no_campaign)
    if wants("utm_source", "utm_medium"):
        utm = A.weighted_choice(rng("utm"), V.weights(UTM_PAIRS), n)
        cols["utm_source"] = A.categorical(t.utm_source, t.utm_source_of[utm], no_campaign)
        cols["utm_medium"] = A.categorical(t.utm_medium, t.utm_medium_of[utm], no_campaign)

    # Points per dollar by tier; 10% of a member's rows redeem.
    member = g.member
    if wants("points_earned"):
        points = np.where(g.is_purchase & member, np.floor(g.amount * t.points_per_dollar[g.tier]), 0)
        cols["points_earned"] = pa.array(points.astype(np.int32))
    if wants("points_redeemed"):
        redeem_rng = rng("points_redeemed")
        redeems = member & (redeem_rng.random(n) < V.POINTS_REDEEMED_SHARE)
        redeemed = np.where(redeems, redeem_rng.integers(*V.POINTS_REDEEMED_RANGE, n), 0)
        cols["points_redeemed"] = pa.array(redeemed.astype(np.int32))

    if wants("raw_user_agent"):
        agent = np.where(offline, len(BROWSERS) * len(V.DEVICE_TYPES) + t.offline_agent[channel],
                         browser * len(V.DEVICE_TYPES) + device)
        cols["raw_user_agent"] = A.categorical(t.user_agent, agent)
    return cols


#: A cart holds what a purchase paid (or an abandoned cart held); items 0 exactly when it is empty.
CART_RULE = "purchase"

# -- what verify checks (derived from the tables above) ------------------------------------------
CITY_CLEAN = tuple(loc[0] for loc in LOCATIONS)
CITY_DIRTY = tuple(dict.fromkeys(m for loc in LOCATIONS for m in loc[7]))
#: Share of dirty rows whose city changes: all of them.
CITY_DIRTY_SHARE = 1.0


def _state_styles() -> dict[str, int]:
    """Spelling -> style: 0 the clean two-letter code, 1.. the dirty variants of STATE_VARIANTS."""
    styles: dict[str, int] = {}
    for loc in LOCATIONS:
        spellings = state_spellings(loc)
        styles.setdefault(spellings["code"], 0)
        for i, variant in enumerate(STATE_VARIANTS, start=1):
            styles.setdefault(spellings[variant], i)
    return styles


STATE_STYLES = _state_styles()
#: Dirty state styles every large enough sample shows.
STATE_VARIANT_STYLES = STATE_VARIANTS
