"""Dirty-data corruptions (spec feature 4) as whole-column operations, shared by the profiles.

Emails are assembled from per-row pieces picked by a corruption code (0 clean, 1..6 the modes of
:data:`.vocab.EMAIL_CORRUPTIONS`); phone numbers from a digit matrix laid out by a per-row
template, so every format and corruption is one gather, never a loop over rows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import arrays as A
from . import vocab as V
from .strings import digit_matrix, templated_strings

EMAIL_MODE = {name: i + 1 for i, name in enumerate(V.EMAIL_CORRUPTIONS)}
#: Per corruption code (0 clean, then the six modes): text before, between and after the parts.
_EMAIL_LEAD = A.strings(("", "", "", "  ", "", "", ""))
_EMAIL_SEP = A.strings(("@", "", "@", "@", "@@", "@", ".at."))
_EMAIL_TRAIL = A.strings(("", "", "", "  ", "", "", ""))


def email_modes(rng: np.random.Generator, dirty: np.ndarray) -> np.ndarray:
    """0 on clean rows, else one of the six corruptions, equally likely."""
    modes = 1 + rng.integers(0, len(V.EMAIL_CORRUPTIONS), len(dirty))
    return np.where(dirty, modes, 0).astype(np.int32)


def emails(local: pa.Array, domains: tuple, domain_idx: np.ndarray, mode: np.ndarray) -> pa.Array:
    """``local@domain`` with each row's corruption: no @, ALL CAPS, surrounding spaces, @@, no
    top-level domain, @ written as .at."""
    with_tld = A.strings(domains)
    without_tld = A.strings(d.rsplit(".", 1)[0] for d in domains)
    domain = A.where(mode == EMAIL_MODE["missing_tld"], A.take(without_tld, domain_idx), A.take(with_tld, domain_idx))
    email = A.concat(A.take(_EMAIL_LEAD, mode), local, A.take(_EMAIL_SEP, mode), domain, A.take(_EMAIL_TRAIL, mode))
    return A.where(mode == EMAIL_MODE["all_caps"], pc.ascii_upper(email), email)


class PhoneTemplates:
    """Phone formats as templates over a row's digits: ``A`` area code, ``E`` exchange, ``L``
    line number; any other character is literal."""

    _LITERALS = "+1() -."

    def __init__(self, templates: tuple[str, ...]):
        width = max(len(t) for t in templates)
        layouts = np.zeros((len(templates), width), dtype=np.intp)
        for f, template in enumerate(templates):
            counters = {"A": 0, "E": 3, "L": 6}
            for pos, ch in enumerate(template):
                if ch in counters:
                    layouts[f, pos] = counters[ch]
                    counters[ch] += 1
                else:
                    layouts[f, pos] = 10 + self._LITERALS.index(ch)
        self.layouts = layouts
        self.lengths = np.array([len(t) for t in templates], dtype=np.int32)
        self.literals = np.frombuffer(self._LITERALS.encode(), dtype=np.uint8)

    def build(self, area: np.ndarray, exchange: np.ndarray, line: np.ndarray, template: np.ndarray,
              letter_o: np.ndarray) -> pa.StringArray:
        """Each row's number in its template; on ``letter_o`` rows the first digit 0 becomes the
        letter O (the last digit when the number has no 0, so the value always changes)."""
        n = len(template)
        literals = np.broadcast_to(self.literals, (n, len(self.literals)))
        chars = np.concatenate(
            [digit_matrix(area, 3), digit_matrix(exchange, 3), digit_matrix(line, 4), literals], axis=1
        )
        if letter_o.any():
            rows = np.flatnonzero(letter_o)
            digit_part = chars[rows, :10]
            zero = digit_part == ord("0")
            pos = np.where(zero.any(axis=1), np.argmax(zero, axis=1), 9)
            chars[rows, pos] = ord("O")
        return templated_strings(chars, self.layouts, self.lengths, template)
