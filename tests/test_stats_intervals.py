"""Wilson and Newcombe intervals against published values and their closed form."""

from __future__ import annotations

import math

import pytest

from llm_extract.intervals import SMALL_GROUP, Rate, compare, wilson


# Newcombe, "Two-sided confidence intervals for the single proportion: comparison
# of seven methods", Statistics in Medicine 17 (1998) 857-872, Table I, method 3
# (score method without continuity correction), to 4 decimals.
@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe_1998(k: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson(k, n)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def _wilson_by_quadratic(k: int, n: int, z: float) -> tuple[float, float]:
    # The score interval is where (p_hat - p)^2 = z^2 p (1 - p) / n: solve the
    # quadratic a p^2 + b p + c = 0 directly (an independent route to the same bounds).
    p_hat = k / n
    a = 1 + z * z / n
    b = -(2 * p_hat + z * z / n)
    c = p_hat * p_hat
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize(("k", "n"), [(250, 286), (36, 286), (3, 4), (1, 1), (0, 7), (47, 286)])
def test_wilson_is_the_score_equation_root(k: int, n: int) -> None:
    z = 1.959963984540054
    lo, hi = wilson(k, n)
    qlo, qhi = _wilson_by_quadratic(k, n, z)
    assert lo == pytest.approx(max(qlo, 0.0), abs=1e-12)
    assert hi == pytest.approx(min(qhi, 1.0), abs=1e-12)
    assert lo <= k / n <= hi


# Newcombe, "Interval estimation for the difference between independent
# proportions: comparison of eleven methods", Statistics in Medicine 17 (1998)
# 873-890, Table II, method 10 (hybrid score), to 4 decimals.
@pytest.mark.parametrize(
    ("a", "b", "low", "high"),
    [
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((5, 56), (0, 29), -0.0381, 0.1926),
    ],
)
def test_newcombe_difference_matches_the_paper(
    a: tuple[int, int], b: tuple[int, int], low: float, high: float
) -> None:
    d = compare(Rate.of(*a), Rate.of(*b))
    assert d.estimate == pytest.approx(a[0] / a[1] - b[0] / b[1])
    assert (round(d.low, 4), round(d.high, 4)) == (low, high)


def test_the_corpus_uphold_rate_against_a_published_figure() -> None:
    ours = Rate.of(250, 286)
    assert str(ours) == "87.4% (250/286; 95% CI 83.1-90.8%)"
    d = compare(ours, 0.916)
    assert str(d) == "-4.2 points (95% CI -8.5 to -0.8)"
    assert d.excludes_zero
    # against a sample of the same size at 91.6 % the difference is no longer clear
    assert not compare(ours, Rate.of(262, 286)).excludes_zero


def test_small_groups_and_empty_rates() -> None:
    assert Rate.of(3, SMALL_GROUP - 1).small and not Rate.of(3, SMALL_GROUP).small
    empty = Rate.of(0, 0)
    assert empty.value is None and empty.as_dict()["low"] is None and str(empty) == "- (0 items)"
    with pytest.raises(ValueError, match="0 items"):
        compare(empty, 0.5)
    with pytest.raises(ValueError):
        wilson(5, 3)


def test_the_module_examples_hold() -> None:
    import doctest

    import llm_extract.intervals

    assert doctest.testmod(llm_extract.intervals).failed == 0
