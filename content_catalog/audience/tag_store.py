"""Tag the items in the store: the engine behind `kepu catalog tag` and the demo build.

Items an editor labelled keep their labels; every other item gets the tagger's auto layer (rewritten on
each run, so a better tagger or an edited text updates it). The tagger learns from the store's own
editor-labelled items when there are enough of them, else from the shipped demo catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from content_catalog.audience.tagger import AudienceTagger
from content_catalog.demo_catalog import load_demo_items
from content_catalog.schema import TagSource

if TYPE_CHECKING:
    from content_catalog.store import Store


@dataclass(frozen=True, slots=True)
class TagStoreReport:
    """What `tag_store` did."""

    tagged: int
    editor_labelled: int
    trained_on: str


def fit_tagger_for(store: Store, min_labelled: int = 30) -> tuple[AudienceTagger, str]:
    """A tagger fitted on the store's editor-labelled items, or on the demo catalog when too few."""
    items = list(store.iter_items())
    labelled = sum(1 for it in items if it.editor_audiences)
    if labelled >= min_labelled:
        return AudienceTagger(min_labelled=min_labelled).fit(items), f"{labelled} editor-labelled store items"
    demo = load_demo_items()
    return AudienceTagger(min_labelled=min_labelled).fit(demo), "the shipped demo catalog"


def tag_store(store: Store, tagger: AudienceTagger | None = None, *, actor: str = "tagger") -> TagStoreReport:
    """Write auto audience tags for every item without editor labels; returns counts."""
    trained_on = "the given tagger"
    if tagger is None:
        tagger, trained_on = fit_tagger_for(store)
    items = list(store.iter_items())
    todo = [it for it in items if not it.editor_audiences]
    for item, tags in zip(todo, tagger.predict(todo), strict=True):
        store.set_audiences(item.id, tags, actor=actor, source=TagSource.AUTO)
    return TagStoreReport(tagged=len(todo), editor_labelled=len(items) - len(todo), trained_on=trained_on)
