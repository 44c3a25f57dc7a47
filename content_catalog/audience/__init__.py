"""Audience tagging: lexicon + prototype similarity + supervised classifier, editor labels always win.

Public entry points: `AudienceTagger` (fit / predict_scores / predict / tag_items / save / load),
`tag_jsonl` (tag a JSONL file), `cross_validate` / `run_ablations` (measurement).
"""

from content_catalog.audience.evaluation import CVResult, cross_validate, run_ablations
from content_catalog.audience.lexicon import AudienceLexicon, LexiconError, LexiconMatch
from content_catalog.audience.prototypes import AUDIENCE_PROTOTYPES
from content_catalog.audience.tag_file import ItemFileError, read_item_lines, tag_jsonl
from content_catalog.audience.tagger import AudienceTagger, NotFittedError

__all__ = [
    "AUDIENCE_PROTOTYPES",
    "AudienceLexicon",
    "AudienceTagger",
    "CVResult",
    "ItemFileError",
    "LexiconError",
    "LexiconMatch",
    "NotFittedError",
    "cross_validate",
    "read_item_lines",
    "run_ablations",
    "tag_jsonl",
]
