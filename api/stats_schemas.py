"""Response shapes of the dashboard endpoints (`/v1/stats/...`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Label(BaseModel):
    id: str
    label: str


class CoverageCell(BaseModel):
    audience: str
    topic: str
    items: int


class ItemLine(BaseModel):
    id: str
    title: str
    expires_at: str | None = None
    score: float | None = Field(None, description="the item's best tagger score (low-confidence list)")


class ItemList(BaseModel):
    count: int = Field(description="how many items match (the list holds at most `limit`)")
    items: list[ItemLine]


class CoverageOut(BaseModel):
    at: datetime
    items: int = Field(description="live items: not deleted, not expired")
    audiences: list[Label]
    topics: list[Label]
    cells: list[CoverageCell] = Field(description="live items per audience × topic (zero cells omitted)")
    untagged: ItemList
    expiring: ItemList
    low_confidence: ItemList
    low_confidence_below: float
    expiring_days: int


class ReachLine(BaseModel):
    day: str
    audience: str
    channel: str
    impressions: int
    clicks: int
    ctr: float | None


class ReachOut(BaseModel):
    since: datetime
    until: datetime
    days: list[str] = Field(description="every UTC day of the window, oldest first")
    audiences: list[Label]
    rows: list[ReachLine] = Field(description="one row per day × audience × channel with any reach")


class TopItemLine(BaseModel):
    audience: str
    rank: int
    id: str
    title: str
    impressions: int
    clicks: int
    ctr: float | None


class TopItemsOut(BaseModel):
    since: datetime
    until: datetime
    audiences: list[Label]
    items: list[TopItemLine]


class VariantTestOut(BaseModel):
    name: str
    impressions: int
    clicks: int
    ctr: float | None
    ci_low: float | None = Field(description="95 % Wilson interval")
    ci_high: float | None
    is_control: bool
    z: float | None = Field(description="two-proportion z against the control")
    p_value: float | None
    significant: bool


class ExperimentStatsOut(BaseModel):
    name: str
    active: bool
    created_at: datetime
    control: str | None
    variants: list[VariantTestOut]


class ExperimentsStatsOut(BaseModel):
    alpha: float
    min_impressions: int
    experiments: list[ExperimentStatsOut]


class ModelLine(BaseModel):
    version: str
    created_at: datetime | None
    active: bool = Field(description="the store's active version")
    serving: bool = Field(description="the version this process serves right now")
    metrics: dict[str, float]


class ModelsStatsOut(BaseModel):
    serving: str | None
    metric_names: list[str]
    models: list[ModelLine]
