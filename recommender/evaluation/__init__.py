"""Offline evaluation: data-set loaders, splitters, metrics, benchmark protocols and result tables."""

from recommender.evaluation.protocols import available_protocols, register_protocol, run_protocol
from recommender.evaluation.results import EvaluationResult, ModelRun, format_table, to_json

__all__ = [
    "EvaluationResult",
    "ModelRun",
    "available_protocols",
    "format_table",
    "register_protocol",
    "run_protocol",
    "to_json",
]
