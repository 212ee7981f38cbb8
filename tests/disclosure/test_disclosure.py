from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gql_trust.disclosure import P_TABLE, perturb, ten_five
from gql_trust.disclosure.cell_key import KEY_SPACE, LARGE, LARGE_NOISE, MAX_NOISE


@pytest.mark.parametrize(
    ("value", "published"),
    [(None, None), (0, None), (9, None), (10, 10), (12, 10), (13, 15), (17, 15), (18, 20)],
)
def test_ten_five(value: int | None, published: int | None) -> None:
    assert ten_five(value) == published


@given(st.integers(min_value=0, max_value=10**9), st.integers(0, KEY_SPACE - 1))
def test_perturbation_bounds(count: int, key: int) -> None:
    published = perturb(count, key)
    assert abs(published - count) <= MAX_NOISE <= 5
    assert published not in (1, 2)
    assert published >= 0
    if count == 0:
        assert published == 0


@given(st.integers(min_value=0, max_value=10**6), st.integers(0, KEY_SPACE - 1))
def test_same_cell_same_value(count: int, key: int) -> None:
    assert perturb(count, key) == perturb(count, key)


@pytest.mark.parametrize("count", [*range(LARGE), LARGE])
def test_noise_has_zero_mean(count: int) -> None:
    row = P_TABLE.get(count) or tuple((count + n, p) for n, p in LARGE_NOISE)
    assert sum(p for _, p in row) == 1
    assert sum(Fraction(v) * p for v, p in row) == count


@pytest.mark.parametrize("count", [*range(1, LARGE), LARGE, 100])
def test_keys_spread_over_the_table(count: int) -> None:
    """Evenly spaced keys reproduce the table's probabilities (to one key in 11,000)."""
    row = P_TABLE.get(count) or tuple((count + n, p) for n, p in LARGE_NOISE)
    keys = 11_000
    samples = [perturb(count, (2 * k + 1) * KEY_SPACE // (2 * keys)) for k in range(keys)]
    assert {v: samples.count(v) for v in set(samples)} == pytest.approx(
        {v: float(p * keys) for v, p in row}, abs=1
    )


def test_small_counts_share_their_outcomes() -> None:
    """Every count 1-5 can be published as 0 and as 3, 4 and 5, so no published value
    tells one small count from another, or (for 0) from a true zero."""
    for count in range(1, 6):
        outcomes = {v for v, p in P_TABLE[count] if p > 0}
        assert {0, 3, 4, 5} <= outcomes and not outcomes & {1, 2}
