"""Click-through statistics for A/B variants: Wilson intervals and a two-proportion z-test.

Why these two: CTR is a binomial proportion (clicks out of impressions). The Wilson score interval stays
inside [0, 1] and keeps sensible coverage for small samples and CTRs near 0, where the textbook
normal interval collapses. Each variant is compared with the *control* (the variant named `control`,
else the first one defined) by the pooled two-proportion z-test, two-sided:

    p = (c1 + c2) / (n1 + n2),  z = (ctr2 - ctr1) / sqrt(p (1 - p) (1/n1 + 1/n2)),  p-value = erfc(|z| / sqrt 2)

A difference is called significant when p-value < alpha (0.05) and both variants have at least
`MIN_IMPRESSIONS` impressions (the normal approximation needs a few clicks per arm). Several variants
against one control are not corrected for multiple comparisons; the dashboard says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z_95 = 1.959963984540054
ALPHA = 0.05
MIN_IMPRESSIONS = 30


@dataclass(frozen=True, slots=True)
class VariantTest:
    """One variant's CTR with its 95 % Wilson interval and its test against the control."""

    name: str
    impressions: int
    clicks: int
    ctr: float | None
    ci_low: float | None
    ci_high: float | None
    is_control: bool
    z: float | None
    p_value: float | None
    significant: bool


def wilson_interval(clicks: int, impressions: int, z: float = Z_95) -> tuple[float, float] | None:
    """95 % Wilson score interval of clicks / impressions; None without impressions."""
    if impressions <= 0:
        return None
    p = clicks / impressions
    denominator = 1 + z * z / impressions
    centre = (p + z * z / (2 * impressions)) / denominator
    half = z * math.sqrt(p * (1 - p) / impressions + z * z / (4 * impressions * impressions)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_z(clicks_a: int, n_a: int, clicks_b: int, n_b: int) -> tuple[float, float] | None:
    """(z, two-sided p-value) of ctr_b - ctr_a under the pooled null; None when undefined."""
    if n_a <= 0 or n_b <= 0:
        return None
    pooled = (clicks_a + clicks_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance <= 0:
        return None
    z = (clicks_b / n_b - clicks_a / n_a) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2))


def compare_variants(counts: dict[str, tuple[int, int]], control: str | None = None) -> list[VariantTest]:
    """Test every variant against the control. `counts` maps variant -> (impressions, clicks), in order."""
    if not counts:
        return []
    control = control if control in counts else ("control" if "control" in counts else next(iter(counts)))
    control_n, control_clicks = counts[control]
    tests = []
    for name, (n, clicks) in counts.items():
        interval = wilson_interval(clicks, n)
        result = None if name == control else two_proportion_z(control_clicks, control_n, clicks, n)
        enough = min(n, control_n) >= MIN_IMPRESSIONS
        tests.append(
            VariantTest(
                name=name,
                impressions=n,
                clicks=clicks,
                ctr=clicks / n if n else None,
                ci_low=interval[0] if interval else None,
                ci_high=interval[1] if interval else None,
                is_control=name == control,
                z=result[0] if result else None,
                p_value=result[1] if result else None,
                significant=bool(result and enough and result[1] < ALPHA),
            )
        )
    return tests
