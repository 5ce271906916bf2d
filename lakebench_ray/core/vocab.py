"""Vocabularies and weights of the Customer360 dataset (spec: datagen-schema.md).

Each weighted vocabulary is a tuple of ``(value, weight)``; weights of one vocabulary sum to 1.
"""

from __future__ import annotations

INTERACTION_TYPES = (
    ("browse", 0.35),
    ("login", 0.20),
    ("purchase", 0.18),
    ("abandoned_cart", 0.15),
    ("support", 0.12),
)
#: Interaction types that carry no commerce fields (product, cart, clicks are null).
NON_COMMERCE = ("login", "support")
#: Interaction types with page views (and so time on site and bounce).
VIEWING = ("browse", "purchase")

PRODUCT_CATEGORIES = ("electronics", "clothing", "home_garden", "books", "sports")

CURRENCIES = (("USD", 0.70), ("EUR", 0.12), ("GBP", 0.10), ("CAD", 0.08))

CHANNELS = (
    ("web", 0.40),
    ("mobile_app", 0.30),
    ("store", 0.15),
    ("call_center", 0.08),
    ("social_media", 0.07),
)
#: Offline channels: no device, no browser (spec feature 5).
OFFLINE_CHANNELS = ("store", "call_center")

DEVICE_TYPES = ("desktop", "mobile", "tablet")
#: Device weights per online channel (channel-device coherence: apps run on phones and tablets).
DEVICE_WEIGHTS = {
    "web": (0.60, 0.30, 0.10),
    "mobile_app": (0.0, 0.80, 0.20),
    "social_media": (0.20, 0.70, 0.10),
}
BROWSERS = (("chrome", 0.62), ("safari", 0.22), ("firefox", 0.08), ("edge", 0.08))
BROWSER_VERSIONS = {"chrome": "118.0", "safari": "17.1", "firefox": "119.0", "edge": "118.0"}
DEVICE_OS = {"desktop": "Windows NT 10.0", "mobile": "Android 14", "tablet": "iPadOS 17.1"}
#: User agents of the systems behind the offline channels.
OFFLINE_USER_AGENTS = {"store": "pos-terminal/3.2 (store; Embedded)", "call_center": "agent-desktop/5.1 (call_center; Windows NT 10.0)"}

EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com", "aol.com")
EMAIL_CORRUPTIONS = ("missing_at", "all_caps", "whitespace", "double_at", "missing_tld", "at_replaced")
PHONE_FORMATS = ("e164", "parens", "dashes", "dots")
PHONE_CORRUPTIONS = ("digits_only", "extra_dashes", "truncated", "letter_o")

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

ISSUE_CATEGORIES = (
    ("billing", 0.30),
    ("technical", 0.25),
    ("general_inquiry", 0.25),
    ("shipping", 0.12),
    ("returns", 0.08),
)
SATISFACTION = ((1, 0.10), (2, 0.12), (3, 0.23), (4, 0.30), (5, 0.25))

CAMPAIGN_SHARE = 0.40
#: (utm_source, utm_medium) pairs that occur together, with weights.
UTM_PAIRS = (
    (("google", "cpc"), 0.22),
    (("google", "organic"), 0.14),
    (("facebook", "cpc"), 0.12),
    (("facebook", "social"), 0.08),
    (("instagram", "social"), 0.08),
    (("email", "email"), 0.16),
    (("direct", "referral"), 0.10),
    (("bing", "cpc"), 0.05),
    (("partner", "referral"), 0.05),
)

LOYALTY_MEMBER_SHARE = 0.60
LOYALTY_TIERS = (("bronze", 0.70), ("silver", 0.20), ("gold", 0.10))
#: Points per dollar of a member's purchase, by tier.
POINTS_PER_DOLLAR = {"bronze": 1.0, "silver": 1.5, "gold": 2.0}
POINTS_REDEEMED_SHARE = 0.10
POINTS_REDEEMED_RANGE = (100, 1000)

DATA_SOURCES = (("primary_system", 0.70), ("legacy_import", 0.15), ("manual_entry", 0.10), ("third_party_api", 0.05))
QUALITY_FLAGS = (("clean", 0.92), ("duplicate_suspected", 0.02), ("incomplete_data", 0.03), ("format_inconsistent", 0.03))

ZIPF_ALPHA = 1.5
AMOUNT_MU, AMOUNT_SIGMA = 4.3, 1.2
AMOUNT_MIN, AMOUNT_MAX = 1.00, 9999.99


def values(vocab) -> tuple:
    return tuple(v for v, _ in vocab)


def weights(vocab) -> tuple:
    return tuple(w for _, w in vocab)
