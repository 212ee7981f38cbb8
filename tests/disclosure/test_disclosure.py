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


def test_keys_spread_over_the_table() -> None:
    """Evenly spaced keys reproduce the table's probabilities."""
    samples = [perturb(100, (2 * k + 1) * KEY_SPACE // 2000) - 100 for k in range(1000)]
    assert {n: samples.count(n) for n in set(samples)} == {-2: 100, -1: 200, 0: 400, 1: 200, 2: 100}
