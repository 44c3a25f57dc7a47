"""Request and response bodies of the v1 HTTP API.

Every request model forbids unknown fields (a typo is a 422 naming the field, never silently
ignored). Items, users and events reuse the catalog schemas so the API and file ingest validate
exactly the same way.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from content_catalog.input_policy import ITEM_EARLIEST, ITEM_LATEST, check_range, to_utc
from content_catalog.schema import ID_PATTERN, AudienceTag, CleanModel, Item, ItemId, User
from content_catalog.taxonomy import AUDIENCES, CHANNELS

Channel = Literal["web", "wechat", "kiosk", "editor"]
AudienceId = Literal["youth", "farmers", "workers", "seniors", "officials", "public"]
assert set(Channel.__args__) == set(CHANNELS), "Channel literal out of sync with taxonomy.CHANNELS"
assert set(AudienceId.__args__) == set(AUDIENCES), "AudienceId literal out of sync with taxonomy.AUDIENCES"


class Strict(CleanModel):
    """Base for request bodies: unknown fields are errors, control characters too (see input_policy)."""

    model_config = ConfigDict(extra="forbid")


# ---- recommendations ------------------------------------------------------------------------------


class Card(BaseModel):
    """One recommended item as a client renders it (small: no body text)."""

    id: str
    title: str
    summary: str = ""
    cover_url: str | None = None
    url: str | None = None
    format: str
    topics: list[str] = Field(default_factory=list)
    audiences: list[str] = Field(default_factory=list)
    score: float
    reason: str | None = Field(None, description="Short Chinese explanation, e.g. 因为你看过《…》")


class RecommendationsOut(BaseModel):
    """A page of recommendations. Pass `next_cursor` back as `cursor` for the next page (no repeats)."""

    items: list[Card]
    next_cursor: str | None = None
    model_version: str | None = None
    experiment: str | None = Field(None, description="'<experiment>/<variant>' the caller is assigned to")
    request_id: str


class ItemListOut(BaseModel):
    """Similar items or search hits."""

    items: list[Card]
    model_version: str | None = None
    request_id: str


class SearchOut(ItemListOut):
    """Search hits; an empty `items` comes with a `hint` saying why (no good match, or all filtered out)."""

    hint: str | None = None


# ---- items ----------------------------------------------------------------------------------------


class ItemBody(Item):
    """An item written to `PUT /v1/items/{id}`: the id comes from the path (if repeated, it must match)."""

    id: ItemId | None = None  # type: ignore[assignment]


class ItemsBatchIn(Strict):
    """`POST /v1/items:batch` — all items are written in one transaction, or none."""

    items: list[Item] = Field(min_length=1, max_length=1000)


class ItemOut(Item):
    """An item as stored (audience tags carry score, source editor/auto and reason)."""


class WriteResult(BaseModel):
    """How many rows a write created and updated."""

    created: int
    updated: int


class AudienceOverrideIn(Strict):
    """Editor override of an item's audiences: plain ids (score 1) or full tags with a score."""

    audiences: list[AudienceId | AudienceTag] = Field(max_length=len(AUDIENCES))
    note: str | None = Field(None, max_length=500)

    def tags(self) -> list[AudienceTag]:
        """Normalised editor tags (source is always `editor` here: this is the override path)."""
        out: list[AudienceTag] = []
        for entry in self.audiences:
            if isinstance(entry, AudienceTag):
                out.append(
                    AudienceTag(
                        audience=entry.audience,
                        score=entry.score,
                        source="editor",
                        reason=entry.reason or self.note,
                    )
                )
            else:
                out.append(AudienceTag(audience=entry, score=1.0, source="editor", reason=self.note))
        names = [t.audience for t in out]
        if len(names) != len(set(names)):
            raise ValueError(f"audience listed twice: {names}")
        return out


class AudienceHistoryEntry(BaseModel):
    """One recorded change of an item's audience tags."""

    old: list[Any]
    new: list[Any]
    source: str
    actor: str
    at: datetime


class ItemAudiencesOut(BaseModel):
    """An item (its tags carry score, source and reason: why it has each audience) and its tag history."""

    item: ItemOut
    history: list[AudienceHistoryEntry] = Field(default_factory=list)


# ---- users ----------------------------------------------------------------------------------------


class UserBody(User):
    """A user written to `PUT /v1/users/{id}`; `sessions` links anonymous session ids (history merges)."""

    id: str | None = Field(None, pattern=ID_PATTERN)  # type: ignore[assignment]


# ---- events ---------------------------------------------------------------------------------------


class EventsIn(BaseModel):
    """A batch of at most 1000 events. Each is validated on its own (see `EventsOut`), control characters
    included, so one bad event never takes the valid ones of its batch with it."""

    model_config = ConfigDict(extra="forbid")

    events: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=1000,
        description="Event objects (schema `Event`: event_id, user_id|session_id, item_id, type, …)",
    )


class RejectedEvent(BaseModel):
    """Why the event at `index` of the batch was not stored."""

    index: int
    field: str
    message: str


class EventsOut(BaseModel):
    """Valid events are stored (replays of a known event_id count as duplicates); invalid ones are listed."""

    accepted: int
    duplicates: int
    erased: int = Field(0, description="events refused: their user or session was erased after they happened")
    rejected: list[RejectedEvent]


# ---- audiences ------------------------------------------------------------------------------------


class AudienceOut(BaseModel):
    id: str
    label: str
    item_count: int


