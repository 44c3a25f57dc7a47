"""A/B experiments: deterministic variant assignment and per-variant click-through rates.

Assignment hashes (experiment name, subject id) with SHA-256, so the same user or session always
lands in the same variant, in every process, without storing assignments. Labels
`<experiment>/<variant>` travel in recommendation responses and back in logged events, which is
what CTR is computed from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

LABEL_SEPARATOR = "/"


@dataclass(frozen=True)
class Assignment:
    """The experiment and variant a subject belongs to, plus the variant's parameters."""

    experiment: str
    variant: str
    params: Mapping[str, Any]

    @property
    def label(self) -> str:
        return f"{self.experiment}{LABEL_SEPARATOR}{self.variant}"


def bucket(experiment: str, subject_id: str) -> float:
    """A stable number in [0, 1) for (experiment, subject); independent across experiments."""
    digest = hashlib.sha256(f"{experiment}\x00{subject_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment: str, variants: Sequence[Mapping[str, Any]], subject_id: str) -> Assignment:
    """Pick the variant whose cumulative weight share covers the subject's bucket.

    `variants` are `{"name", "weight", "params"}` mappings (weight defaults to 1).
    """
    if not variants:
        raise ValueError(f"experiment {experiment!r} has no variants")
    weights = [float(v.get("weight", 1.0)) for v in variants]
    total = sum(weights)
    if total <= 0:
        raise ValueError(f"experiment {experiment!r}: variant weights must sum to a positive number")
    point = bucket(experiment, subject_id) * total
    cumulative = 0.0
    for variant, weight in zip(variants, weights, strict=True):
        cumulative += weight
        if point < cumulative:
            return Assignment(experiment, str(variant["name"]), dict(variant.get("params") or {}))
    last = variants[-1]
    return Assignment(experiment, str(last["name"]), dict(last.get("params") or {}))


def parse_label(label: str | None) -> tuple[str, str] | None:
    """`"exp/variant"` -> `("exp", "variant")`; None for missing or malformed labels."""
    if not label or LABEL_SEPARATOR not in label:
        return None
    name, _, variant = label.partition(LABEL_SEPARATOR)
    return (name, variant) if name and variant else None


def variant_ctr(events: pd.DataFrame, experiment: str, variant_names: Sequence[str]) -> dict[str, dict]:
    """Impressions, clicks and CTR (clicks / impressions) per variant from events labelled `exp/variant`.

    Every variant appears in the result, with `ctr=None` before its first impression.
    """
    stats = {name: {"impressions": 0, "clicks": 0, "ctr": None} for name in variant_names}
    if events.empty:
        return stats
    prefix = f"{experiment}{LABEL_SEPARATOR}"
    labelled = events[events["experiment"].fillna("").str.startswith(prefix)]
    if labelled.empty:
        return stats
    variants = labelled["experiment"].str.slice(len(prefix))
    types = labelled["type"].astype(str)
    counts = pd.crosstab(variants, types)
    for name in variant_names:
        if name not in counts.index:
            continue
        impressions = int(counts.loc[name].get("impression", 0))
        clicks = int(counts.loc[name].get("click", 0))
        stats[name] = {
            "impressions": impressions,
            "clicks": clicks,
            "ctr": clicks / impressions if impressions else None,
        }
    return stats
