"""Pydantic schemas for what enters Kepu: items, users and events.

Every model forbids unknown fields and names the offending field in its error, so a bad batch
can be reported row by row before anything is written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from content_catalog.input_policy import (
    ITEM_EARLIEST,
    ITEM_LATEST,
    check_clean_text,
    check_range,
    check_visible,
    event_time_bounds,
    to_utc,
)
from content_catalog.taxonomy import (
    AUDIENCES,
    FORMATS,
    READING_LEVELS,
    check_audience,
    check_audiences,
    check_channel,
    check_topics,
)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$"
ItemId = Annotated[str, Field(pattern=ID_PATTERN, description="Stable external id (letters, digits, _ . : -)")]


class CleanModel(BaseModel):
    """Base of every input model: no string field may hold control or bidi-override characters
    (`content_catalog.input_policy`), so both stores receive the same clean text."""

    @field_validator("*", mode="after")
    @classmethod
    def _clean_text(cls, value: Any) -> Any:
        return check_clean_text(value)


class TagSource(StrEnum):
    """Who set an audience tag. Editor tags always win over automatic ones."""

    EDITOR = "editor"
    AUTO = "auto"


class AudienceTag(CleanModel):
    """One audience an item is for, with a confidence score and where the tag came from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    audience: str
    score: float = Field(1.0, ge=0.0, le=1.0)
    source: TagSource = TagSource.EDITOR
    reason: str | None = Field(None, max_length=500)

    @field_validator("audience")
    @classmethod
    def _known_audience(cls, value: str) -> str:
        return check_audience(value)


def _utc(value: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC so comparisons never mix naive and aware values."""
    return to_utc(value)


class Item(CleanModel):
    """A piece of science content in the catalog (article, video, course, activity, exhibit, live)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: ItemId
    title: str = Field(min_length=1, max_length=300)
    summary: str = Field("", max_length=2000)
    body: str | None = Field(None, max_length=200_000)
    topics: list[str] = Field(default_factory=list, max_length=10)
    format: Literal["article", "video", "course", "activity", "exhibit", "live"] = "article"
    audiences: list[AudienceTag] = Field(default_factory=list, max_length=len(AUDIENCES))
    source_org: str | None = Field(None, max_length=200)
    town: str | None = Field(None, max_length=50)
    published_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    expires_at: datetime | None = None
    verified: bool = True
    reading_level: Literal["easy", "medium", "advanced"] = "medium"
    duration_minutes: float | None = Field(None, ge=0, le=10_000)
    url: str | None = Field(None, max_length=2000)
    cover_url: str | None = Field(None, max_length=2000)

    @field_validator("topics")
    @classmethod
    def _known_topics(cls, value: list[str]) -> list[str]:
        return check_topics(value)

    @field_validator("audiences", mode="before")
    @classmethod
    def _plain_audience_names(cls, value: Any) -> Any:
        """Accept `["farmers", "seniors"]` as shorthand for editor tags with score 1."""
        if isinstance(value, str):
            value = [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
        if isinstance(value, list):
            return [{"audience": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("audiences")
    @classmethod
    def _one_tag_per_audience(cls, value: list[AudienceTag]) -> list[AudienceTag]:
        names = [t.audience for t in value]
        if len(names) != len(set(names)):
            raise ValueError(f"audience listed twice: {names}")
        return value

    @field_validator("topics", mode="before")
    @classmethod
    def _split_topic_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
        return value

    @field_validator("url", "cover_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://", "/")):
            raise ValueError("must be an http(s) URL or an absolute path")
        return value or None

    @field_validator("published_at", "expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return check_range(_utc(value), ITEM_EARLIEST, ITEM_LATEST)

    @field_validator("title")
    @classmethod
    def _visible_title(cls, value: str) -> str:
        return check_visible(value)

    @model_validator(mode="after")
    def _expiry_after_publication(self) -> Item:
        if self.expires_at is not None and self.expires_at <= self.published_at:
            raise ValueError("expires_at must be later than published_at")
        return self

    @property
    def editor_audiences(self) -> list[str]:
        """Audiences an editor set (these override the tagger)."""
        return [t.audience for t in self.audiences if t.source == TagSource.EDITOR]

    @property
    def text(self) -> str:
        """The text the encoders and the tagger read: title, summary, then the start of the body."""
        parts = [self.title, self.summary]
        if self.body:
            parts.append(self.body[:2000])
        return "\n".join(p for p in parts if p)

    def is_active(self, now: datetime | None = None) -> bool:
        """Published and not yet expired at `now`."""
        now = _utc(now) or datetime.now(UTC)
        return self.published_at <= now and (self.expires_at is None or self.expires_at > now)


class EventType(StrEnum):
    """What a user did with an item. Weights live in `features.interactions`."""

    IMPRESSION = "impression"
    VIEW = "view"
    CLICK = "click"
    LIKE = "like"
    SHARE = "share"
    FAVORITE = "favorite"
    COMPLETE = "complete"
    DWELL = "dwell"
    DISLIKE = "dislike"
    HIDE = "hide"


class Event(CleanModel):
    """One user-item interaction. `event_id` is the client's id, which makes replays idempotent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    event_id: str = Field(min_length=1, max_length=128)
    user_id: str | None = Field(None, pattern=ID_PATTERN)
    session_id: str | None = Field(None, pattern=ID_PATTERN)
    item_id: ItemId
    type: EventType
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    dwell_seconds: float | None = Field(None, ge=0, le=86_400)
    channel: str | None = None
    experiment: str | None = Field(None, max_length=200)
    position: int | None = Field(None, ge=0, le=10_000)

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return check_range(_utc(value), *event_time_bounds())  # type: ignore[return-value]

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str | None) -> str | None:
        return None if value is None else check_channel(value)

    @model_validator(mode="after")
    def _someone_did_it(self) -> Event:
        if not self.user_id and not self.session_id:
            raise ValueError("either user_id or session_id is required")
        if self.type == EventType.DWELL and self.dwell_seconds is None:
            raise ValueError("dwell events need dwell_seconds")
        return self


class User(CleanModel):
    """A known user: audience segment(s), age band, town and declared interests."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(pattern=ID_PATTERN)
    audiences: list[str] = Field(default_factory=list, max_length=len(AUDIENCES))
    age_band: Literal["under_12", "12_17", "18_34", "35_59", "60_plus"] | None = None
    town: str | None = Field(None, max_length=50)
    interests: list[str] = Field(default_factory=list, max_length=20)
    sessions: list[Annotated[str, Field(pattern=ID_PATTERN)]] = Field(
        default_factory=list, max_length=100, description="anonymous session ids (same pattern as session_id)"
    )

    @field_validator("audiences")
    @classmethod
    def _known_audiences(cls, value: list[str]) -> list[str]:
        return check_audiences(value)

    @field_validator("interests")
    @classmethod
    def _known_topics(cls, value: list[str]) -> list[str]:
        return check_topics(value)


__all__ = ["FORMATS", "READING_LEVELS", "AudienceTag", "Event", "EventType", "Item", "TagSource", "User"]
