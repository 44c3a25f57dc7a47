"""MovieLens (any folder in ml-100k layout) as a real Kepu store: the documented mapping the
`movielens-service` protocols use to drive `RecommendationService` on real interactions.

- movie → `Item` id `ml-<item_id>`, format `video`; title; summary = genres + release year (the text the
  encoder reads);
- genre (19) → `topics` by `GENRE_TOPICS`: one topic per genre, a stand-in so MMR diversifies over genres;
- Children's / Animation → audience tag `youth` (1.0); every movie is also tagged `public` (1.0), so the
  audience filter hides none;
- release year → `published_at` = 1 January of that year (unknown → `UNKNOWN_RELEASE`); freshness and
  the active filter read it;
- user age → `age_band` (under_12, 12_17, 18_34, 35_59, 60_plus), audience `youth` below 18 and
  `seniors` from 60;
- occupation → audience by `OCCUPATION_AUDIENCES` (retired → seniors; technician / engineer / programmer →
  workers; administrator / executive / lawyer → officials); users with no audience → `public`;
- zip code → `town`: the first digit of a US zip picks `TOWNS[digit]` (a regional stand-in); others none;
- gender → not used (Kepu profiles have no gender field);
- rating (any value) → a `view` event at the rating's timestamp, id `ml-r<row>`: every rating is a
  positive, as in the RecBole setting.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from content_catalog.schema import AudienceTag, Event, EventType, Item, User
from content_catalog.taxonomy import TOWNS
from recommender.evaluation.datasets import GENRES, MovieLens100k

GENRE_TOPICS: dict[str, str] = {
    "unknown": "scientific_thinking",
    "Action": "aerospace",
    "Adventure": "marine",
    "Animation": "digital_skills",
    "Children's": "basic_science",
    "Comedy": "mental_health",
    "Crime": "anti_fraud_rumor",
    "Documentary": "scientist_spirit",
    "Drama": "life_science",
    "Fantasy": "ai",
    "Film-Noir": "work_safety",
    "Horror": "disaster_prevention",
    "Musical": "health",
    "Mystery": "meteorology",
    "Romance": "ecology",
    "Sci-Fi": "energy_carbon",
    "Thriller": "food_drug_safety",
    "War": "advanced_manufacturing",
    "Western": "agri_tech",
}
YOUTH_GENRES = frozenset({"Children's", "Animation"})
UNKNOWN_RELEASE = datetime(1990, 1, 1, tzinfo=UTC)
OCCUPATION_AUDIENCES: dict[str, str] = {
    "retired": "seniors",
    "technician": "workers",
    "engineer": "workers",
    "programmer": "workers",
    "administrator": "officials",
    "executive": "officials",
    "lawyer": "officials",
}


def item_id(raw_item_id: int) -> str:
    return f"ml-{int(raw_item_id)}"


def user_id(raw_user_id: int) -> str:
    return f"u{int(raw_user_id)}"


def movie_items(data: MovieLens100k) -> list[Item]:
    """One `Item` per movie (see the module table)."""
    flags = data.items[list(GENRES)].to_numpy() == 1
    out = []
    for row, (raw_id, title, year) in enumerate(data.items[["item_id", "title", "year"]].itertuples(index=False)):
        genres = [g for g, flag in zip(GENRES, flags[row], strict=True) if flag]
        known_year = not np.isnan(float(year))
        published = datetime(int(year), 1, 1, tzinfo=UTC) if known_year else UNKNOWN_RELEASE
        tags = [AudienceTag(audience="public", score=1.0)]
        if YOUTH_GENRES & set(genres):
            tags.append(AudienceTag(audience="youth", score=1.0))
        out.append(
            Item(
                id=item_id(raw_id),
                title=str(title)[:300],
                summary=f"{' / '.join(genres)}; {int(year) if known_year else ''}",
                topics=list(dict.fromkeys(GENRE_TOPICS[g] for g in genres))[:10],
                format="video",
                audiences=tags,
                published_at=published,
            )
        )
    return out


def _age_band(age: int) -> str:
    if age < 12:
        return "under_12"
    if age < 18:
        return "12_17"
    if age < 35:
        return "18_34"
    return "35_59" if age < 60 else "60_plus"


def _audiences(age: int, occupation: str) -> list[str]:
    audiences: list[str] = []
    if age < 18:
        audiences.append("youth")
    if age >= 60 or occupation == "retired":
        audiences.append("seniors")
    mapped = OCCUPATION_AUDIENCES.get(occupation)
    if mapped and mapped not in audiences:
        audiences.append(mapped)
    return audiences or ["public"]


def _town(zip_code: str) -> str | None:
    first = str(zip_code)[:1]
    return TOWNS[int(first)] if first.isdigit() and str(zip_code)[:5].isdigit() else None


def movie_users(data: MovieLens100k) -> list[User]:
    """One `User` per MovieLens user (see the module table)."""
    return [
        User(
            id=user_id(row.user_id),
            audiences=_audiences(int(row.age), str(row.occupation)),
            age_band=_age_band(int(row.age)),  # type: ignore[arg-type]
            town=_town(str(row.zip)),
        )
        for row in data.users.itertuples(index=False)
    ]


def rating_events(data: MovieLens100k, rows: Sequence[int] | np.ndarray) -> list[Event]:
    """`view` events for the given rating rows (positions in `data.ratings`)."""
    ratings = data.ratings.iloc[np.asarray(rows, dtype=np.int64)]
    # the values are valid by construction (ids from the loader, a fixed type): skip per-event validation
    return [
        Event.model_construct(
            event_id=f"ml-r{pos}",
            user_id=user_id(u + 1),
            session_id=None,
            item_id=item_id(i + 1),
            type=EventType.VIEW,
            timestamp=datetime.fromtimestamp(int(ts), tz=UTC),
            dwell_seconds=None,
            channel="web",
            experiment=None,
            position=None,
        )
        for pos, u, i, ts in zip(
            np.asarray(rows, dtype=np.int64),
            ratings["user_idx"].to_numpy(),
            ratings["item_idx"].to_numpy(),
            ratings["timestamp"].to_numpy(),
            strict=True,
        )
    ]


def item_ids_of(data: MovieLens100k) -> list[str]:
    """Kepu item ids in MovieLens item-index order."""
    return [item_id(i + 1) for i in range(data.n_items)]
