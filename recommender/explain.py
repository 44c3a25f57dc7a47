"""Short Chinese reasons, taken from whatever actually drove an item into the list.

Priority: editor pin → local activity in the user's town → content neighbour of a read item (when the
content signal is close to the strongest one) → the signal with the largest weighted contribution
(model → interest / 猜你喜欢, audience prior, trending) → freshness. "为…精选" is only said of items
tagged for that audience: an item ranked high for seniors by popularity alone is 近期热门, not 为老年朋友精选.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from content_catalog.taxonomy import TOPICS

AUDIENCE_FRIENDLY: dict[str, str] = {
    "youth": "青少年朋友",
    "farmers": "农民朋友",
    "workers": "产业工人朋友",
    "seniors": "老年朋友",
    "officials": "领导干部",
    "public": "大家",
}
LOCAL_FORMATS = frozenset({"activity", "exhibit", "live"})
CONTENT_SHARE = 0.5
"""A read item is named as the reason when the content signal is at least this share of the top signal."""


def pinned() -> str:
    return "编辑推荐"


def because_read(title: str) -> str:
    short = title if len(title) <= 18 else title[:17] + "…"
    return f"因为你看过《{short}》"


def for_audience(audience: str) -> str:
    return f"为{AUDIENCE_FRIENDLY.get(audience, '大家')}精选"


def local_activity(town: str) -> str:
    return f"你所在的{town}本周活动"


def trending() -> str:
    return "近期热门"


def interest(topic: str) -> str:
    return f"你关注的「{TOPICS.get(topic, topic)}」"


def fresh() -> str:
    return "新上架"


def guess() -> str:
    return "猜你喜欢"


def reason_for(
    *,
    is_pinned: bool,
    item_format: str,
    item_town: str,
    user_town: str | None,
    read_title: str | None,
    contributions: Mapping[str, float],
    audience: str,
    item_audiences: Sequence[str],
    matched_interests: Sequence[str],
    is_fresh: bool,
) -> str:
    """One reason for one item. `contributions`: weighted signal contributions for that item."""
    top = max(contributions.items(), key=lambda kv: kv[1], default=("", 0.0))
    return _choose(
        is_pinned=is_pinned,
        is_local=bool(user_town) and item_town == user_town and item_format in LOCAL_FORMATS,
        user_town=user_town,
        read_title=read_title,
        top=top,
        content=contributions.get("content", 0.0),
        audience=audience,
        for_them=audience == "public" or audience in item_audiences,
        first_interest=matched_interests[0] if matched_interests else None,
        is_fresh=is_fresh,
    )


def reason_from_parts(
    *,
    is_pinned: bool,
    item: Any,
    user_town: str | None,
    read_title: str | None,
    top: tuple[str, float],
    content: float,
    audience: str,
    interests: Collection[str],
    is_fresh: bool,
) -> str:
    """`reason_for` from precomputed parts (the service computes the top signal of every ranked item in
    one array pass): `top` is (name, value) of the largest contribution, `content` the content signal's,
    `item` the catalog item (format, town, audiences, topics)."""
    return _choose(
        is_pinned=is_pinned,
        is_local=bool(user_town) and (item.town or "") == user_town and item.format in LOCAL_FORMATS,
        user_town=user_town,
        read_title=read_title,
        top=top,
        content=content,
        audience=audience,
        for_them=audience == "public" or any(tag.audience == audience for tag in item.audiences),
        first_interest=next((t for t in item.topics if t in interests), None),
        is_fresh=is_fresh,
    )


def _choose(
    *,
    is_pinned: bool,
    is_local: bool,
    user_town: str | None,
    read_title: str | None,
    top: tuple[str, float],
    content: float,
    audience: str,
    for_them: bool,
    first_interest: str | None,
    is_fresh: bool,
) -> str:
    """The priority order of the module docstring, over facts already worked out."""
    if is_pinned:
        return pinned()
    if is_local and user_town:
        return local_activity(user_town)
    if read_title is not None and content > 0 and content >= CONTENT_SHARE * top[1]:
        return because_read(read_title)
    if top[1] <= 0:
        return fresh() if is_fresh or not for_them else for_audience(audience)
    if top[0] == "model":
        return interest(first_interest) if first_interest is not None else guess()
    if top[0] == "trending" or not for_them:
        return trending()
    return for_audience(audience)
