"""Rules as accumulators: counts grow batch by batch, the verdict is computed once at the end.

Four kinds of rule:

* **exact**: no row may break it (``violations == 0``); the first offending row is remembered.
* **share**: an observed share ``hits / total`` must be within ``tolerance(p, total)`` of ``p``.
  A share estimated from n independent rows has standard error sqrt(p(1-p)/n); six standard
  errors plus 1e-3 (the 16-bit quantisation of the generator's weights) make a correct dataset
  fail with probability below 1e-8 per rule, while a weight off by a few points fails.
* **mean**: a sample mean must be within 6 standard errors (plus a fixed slack) of its target.
* **presence**: every expected value must be observed at least once, once the sample is large
  enough that a correct dataset misses one with negligible probability.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Iterable, Optional

import numpy as np

SIGMAS = 6.0
SLACK = 1e-3


def tolerance(p: float, n: int) -> float:
    """Allowed |observed - p| for a share estimated from ``n`` rows."""
    return SIGMAS * math.sqrt(max(p * (1 - p), 1e-12) / max(n, 1)) + SLACK


@dataclasses.dataclass
class RuleResult:
    name: str
    kind: str  # completeness | exact | share | mean | presence
    expected: str
    observed: str
    ok: Optional[bool]  # None: skipped (not enough rows to judge)
    description: str = ""
    problem: str = ""  # one line naming the failure (empty when ok)

    @property
    def status(self) -> str:
        return "skip" if self.ok is None else ("pass" if self.ok else "FAIL")

    def as_dict(self) -> dict:
        return dict(dataclasses.asdict(self), status=self.status)


@dataclasses.dataclass
class _Exact:
    description: str
    checked: int = 0
    violations: int = 0
    first: str = ""


@dataclasses.dataclass
class _Share:
    description: str
    p: float
    hits: int = 0
    total: int = 0
    unit: str = "rows"


@dataclasses.dataclass
class _Mean:
    description: str
    target: float
    slack: float
    spread: float  # the population standard deviation used for the standard error
    total: float = 0.0
    n: int = 0


@dataclasses.dataclass
class _Presence:
    description: str
    expected: tuple
    min_population: int
    seen: set = dataclasses.field(default_factory=set)
    population: int = 0
    unit: str = "rows"


class RuleSet:
    """Named rules in a fixed order, fed with counts from each batch."""

    def __init__(self) -> None:
        self._rules: dict[str, object] = {}

    # -- declaration ---------------------------------------------------------------------------
    def exact(self, name: str, description: str) -> None:
        self._rules[name] = _Exact(description)

    def share(self, name: str, p: float, description: str, unit: str = "rows") -> None:
        self._rules[name] = _Share(description, float(p), unit=unit)

    def mean(self, name: str, target: float, spread: float, slack: float, description: str) -> None:
        self._rules[name] = _Mean(description, float(target), float(slack), float(spread))

    def presence(self, name: str, expected: Iterable, description: str, min_population: int, unit: str = "rows") -> None:
        self._rules[name] = _Presence(description, tuple(expected), int(min_population), unit=unit)

    def __contains__(self, name: str) -> bool:
        return name in self._rules

    # -- accumulation --------------------------------------------------------------------------
    def count(self, name: str, bad, checked: int, where: Callable[[np.ndarray], str] | None = None) -> None:
        """``bad``: a boolean mask over the checked rows (or a count); ``where(mask)`` names the
        first offending row for the message."""
        rule = self._rules[name]
        assert isinstance(rule, _Exact), name
        if isinstance(bad, np.ndarray):
            n_bad = int(np.count_nonzero(bad))
        else:
            n_bad = int(bad)
        rule.checked += int(checked)
        if n_bad:
            rule.violations += n_bad
            if not rule.first and where is not None:
                rule.first = where(bad) if isinstance(bad, np.ndarray) else where(None)

    def add_share(self, name: str, hits: int, total: int) -> None:
        rule = self._rules[name]
        assert isinstance(rule, _Share), name
        rule.hits += int(hits)
        rule.total += int(total)

    def set_share(self, name: str, hits: int, total: int) -> None:
        rule = self._rules[name]
        assert isinstance(rule, _Share), name
        rule.hits, rule.total = int(hits), int(total)

    def add_mean(self, name: str, total: float, n: int) -> None:
        rule = self._rules[name]
        assert isinstance(rule, _Mean), name
        rule.total += float(total)
        rule.n += int(n)

    def observe(self, name: str, values: Iterable, population: int) -> None:
        rule = self._rules[name]
        assert isinstance(rule, _Presence), name
        rule.seen.update(values)
        rule.population += int(population)

    # -- verdicts ------------------------------------------------------------------------------
    def results(self) -> list[RuleResult]:
        return [_verdict(name, rule) for name, rule in self._rules.items()]


def _verdict(name: str, rule) -> RuleResult:
    if isinstance(rule, _Exact):
        ok = rule.violations == 0 if rule.checked else None
        observed = f"{rule.violations:,} of {rule.checked:,} rows" if rule.checked else "no rows"
        problem = ""
        if ok is False:
            problem = f"rule {name} violated in {rule.violations:,} rows"
            if rule.first:
                problem += f" (first: {rule.first})"
        return RuleResult(name, "exact", "0 rows", observed, ok, rule.description, problem)
    if isinstance(rule, _Share):
        if rule.total == 0:
            return RuleResult(name, "share", f"{rule.p:.4f}", f"no {rule.unit}", None, rule.description)
        tol = tolerance(rule.p, rule.total)
        share = rule.hits / rule.total
        ok = abs(share - rule.p) <= tol
        observed = f"{share:.4f} (n={rule.total:,})"
        problem = "" if ok else (
            f"rule {name}: share {share:.4f} over {rule.total:,} {rule.unit}, expected {rule.p:.4f} +- {tol:.4f}"
        )
        return RuleResult(name, "share", f"{rule.p:.4f} +- {tol:.4f}", observed, ok, rule.description, problem)
    if isinstance(rule, _Mean):
        if rule.n == 0:
            return RuleResult(name, "mean", f"{rule.target:.3f}", "no rows", None, rule.description)
        tol = SIGMAS * rule.spread / math.sqrt(rule.n) + rule.slack
        value = rule.total / rule.n
        ok = abs(value - rule.target) <= tol
        problem = "" if ok else f"rule {name}: {value:.4f} over {rule.n:,} rows, expected {rule.target:.3f} +- {tol:.4f}"
        return RuleResult(name, "mean", f"{rule.target:.3f} +- {tol:.3f}", f"{value:.4f} (n={rule.n:,})", ok,
                          rule.description, problem)
    assert isinstance(rule, _Presence)
    missing = [v for v in rule.expected if v not in rule.seen]
    expected = f"all {len(rule.expected)}"
    observed = f"{len(rule.expected) - len(missing)} of {len(rule.expected)} (n={rule.population:,})"
    if rule.population < rule.min_population:
        return RuleResult(name, "presence", expected, observed + ", too few to judge", None, rule.description)
    ok = not missing
    problem = "" if ok else f"rule {name}: never observed {', '.join(map(str, missing))} among {rule.population:,} {rule.unit}"
    return RuleResult(name, "presence", expected, observed, ok, rule.description, problem)
