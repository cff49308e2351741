from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etcdplay.distributions import Distribution, DistributionError


@pytest.mark.parametrize("text", ["fixed(2)", "uniform(5,10)", "normal(10,2)", "exponential(5)", "3"])
def test_parse_round_trip(text: str) -> None:
    d = Distribution.parse(text)
    assert Distribution.parse(str(d)) == d


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gauss(1)", "unknown distribution"),
        ("uniform(5)", "takes 2"),
        ("uniform(9,1)", "lo <= hi"),
        ("fixed(-1)", ">= 0"),
        ("fixed(x)", "must be numbers"),
        ("what", "cannot read"),
    ],
)
def test_bad_distributions(text: str, message: str) -> None:
    with pytest.raises(DistributionError, match=message):
        Distribution.parse(text)


@given(st.sampled_from(["uniform(5,10)", "normal(3,5)", "exponential(4)", "fixed(7)"]), st.integers())
def test_samples_are_seconds_and_never_negative(text: str, seed: int) -> None:
    d = Distribution.parse(text)
    rng = random.Random(seed)
    for _ in range(20):
        x = d.sample(rng)
        assert x >= 0
        if d.kind == "uniform":
            assert 0.005 <= x <= 0.010
