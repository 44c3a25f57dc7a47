"""Tag a JSONL file of items in place of a store: the engine behind `kepu tag --input --output`.

Each output line is the input JSON object unchanged except for two keys: `audiences` (the final
audience ids — the editor's when the line has editor tags, else the tagger's) and `audience_scores`
(audience id -> score of each final audience; editor tags carry their own score, 1.0 by default).
Every line is validated as an `Item` first; any error aborts before anything is written.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from content_catalog.audience.tagger import AudienceTagger
from content_catalog.schema import Item

MAX_REPORTED_ERRORS = 20


class ItemFileError(ValueError):
    """One or more lines of an item file are invalid; each message reads `file:line:field: problem`."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        shown = self.problems[:MAX_REPORTED_ERRORS]
        more = len(self.problems) - len(shown)
        super().__init__("\n".join(shown) + (f"\n… and {more} more" if more > 0 else ""))


def read_item_lines(path: str | Path) -> list[tuple[dict[str, Any], Item]]:
    """(original JSON object, validated Item) per non-blank line; errors name file:line:field."""
    path = Path(path)
    rows: list[tuple[dict[str, Any], Item]] = []
    problems: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"{path}:{line_no}: invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            if not isinstance(raw, dict):
                problems.append(f"{path}:{line_no}: expected a JSON object, got {type(raw).__name__}")
                continue
            try:
                rows.append((raw, Item.model_validate(raw)))
            except ValidationError as exc:
                for error in exc.errors():
                    where = ".".join(str(p) for p in error["loc"]) or "item"
                    problems.append(f"{path}:{line_no}:{where}: {error['msg']}")
    if problems:
        raise ItemFileError(problems)
    return rows


def default_tagger() -> AudienceTagger:
    """The tagger fitted on the shipped demo catalog (all `content_catalog/demo/items_*.jsonl`)."""
    from content_catalog.demo_catalog import load_demo_items

    return AudienceTagger().fit(load_demo_items())


def _write_atomically(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.writelines(lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def tag_jsonl(
    input_path: str | Path, output_path: str | Path, *, tagger: AudienceTagger | None = None
) -> int:
    """Tag every item of `input_path` into `output_path` (atomic write); returns the number of items."""
    rows = read_item_lines(input_path)
    tagged = (tagger or default_tagger()).tag_items([item for _, item in rows])
    lines = []
    for (raw, _), item in zip(rows, tagged, strict=True):
        out = dict(raw)
        out["audiences"] = [tag.audience for tag in item.audiences]
        out["audience_scores"] = {tag.audience: tag.score for tag in item.audiences}
        lines.append(json.dumps(out, ensure_ascii=False) + "\n")
    _write_atomically(Path(output_path), lines)
    return len(lines)
