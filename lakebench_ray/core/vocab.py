"""The spec's vocabularies and weights, shared by every profile (spec: datagen-schema.md).

Each weighted vocabulary is a tuple of ``(value, weight)``; weights of one vocabulary sum to 1.
What the spec leaves open (channel mix, page views, contact data, ...) belongs to a profile:
see :mod:`.profiles`.
"""

from __future__ import annotations

INTERACTION_TYPES = (
    ("browse", 0.35),
    ("login", 0.20),
    ("purchase", 0.18),
    ("abandoned_cart", 0.15),
    ("support", 0.12),
)

PRODUCT_CATEGORIES = ("electronics", "clothing", "home_garden", "books", "sports")
CURRENCIES = ("USD", "EUR", "GBP", "CAD")
CHANNELS = ("web", "mobile_app", "store", "call_center", "social_media")
#: Offline channels: no device, no browser (spec feature 5).
OFFLINE_CHANNELS = ("store", "call_center")
DEVICE_TYPES = ("desktop", "mobile", "tablet")
BROWSERS = ("chrome", "safari", "firefox", "edge")

#: The six email and four phone corruptions of dirty rows (spec feature 4), in this order.
EMAIL_CORRUPTIONS = ("missing_at", "all_caps", "whitespace", "double_at", "missing_tld", "at_replaced")
PHONE_CORRUPTIONS = ("digits_only", "extra_dashes", "truncated", "letter_o")

CAMPAIGN_SHARE = 0.40

LOYALTY_MEMBER_SHARE = 0.60
LOYALTY_TIERS = (("bronze", 0.70), ("silver", 0.20), ("gold", 0.10))
POINTS_REDEEMED_SHARE = 0.10
POINTS_REDEEMED_RANGE = (100, 1000)  # [low, high)

DATA_SOURCES = (("primary_system", 0.70), ("legacy_import", 0.15), ("manual_entry", 0.10), ("third_party_api", 0.05))
QUALITY_FLAGS = (("clean", 0.92), ("duplicate_suspected", 0.02), ("incomplete_data", 0.03), ("format_inconsistent", 0.03))

ZIPF_ALPHA = 1.5
AMOUNT_MU, AMOUNT_SIGMA = 4.3, 1.2
AMOUNT_MIN, AMOUNT_MAX = 1.00, 9999.99


def values(vocab) -> tuple:
    return tuple(v for v, _ in vocab)


def weights(vocab) -> tuple:
    return tuple(w for _, w in vocab)


def uniform(values_: tuple) -> tuple:
    """A weighted vocabulary with every value equally likely."""
    return tuple((v, 1.0 / len(values_)) for v in values_)
