"""The per-batch checks of :class:`~lakebench_ray.verify.conformance.Conformance`: one batch of
rows through every rule at once, and its counts into the accumulators. A mixin, so that the
longest piece of verification (one numpy expression per rule) sits apart from the file
streaming and the bookkeeping around it, yet updates the same state."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..core import vocab as V
from .columns import IPV4 as _IPV4, UUID4 as _UUID4
from .columns import codes as _codes, contains as _contains, match as _match, nulls as _nulls, values as _values
from .expectations import AMOUNT_BINS, DIRTY_FIELDS, IT as _IT, ITYPES, NULL_COLUMNS, PHONE_MODES

#: Tier code of a customer id not seen yet (codes: 0 non-member, 1.. a tier).
UNSEEN = 255


class _View:
    """One batch as the sections of :meth:`BatchChecks._batch` see it: its columns by name, the
    ids for messages, and what one section derives for the next (codes, masks, nulls)."""

    def __init__(self, batch: pa.RecordBatch, name: str, first_id: int) -> None:
        self.name, self.first_id, self.n = name, first_id, batch.num_rows
        self.col = {f.name: batch.column(i) for i, f in enumerate(batch.schema)}
        self.ids = _values(self.col["id"], -1)
        self.codes: dict[str, np.ndarray] = {}

    def where(self, mask: np.ndarray) -> str:
        """Where the first row a rule failed on is, for the message."""
        return f"{self.name} id {self.ids[int(np.argmax(mask))]}"


class BatchChecks:
    """Needs ``params``, ``facts``, ``rules``, ``_hex`` and the accumulators of ``Conformance``."""

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
        """One batch through every rule, a section of the spec at a time (each section below
        reads the columns it checks from ``b`` and adds what later sections need to it)."""
        b = _View(batch, name, first_id)
        self._ids_and_times(b)
        self._customers(b)
        self._distributions(b)
        self._conditional_nulls(b)
        self._marketing(b)
        self._channels(b)
        self._amounts(b)
        self._web_and_cart(b)
        self._loyalty_rules(b)
        self._dirty(b)
        r, col, n, where = self.rules, b.col, b.n, b.where
        r.count("zip_code_format", ~_match(col["zip_code"], r"^[0-9]{5}$"), n, where)
        r.count("ip_address_format", ~_match(col["ip_address"], _IPV4), n, where)
        r.count("session_fingerprint_hex64", ~_match(col["session_fingerprint"], r"^[0-9a-f]{64}$"), n, where)

    def _ids_and_times(self, b: "_View") -> None:
        r, col, n, where, ids = self.rules, b.col, b.n, b.where, b.ids
        expected_ids = np.arange(b.first_id, b.first_id + n, dtype=np.int64)
        row_ids = _values(col["row_id"], -1)
        r.count("ids_contiguous", _nulls(col["id"]) | (ids != expected_ids) | (row_ids != ids), n, where)

        start_us, end_us = self.params.file_time_range_us(b.first_id // self.params.rows_per_file)
        ts_null = _nulls(col["event_timestamp"])
        ts = _values(col["event_timestamp"].cast(pa.int64()), start_us)
        r.count("timestamp_in_range", ts_null | (ts < start_us) | (ts >= end_us), n, where)
        if "timestamp_sorted" in r:
            previous = np.concatenate([[self._last_ts.get(b.name, ts[0] if n else 0)], ts[:-1]])
            r.count("timestamp_sorted", ts < previous, n, where)
            if n:
                self._last_ts[b.name] = int(ts[-1])
        quarter = np.clip(((ts - start_us) * 4) // max(1, end_us - start_us), 0, 3)
        for q, c in enumerate(np.bincount(quarter[~ts_null], minlength=4)):
            r.add_share(f"share.timestamp_quarter_{q + 1}", c, n)

        r.count("uuid_v4", ~(_match(col["event_id"], _UUID4) & _match(col["session_id"], _UUID4)), n, where)

    def _customers(self, b: "_View") -> None:
        """Customer ids in range and Zipf-shaped (their counts feed the distribution check)."""
        r, n = self.rules, b.n
        cid_null = _nulls(b.col["customer_id"])
        b.cid = cid = _values(b.col["customer_id"], -1)
        cmax = self.params.customer_id_max
        b.cid_in_range = in_range = ~cid_null & (cid >= 0) & (cid <= cmax)
        r.count("customer_id_in_range", ~in_range, n, b.where)
        for k in (1, 2, 3):
            r.add_share(f"share.customer_{k}", np.count_nonzero(cid == k), n)
        counted = cid[in_range]
        low = counted[counted < len(self.customer_counts)]
        self.customer_counts += np.bincount(low, minlength=len(self.customer_counts))
        self.customers_beyond += len(counted) - len(low)

    def _distributions(self, b: "_View") -> None:
        """Categorical columns: every value known, and its share counted."""
        r, n, facts = self.rules, b.n, self.facts
        for column, vocab in facts.distributions:
            c = _codes(b.col[column], facts.index[column])
            b.codes[column] = c
            r.count(f"{column}_known", c < 0, n, b.where)
            counts = np.bincount(c[c >= 0], minlength=len(vocab))
            self.dist_counts[column] += counts
            for (value, _w), hits in zip(vocab, counts):
                r.add_share(f"share.{column}.{value}", hits, n)
        it = b.codes["interaction_type"]
        b.login, b.support = it == _IT["login"], it == _IT["support"]
        b.purchase, b.browse = it == _IT["purchase"], it == _IT["browse"]
        b.non_commerce = b.login | b.support
        b.viewing = b.browse | b.purchase

    def _conditional_nulls(self, b: "_View") -> None:
        """Spec feature 3: product and cart columns null on login and support, support columns
        only on support."""
        r, col, n, where, index = self.rules, b.col, b.n, b.where, self.facts.index
        it = b.codes["interaction_type"]
        b.nulls = nulls = {c: _nulls(col[c]) for c in NULL_COLUMNS}
        cart_nan = np.isnan(_values(col["cart_value"], 0.0))
        nulls["cart_value"] = nulls["cart_value"] | cart_nan
        known_it = it >= 0
        self.itype_rows += np.bincount(it[known_it], minlength=len(ITYPES))
        for i, c in enumerate(NULL_COLUMNS):
            self.null_counts[i] += np.bincount(it[known_it & nulls[c]], minlength=len(ITYPES))
        for c in ("product_id", "product_category", "cart_value", "items_in_cart", "click_count"):
            r.count(f"login_support_null.{c}", nulls[c] != b.non_commerce, n, where)
        for c in ("support_ticket_id", "issue_category", "satisfaction_score"):
            r.count(f"support_only.{c}", nulls[c] == b.support, n, where)

        category = _codes(col["product_category"], index["product_category"])
        product_ok = _match(col["product_id"], r"^PRD[0-9]{5}$") & (category >= 0)
        r.count("product_fields_valid", ~b.non_commerce & ~nulls["product_id"] & ~product_ok, n, where)
        issue = _codes(col["issue_category"], index["issue_category"])
        score = _values(col["satisfaction_score"], 0)
        support_ok = _match(col["support_ticket_id"], r"^TKT[0-9]{5}$") & (issue >= 0) & (score >= 1) & (score <= 5)
        r.count("support_fields_valid", b.support & ~support_ok, n, where)

    def _marketing(self, b: "_View") -> None:
        """Campaign, source and medium together, and only known pairs."""
        r, col, n, where, facts = self.rules, b.col, b.n, b.where, self.facts
        has_campaign = ~b.nulls["campaign_id"]
        r.count("campaign_utm_together",
                (b.nulls["utm_source"] == has_campaign) | (b.nulls["utm_medium"] == has_campaign), n, where)
        r.add_share("share.campaign", np.count_nonzero(has_campaign), n)
        src = _codes(col["utm_source"], facts.index["utm_source"])
        med = _codes(col["utm_medium"], facts.index["utm_medium"])
        pair_ok = (src >= 0) & (med >= 0)
        pair_ok[pair_ok] = facts.utm_valid[src[pair_ok], med[pair_ok]]
        campaign_ok = _match(col["campaign_id"], r"^CMP[0-9]{3}$") & pair_ok
        r.count("campaign_fields_valid", has_campaign & ~campaign_ok, n, where)

    def _channels(self, b: "_View") -> None:
        """Spec feature 5: offline channels have no device or browser."""
        r, col, n, where, facts = self.rules, b.col, b.n, b.where, self.facts
        channel = b.codes["channel"]
        offline = np.zeros(n, dtype=bool)
        offline[channel >= 0] = facts.offline[channel[channel >= 0]]
        r.count("offline_no_device.device_type", b.nulls["device_type"] != offline, n, where)
        r.count("offline_no_device.browser", b.nulls["browser"] != offline, n, where)
        device = _codes(col["device_type"], facts.index["device_type"])
        browser = _codes(col["browser"], facts.index["browser"])
        r.count("device_browser_known", (device == -2) | (browser == -2), n, where)

    def _amounts(self, b: "_View") -> None:
        """Spec feature 6: purchases carry a log-normal amount in cents, everything else 0."""
        r, n, where, purchase = self.rules, b.n, b.where, b.purchase
        amount_null = _nulls(b.col["transaction_amount"])
        b.amount = amount = _values(b.col["transaction_amount"], np.nan)
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

    def _web_and_cart(self, b: "_View") -> None:
        """Page views, time on site and bounce follow the event type; cart and clicks in range."""
        r, col, n, where, viewing = self.rules, b.col, b.n, b.where, b.viewing
        P = self.facts.profile
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
            cart_ok &= ~b.purchase | (cart == b.amount)
        else:
            lo, hi = P.PAGE_VIEWS_RANGE
            t_lo, t_hi = P.TIME_ON_SITE_RANGE
            web_ok = np.where(viewing, (views >= lo) & (views < hi) & (seconds >= t_lo) & (seconds < t_hi), True)
            r.count("web_ranges", ~web_ok, n, where)
            cart_ok = (clicks >= P.CLICK_RANGE[0]) & (clicks < P.CLICK_RANGE[1])
            cart_ok &= (items >= P.ITEMS_RANGE[0]) & (items < P.ITEMS_RANGE[1]) & (cart >= 0.0) & (cart <= P.CART_MAX)
        r.count("cart_and_clicks", ~b.non_commerce & ~cart_ok, n, where)

    def _loyalty_rules(self, b: "_View") -> None:
        """Spec feature 7: a tier exactly for members, one tier per customer, points by the rules."""
        r, col, n, where, facts = self.rules, b.col, b.n, b.where, self.facts
        member_null = _nulls(col["loyalty_member"])
        member = _values(col["loyalty_member"], False).astype(bool)
        tier = _codes(col["loyalty_tier"], facts.index["loyalty_tier"])  # 0..2, -1 null, -2 unknown
        r.count("loyalty_tier_iff_member", member_null | (tier == -2) | (member != (tier >= 0)), n, where)
        code = np.where(member & (tier >= 0), tier + 1, 0).astype(np.uint8)
        self._loyalty(b.cid, code, b.cid_in_range, n, where)
        earned = _values(col["points_earned"], -1)
        rate = facts.points_rate
        member_purchase = member & b.purchase & (tier >= 0)
        with np.errstate(invalid="ignore"):
            due = np.where(member_purchase, np.floor(np.nan_to_num(b.amount) * rate[np.maximum(tier, -1) + 1]), 0)
        r.count("points_earned_rule", earned != due, n, where)
        redeemed = _values(col["points_redeemed"], -1)
        lo, hi = V.POINTS_REDEEMED_RANGE
        redeem_ok = np.where(member, (redeemed == 0) | ((redeemed >= lo) & (redeemed < hi)), redeemed == 0)
        r.count("points_redeemed_rule", ~redeem_ok, n, where)
        r.add_share("share.points_redeemed", np.count_nonzero(member & (redeemed > 0)), np.count_nonzero(member))

    def _dirty(self, b: "_View") -> None:
        """Spec feature 4: dirty values are known corruptions, in the profile's shares."""
        r, col, n, where, facts = self.rules, b.col, b.n, b.where, self.facts
        P = facts.profile
        email, phone = col["email_raw"], col["phone_raw"]
        clean_email = _match(email, facts.clean_email)
        clean_phone = _match(phone, P.PHONE_PATTERNS["clean"])
        city = _codes(col["city_raw"], facts.index["city_raw"])
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
