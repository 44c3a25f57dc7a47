"""Evaluation results: long-form records per (seed, model, metric[, segment]) plus fit times,
summarised as mean ± std over seeds, printable as a plain-text table and serialisable to JSON."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class ModelRun:
    """One model evaluated on one seed of a protocol."""

    model: str
    seed: int
    metrics: dict[str, float]
    fit_seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    # segment kind (e.g. "age_band") -> segment label -> metric -> value
    segments: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)


@dataclass
class EvaluationResult:
    """Everything one `run_protocol` call measured, plus the published numbers it compares against."""

    protocol: str
    k: int
    seeds: tuple[int, ...]
    fast: bool
    runs: list[ModelRun]
    published: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: str = ""

    def models(self) -> list[str]:
        """Model names in the order they were first evaluated."""
        return list(dict.fromkeys(run.model for run in self.runs))

    def summary(self) -> pd.DataFrame:
        """Rows = model; columns = (metric, 'mean'|'std') over seeds, plus fit_seconds."""
        records = [{"model": r.model, "seed": r.seed, **r.metrics, "fit_seconds": r.fit_seconds} for r in self.runs]
        frame = pd.DataFrame.from_records(records)
        grouped = frame.drop(columns="seed").groupby("model", sort=False)
        # population std would hide spread with 2 seeds; use sample std (ddof=1), 0 for a single seed
        table = grouped.agg(["mean", lambda s: float(np.std(s, ddof=1)) if len(s) > 1 else 0.0])
        table.columns = pd.MultiIndex.from_tuples([(m, "mean" if a == "mean" else "std") for m, a in table.columns])
        return table.loc[self.models()]

    def mean(self, model: str, metric: str) -> float:
        """Mean over seeds of one model's metric."""
        values = [r.metrics[metric] for r in self.runs if r.model == model and metric in r.metrics]
        if not values:
            raise KeyError(f"no {metric!r} for model {model!r} in protocol {self.protocol!r}")
        return float(np.mean(values))

    def segment_summary(self, kind: str, metric: str) -> pd.DataFrame:
        """Rows = segment label, columns = model: mean over seeds of `metric` within each segment."""
        rows = [
            {"model": r.model, "segment": label, "value": values[metric]}
            for r in self.runs
            for label, values in r.segments.get(kind, {}).items()
            if metric in values
        ]
        if not rows:
            raise KeyError(f"no segment slices {kind!r}/{metric!r} in protocol {self.protocol!r}")
        frame = pd.DataFrame(rows).groupby(["segment", "model"], sort=True)["value"].mean().unstack("model")
        return frame[[m for m in self.models() if m in frame.columns]]


def _clean(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(result: EvaluationResult, *, indent: int | None = 2) -> str:
    """JSON with the raw runs (per seed, per segment), a mean/std summary and the published numbers."""
    summary = result.summary()
    payload = {
        "protocol": result.protocol,
        "k": result.k,
        "seeds": list(result.seeds),
        "fast": result.fast,
        "notes": result.notes,
        "published": result.published,
        "summary": {
            model: {
                metric: {
                    "mean": summary.loc[model, (metric, "mean")],
                    "std": summary.loc[model, (metric, "std")],
                }
                for metric in dict.fromkeys(summary.columns.get_level_values(0))
            }
            for model in summary.index
        },
        "runs": [asdict(run) for run in result.runs],
    }
    return json.dumps(_clean(payload), indent=indent, ensure_ascii=False)


def format_table(result: EvaluationResult, metrics: list[str] | None = None, digits: int = 4) -> str:
    """Plain-text table: one row per model (mean±std over seeds) and one per published reference."""
    summary = result.summary()
    available = [m for m in dict.fromkeys(summary.columns.get_level_values(0)) if m != "fit_seconds"]
    columns = [m for m in (metrics or available) if m in available]
    header = ["model", *columns, "fit_s"]
    rows = []
    for model in summary.index:
        cells = [model]
        for metric in columns:
            mean, std = summary.loc[model, (metric, "mean")], summary.loc[model, (metric, "std")]
            cells.append("nan" if pd.isna(mean) else f"{mean:.{digits}f}±{std:.{digits}f}")
        cells.append(f"{summary.loc[model, ('fit_seconds', 'mean')]:.1f}")
        rows.append(cells)
    for name, values in result.published.items():
        rows.append([f"[published] {name}", *(f"{values[m]:.4f}" if m in values else "" for m in columns), ""])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        f"protocol={result.protocol} k={result.k} seeds={list(result.seeds)} fast={result.fast}",
        "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
        "  ".join("-" * w for w in widths),
    ]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
