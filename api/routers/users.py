"""Known users: profile (audiences, age band, town, interests) and the anonymous sessions they own.

Linking a session id merges that browser's anonymous history into the user's history.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.deps import Editor, Ingest, StoreDep
from api.errors import ApiError
from api.schemas import UserBody
from content_catalog.schema import ID_PATTERN, User

router = APIRouter(prefix="/v1", tags=["users"])
UserIdPath = Annotated[str, Path(pattern=ID_PATTERN, description="external user id")]


@router.put(
    "/users/{user_id}",
    response_model=User,
    responses={201: {"model": User, "description": "Created (200: replaced)"}},
    summary="Create or replace a user; link sessions",
)
def put_user(user_id: UserIdPath, body: UserBody, response: Response, caller: Ingest, store: StoreDep) -> User:
    if body.id is not None and body.id != user_id:
        raise ApiError(422, f"body id {body.id!r} differs from the path id {user_id!r}", field="body.id")
    user = User.model_validate({**body.model_dump(exclude={"id"}), "id": user_id})
    existed = store.get_user(user_id) is not None
    store.upsert_user(user)
    response.status_code = 200 if existed else 201
    stored = store.get_user(user_id)
    assert stored is not None, "upsert_user did not store the user"
    return stored


@router.get("/users/{user_id}", response_model=User, summary="A user's profile and linked sessions")
def get_user(user_id: UserIdPath, _: Editor, store: StoreDep) -> User:
    user = store.get_user(user_id)
    if user is None:
        raise ApiError(404, f"user {user_id!r} not found", field="path.user_id")
    return user
