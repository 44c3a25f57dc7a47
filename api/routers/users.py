"""Known users: profile (audiences, age band, town, interests) and the anonymous sessions they own,
plus the personal-information rights: export everything held (`GET …/export`) and erase (`DELETE`).

Linking a session id merges that browser's anonymous history into the user's history. With
`KEPU_ID_PEPPER` set, the user and session ids given here are stored as keyed hashes (responses show
the stored form); the same id given to DELETE or export finds them. Reading a profile, exporting and
erasing are admin calls: residents' data is not shown to editors (docs/privacy.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field

from api.deps import Admin, ClientIdsDep, Ingest, StoreDep
from api.errors import ApiError
from api.schemas import UserBody
from content_catalog.schema import ID_PATTERN, User

router = APIRouter(prefix="/v1", tags=["users"])
UserIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="external user id")]


class ErasureOut(BaseModel):
    """What an erasure removed. `reference` is the audit log's name for it (the log holds no personal data)."""

    reference: str = Field(description="audit target is erasure:<reference>")
    found: bool = Field(description="whether anything at all was held about the user")
    profile: bool
    sessions: int
    events: int
    snapshots: int


@router.put(
    "/users/{user_id}",
    response_model=User,
    responses={201: {"model": User, "description": "Created (200: replaced)"}},
    summary="Create or replace a user; link sessions",
)
def put_user(
    user_id: UserIdPath, body: UserBody, response: Response, caller: Ingest, store: StoreDep, ids: ClientIdsDep
) -> User:
    if body.id is not None and body.id != user_id:
        raise ApiError(422, f"body id {body.id!r} differs from the path id {user_id!r}", field="body.id")
    data = body.model_dump(exclude={"id"})
    data["sessions"] = ids.stored_all(list(body.sessions))
    user = User.model_validate({**data, "id": ids.stored(user_id)})
    existed = store.get_user(user.id) is not None
    store.upsert_user(user)
    response.status_code = 200 if existed else 201
    stored = store.get_user(user.id)
    assert stored is not None, "upsert_user did not store the user"
    return stored


@router.get("/users/{user_id}", response_model=User, summary="A user's profile and linked sessions (admin)")
def get_user(user_id: UserIdPath, _: Admin, store: StoreDep, ids: ClientIdsDep) -> User:
    user = store.get_user(ids.stored(user_id))
    if user is None:
        raise ApiError(404, f"user {user_id!r} not found", field="path.user_id")
    return user


@router.get("/users/{user_id}/export", summary="Everything held about a user, as JSON (PIPL Art. 45; admin)")
def export_user(user_id: UserIdPath, _: Admin, store: StoreDep, ids: ClientIdsDep) -> dict[str, Any]:
    exported = store.export_user(ids.stored(user_id))
    if exported is None:
        raise ApiError(404, f"nothing is held about user {user_id!r}", field="path.user_id")
    return exported


@router.delete("/users/{user_id}", response_model=ErasureOut, summary="Erase a user (PIPL Art. 47; admin)")
def erase_user(user_id: UserIdPath, caller: Admin, store: StoreDep, ids: ClientIdsDep) -> ErasureOut:
    result = store.erase_user(ids.stored(user_id), actor=caller.actor)
    return ErasureOut(
        reference=result.reference,
        found=result.found,
        profile=result.profile,
        sessions=result.sessions,
        events=result.events,
        snapshots=result.snapshots,
    )
