"""What the spec (and the dataset's profile) says the rows must look like: the vocabularies in
the form the checks use, and the table of rules with their expected values. Kept apart from the
code that counts rows so that the list of what is checked reads as one table."""

from __future__ import annotations

import math
import re

import numpy as np

from ..core import GenParams, profiles
from ..core import vocab as V
from .columns import index_of as _index
from .rules import RuleSet

#: Riemann zeta(1.5): normalises the Zipf(1.5) customer shares.
ZETA_1_5 = 2.612375348685488

#: Columns of the null-pattern heatmap.
NULL_COLUMNS = (
    "product_id", "product_category", "cart_value", "items_in_cart", "click_count", "support_ticket_id",
    "issue_category", "satisfaction_score", "campaign_id", "utm_source", "utm_medium", "device_type", "browser",
    "loyalty_tier",
)
ITYPES = V.values(V.INTERACTION_TYPES)
IT = {name: i for i, name in enumerate(ITYPES)}
DIRTY_FIELDS = ("email_raw", "phone_raw", "city_raw", "state_raw")

#: Log-spaced bins of the transaction-amount histogram (1.00 .. 9,999.99).
AMOUNT_BINS = np.logspace(0, 4, 81)

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


class Facts:
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


def declare(r: RuleSet, p: GenParams, facts: Facts) -> None:
    """Every rule of the spec for a dataset of ``p``, with its expected value, into ``r``."""
    P = facts.profile
    r.exact("ids_contiguous", "id = file_id*rows_per_file + row, row_id = id")
    if p.timestamp_order == "by_file":
        r.exact("timestamp_in_range", f"event_timestamp in the file's slice of [{p.timestamp_start}, "
                f"{p.timestamp_end}) ({p.timestamp_slices} slices in file-id order)")
        r.exact("timestamp_sorted", "rows sorted by event_timestamp within each file")
    else:
        r.exact("timestamp_in_range", f"event_timestamp in [{p.timestamp_start}, {p.timestamp_end})")
    r.exact("uuid_v4", "event_id and session_id are UUID v4 strings")
    r.exact("customer_id_in_range", f"customer_id in [0, {p.customer_id_max}]")
    for col, _vocab in facts.distributions:
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

    for col, vocab in facts.distributions:
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