class TaxonomyOut(BaseModel):
    """id -> Chinese label for every controlled vocabulary (front ends show labels, send ids)."""

    audiences: dict[str, str]
    topics: dict[str, str]
    formats: dict[str, str]
    channels: dict[str, str]


class AudiencesOut(BaseModel):
    audiences: list[AudienceOut]
    untagged_items: int


# ---- rules ----------------------------------------------------------------------------------------


class RuleIn(Strict):
    """An editorial rule: pin an item at a position, boost it, or block it, in a time window and scope."""

    kind: Literal["pin", "boost", "block"]
    item_id: ItemId
    position: int | None = Field(None, ge=0, le=99, description="pin only: 0-based slot in the list (0 = first)")
    weight: float | None = Field(
        None,
        gt=0,
        le=10,
        description="boost only: score multiplier (1.5 = +50 %; several boosts multiply)",
    )
    audience: AudienceId | None = Field(None, description="only for this audience (all when absent)")
    channel: Channel | None = Field(None, description="only on this channel (all when absent)")
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    note: str | None = Field(None, max_length=500)

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _window_in_range(cls, value: datetime | None) -> datetime | None:
        return check_range(to_utc(value), ITEM_EARLIEST, ITEM_LATEST)

    @model_validator(mode="after")
    def _kind_fields(self) -> RuleIn:
        if self.kind == "pin" and self.position is None:
            raise ValueError("a pin rule needs position")
        if self.kind != "pin" and self.position is not None:
            raise ValueError("position is only for pin rules")
        if self.kind == "boost" and self.weight is None:
            raise ValueError("a boost rule needs weight")
        if self.kind != "boost" and self.weight is not None:
            raise ValueError("weight is only for boost rules")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be later than starts_at")
        return self


class RuleOut(BaseModel):
    id: int | str
    kind: str
    item_id: str
    position: int | None = None
    weight: float | None = None
    audience: str | None = None
    channel: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    note: str | None = None


class RulesOut(BaseModel):
    rules: list[RuleOut]


# ---- experiments ----------------------------------------------------------------------------------


class VariantParams(Strict):
    """What a variant changes in the online path (absent = the service default)."""

    mmr_lambda: float | None = Field(
        None, ge=0.0, le=1.0, description="MMR relevance weight λ (1 = no topic diversification; default 0.7)"
    )
    freshness_weight: float | None = Field(None, ge=0.0, le=5.0, description="weight of the freshness boost")
    shrinkage: float | None = Field(
        None, gt=0.0, le=1000.0, description="blend: interactions needed before the hybrid model dominates"
    )
    model_version: str | None = Field(None, max_length=100, description="serve this registered model version")


MAX_VARIANT_WEIGHT = 1_000_000.0
"""Traffic shares are relative: 10 variants at this bound still sum to a finite, exact float."""


class Variant(Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    weight: float = Field(
        1.0, gt=0, le=MAX_VARIANT_WEIGHT, allow_inf_nan=False, description="relative share of traffic"
    )
    params: VariantParams = Field(default_factory=VariantParams)


class ExperimentIn(Strict):
    """A named A/B test. Callers are assigned by hashing (experiment, user or session id)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]{1,64}$")
    variants: list[Variant] = Field(min_length=1, max_length=10)
    active: bool = True

    @model_validator(mode="after")
    def _unique_variants(self) -> ExperimentIn:
        names = [v.name for v in self.variants]
        if len(names) != len(set(names)):
            raise ValueError(f"variant names must be unique: {names}")
        return self


class VariantStats(BaseModel):
    impressions: int
    clicks: int
    ctr: float | None = Field(None, description="clicks / impressions (null before any impression)")


class VariantOut(BaseModel):
    """A variant as stored (`weight` is null for a non-finite share in a row older than validation)."""

    name: str
    weight: float | None
    params: dict[str, Any] = Field(default_factory=dict)


class ExperimentOut(BaseModel):
    name: str
    active: bool
    variants: list[VariantOut]
    created_at: datetime | None = None
    stats: dict[str, VariantStats]


class ExperimentsOut(BaseModel):
    experiments: list[ExperimentOut]


# ---- models ---------------------------------------------------------------------------------------


class ModelVersionOut(BaseModel):
    version: str
    active: bool
    created_at: datetime | None = None
    path: str | None = None
    checksum: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict)
    model: str | None = Field(None, description="the ranker this bundle serves (lightfm, ease, ease+lightfm …)")
    selection: dict[str, Any] = Field(
        default_factory=dict,
        description="how `kepu train` chose the model: every candidate's validation figures (served and bare "
        "NDCG@10 …), the validation split and the reason",
    )
    data_counts: dict[str, Any] = Field(default_factory=dict, description="what the model was trained on")


class ModelsOut(BaseModel):
    models: list[ModelVersionOut]
    serving: str | None = Field(None, description="the version this process is serving right now")


# ---- ops ------------------------------------------------------------------------------------------


class HealthOut(BaseModel):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="degraded: the store is unreachable; reads are served from memory, writes get 503"
    )
    checks: dict[str, str] = Field(default_factory=dict)


# ---- errors -----------------------------------------------------------------------------------------


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    """What went wrong; `field` names the input to fix (`query.k`, `body.events.3.item_id`) when one did."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="Machine-readable, e.g. validation_error, unauthorized, rate_limited")
    message: str
    field: str | None = None
    details: list[FieldProblem] | None = Field(None, description="Every validation problem (422 only)")


class ErrorOut(BaseModel):
    """The one error shape of every 4xx/5xx answer."""

    error: ErrorDetail
