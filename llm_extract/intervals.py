"""Proportions with 95 % intervals, and the difference of two proportions.

Wilson's score interval for one proportion (it stays inside [0, 1] and keeps
its coverage for small counts and rates near 0 or 1, where the textbook
``p ± 1.96·sqrt(p(1-p)/n)`` does not), and Newcombe's hybrid score interval
(his method 10) for the difference of two independent proportions, built from
the two Wilson intervals.  References: E. B. Wilson, JASA 22 (1927) 209-212;
R. G. Newcombe, Statistics in Medicine 17 (1998) 857-872 and 873-890.

>>> print(Rate.of(250, 286))  # the corpus's uphold rate
87.4% (250/286; 95% CI 83.1-90.8%)
>>> print(compare(Rate.of(250, 286), 0.916))  # vs a published 91.6 %
-4.2 points (95% CI -8.5 to -0.8)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile
# Groups with fewer items than this are marked: their interval is wide, and a
# rate over them says little (published IMR analyses use the same cut).
SMALL_GROUP = 20


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of ``k`` successes in ``n`` trials (``(0, 1)`` when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and n: k={k}, n={n}")
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # k = 0 or k = n: the bound is exactly 0 or 1 (float noise would leave 1e-17)
    return (0.0 if k == 0 else max(0.0, centre - half)), (
        1.0 if k == n else min(1.0, centre + half)
    )


@dataclass(frozen=True)
class Rate:
    """``k`` of ``n``, with its 95 % Wilson interval."""

    k: int
    n: int
    low: float
    high: float

    @classmethod
    def of(cls, k: int, n: int) -> Rate:
        low, high = wilson(k, n)
        return cls(k, n, low, high)

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def small(self) -> bool:
        return self.n < SMALL_GROUP

    def as_dict(self) -> dict[str, float | int | bool | None]:
        return {
            "rate": self.value,
            "k": self.k,
            "n": self.n,
            "low": self.low if self.n else None,
            "high": self.high if self.n else None,
            "small": self.small,
        }

    def __str__(self) -> str:
        """``87.4% (250/286; 95% CI 83.1-90.8%)``."""
        if not self.n:
            return "- (0 items)"
        return (
            f"{100 * self.k / self.n:.1f}% ({self.k}/{self.n}; 95% CI "
            f"{100 * self.low:.1f}-{100 * self.high:.1f}%)"
        )


@dataclass(frozen=True)
class Difference:
    """``a - b`` with its 95 % interval; the difference is significant at the 5 %
    level when the interval excludes 0."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def __str__(self) -> str:
        return (
            f"{100 * self.estimate:+.1f} points (95% CI {100 * self.low:+.1f} to "
            f"{100 * self.high:+.1f})"
        )


def compare(a: Rate, b: Rate | float) -> Difference:
    """The difference ``a - b`` with Newcombe's hybrid score interval.

    ``b`` may be a bare proportion: a published figure over so many cases that
    its own uncertainty is negligible (the DWC's annual uphold rate); then the
    interval is ``a``'s Wilson interval shifted by it.
    """
    if a.n == 0 or (isinstance(b, Rate) and b.n == 0):
        raise ValueError("cannot compare a rate over 0 items")
    p1 = a.k / a.n
    if not isinstance(b, Rate):
        return Difference(p1 - b, a.low - b, a.high - b)
    p2 = b.k / b.n
    d = p1 - p2
    return Difference(
        d,
        d - math.sqrt((p1 - a.low) ** 2 + (b.high - p2) ** 2),
        d + math.sqrt((a.high - p1) ** 2 + (p2 - b.low) ** 2),
    )
