"""Wilson intervals and the two-proportion z-test against known values."""

from __future__ import annotations

import math

import pytest

from api.ab_stats import compare_variants, two_proportion_z, wilson_interval


def test_wilson_interval_matches_the_textbook_value() -> None:
    low, high = wilson_interval(10, 100)  # type: ignore[misc]
    assert (low, high) == (pytest.approx(0.05523, abs=1e-4), pytest.approx(0.17437, abs=1e-4))
    assert wilson_interval(0, 0) is None
    low0, high0 = wilson_interval(0, 20)  # type: ignore[misc]
    assert low0 == 0.0 and 0.15 < high0 < 0.17  # stays inside [0, 1] where the normal interval collapses


def test_two_proportion_z_test() -> None:
    # 200/1000 vs 250/1000: z = 0.05 / sqrt(0.225 * 0.775 * 0.002) = 2.6774, p = 0.00742
    z, p = two_proportion_z(200, 1000, 250, 1000)  # type: ignore[misc]
    assert z == pytest.approx(2.6774, abs=1e-3) and p == pytest.approx(0.00742, abs=1e-4)
    assert two_proportion_z(0, 0, 1, 10) is None and two_proportion_z(0, 10, 0, 10) is None


def test_compare_variants_uses_the_control_and_needs_enough_impressions() -> None:
    tests = {t.name: t for t in compare_variants({"a": (1000, 200), "control": (1000, 250), "tiny": (10, 9)})}
    assert tests["control"].is_control and tests["control"].p_value is None and not tests["control"].significant
    assert tests["a"].significant and tests["a"].z == pytest.approx(-2.6774, abs=1e-3)
    assert tests["tiny"].p_value is not None and tests["tiny"].p_value < 0.05
    assert not tests["tiny"].significant  # 10 impressions: too few to call it
    first = compare_variants({"x": (100, 10), "y": (100, 12)})
    assert first[0].is_control and not first[1].significant and math.isclose(first[1].ctr or 0, 0.12)
