"""The rule that decides an item's effective audience tags from its three tag layers.

Layers, strongest first:
1. override — set by an editor through `Store.set_audiences(..., source="editor")`. It stays until an
   editor changes it again (an empty editor list clears it); no ingest and no tagger run touches it.
2. feed — editor-source tags carried in ingested records (`AudienceTag.source == "editor"`, which is what
   plain audience names like `"farmers"` become). A record with editor tags replaces the feed layer; a
   record with NO editor tags leaves the previous feed layer as it was.
3. auto — tags from the tagger (`source == "auto"`), written by `set_audiences(..., source="auto")` or
   carried in a record. Writing auto tags replaces only the auto layer; a record without auto tags keeps it.

The effective tags are the first non-empty layer, so editor tags always win over auto ones and an
editor can also *remove* an audience the tagger guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from content_catalog.schema import AudienceTag, TagSource


def tags_to_json(tags: Sequence[AudienceTag]) -> list[dict[str, Any]]:
    """Tags as JSON-ready dicts, in a stable order (by audience) so equal sets compare equal."""
    return [t.model_dump(mode="json") for t in sorted(tags, key=lambda t: t.audience)]


def tags_from_json(raw: Sequence[dict[str, Any]] | None) -> list[AudienceTag]:
    """Inverse of `tags_to_json` (None -> empty)."""
    return [AudienceTag.model_validate(t) for t in raw or []]


def split_by_source(tags: Sequence[AudienceTag]) -> tuple[list[AudienceTag], list[AudienceTag]]:
    """(editor tags, auto tags) of one record."""
    editor = [t for t in tags if t.source == TagSource.EDITOR]
    auto = [t for t in tags if t.source == TagSource.AUTO]
    return editor, auto


def with_source(tags: Sequence[AudienceTag], source: TagSource) -> list[AudienceTag]:
    """The same tags re-labelled with `source` (the layer they are written to decides their source)."""
    return [t if t.source == source else t.model_copy(update={"source": source}) for t in tags]


def effective_tags(
    override: Sequence[dict[str, Any]] | None, feed: Sequence[dict[str, Any]], auto: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """First non-empty layer of override > feed > auto (JSON dicts in, JSON dicts out)."""
    for layer in (override, feed, auto):
        if layer:
            return list(layer)
    return []


def audience_keys(tags: Sequence[dict[str, Any]]) -> str:
    """ ",a,b," — the audiences of `tags` in a form a portable `LIKE '%,a,%'` filter can match."""
    return "," + "".join(f"{t['audience']}," for t in tags)
