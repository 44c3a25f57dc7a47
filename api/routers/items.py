"""Items: write one or a batch (all-or-nothing), read, delete, editor audience overrides.

Every write is pushed to the live recommendation service right away (encoded and added to the
vector index), so a new item is recommendable through the content path within seconds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import Editor, Ingest, ProviderDep, Reader, StoreDep
from api.errors import ApiError
from api.schemas import (
    AudienceHistoryEntry,
    AudienceOverrideIn,
    ItemAudiencesOut,
    ItemBody,
    ItemOut,
    ItemsBatchIn,
    WriteResult,
)
from content_catalog.schema import ID_PATTERN, Item
from content_catalog.store import Store

router = APIRouter(prefix="/v1", tags=["items"])
ItemIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="external item id")]


def _found(store: Store, item_id: str) -> Item:
    item = store.get_item(item_id)
    if item is None:
        raise ApiError(404, f"item {item_id!r} not found", field="path.item_id")
    return item


@router.put(
    "/items/{item_id}",
    response_model=ItemOut,
    responses={201: {"model": ItemOut, "description": "Created (200: replaced)"}},
    summary="Create or replace one item",
)
def put_item(
    item_id: ItemIdPath,
    body: ItemBody,
    response: Response,
    caller: Ingest,
    store: StoreDep,
    provider: ProviderDep,
) -> Item:
    if body.id is not None and body.id != item_id:
        raise ApiError(422, f"body id {body.id!r} differs from the path id {item_id!r}", field="body.id")
    item = Item.model_validate({**body.model_dump(exclude={"id"}), "id": item_id})
    result = store.upsert_items([item], actor=caller.actor)
    stored = _found(store, item_id)
    provider.items_changed([stored])
    response.status_code = 201 if result.created else 200
    return stored


@router.post("/items:batch", response_model=WriteResult, summary="Create or replace many items, all or none")
def post_items_batch(
    body: ItemsBatchIn,
    caller: Ingest,
    store: StoreDep,
    provider: ProviderDep,
) -> WriteResult:
    first_index: dict[str, int] = {}
    for index, item in enumerate(body.items):
        if item.id in first_index:
            raise ApiError(
                422,
                f"item id {item.id!r} appears twice in the batch (indexes {first_index[item.id]} and {index})",
                field=f"body.items.{index}.id",
            )
        first_index[item.id] = index
    result = store.upsert_items(body.items, actor=caller.actor)
    provider.items_changed(store.get_items([item.id for item in body.items]))
    return WriteResult(created=result.created, updated=result.updated)


@router.get("/items/{item_id}", response_model=ItemOut, summary="One item with its audience tags")
def get_item(item_id: ItemIdPath, _: Reader, store: StoreDep) -> Item:
    return _found(store, item_id)


@router.delete("/items/{item_id}", status_code=204, summary="Delete an item (no longer recommended)")
def delete_item(
    item_id: ItemIdPath,
    caller: Ingest,
    store: StoreDep,
    provider: ProviderDep,
) -> Response:
    if not store.delete_item(item_id, actor=caller.actor):
        raise ApiError(404, f"item {item_id!r} not found", field="path.item_id")
    provider.items_removed([item_id])
    return Response(status_code=204)


@router.put("/items/{item_id}/audiences", response_model=ItemOut, summary="Editor override of audiences")
def put_item_audiences(
    item_id: ItemIdPath,
    body: AudienceOverrideIn,
    caller: Editor,
    store: StoreDep,
    provider: ProviderDep,
) -> Item:
    _found(store, item_id)
    try:
        tags = body.tags()
    except ValueError as exc:
        raise ApiError(422, str(exc), field="body.audiences") from exc
    store.set_audiences(item_id, tags, actor=caller.actor, source="editor")  # the store audits it
    stored = _found(store, item_id)
    provider.items_changed([stored])
    return stored


@router.get(
    "/items/{item_id}/audiences",
    response_model=ItemAudiencesOut,
    summary="An item's audience tags with every recorded change",
)
def get_item_audiences(item_id: ItemIdPath, _: Editor, store: StoreDep) -> ItemAudiencesOut:
    item = _found(store, item_id)
    history = [
        AudienceHistoryEntry(
            old=[t.model_dump(mode="json") for t in change.old],
            new=[t.model_dump(mode="json") for t in change.new],
            source=str(change.source),
            actor=change.actor,
            at=change.at,
        )
        for change in store.audience_history(item_id)
    ]
    return ItemAudiencesOut(item=ItemOut.model_validate(item.model_dump()), history=history)
