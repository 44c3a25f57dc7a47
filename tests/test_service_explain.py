"""Reasons come from what actually drove the item."""

from __future__ import annotations

from recommender import explain

BASE = {
    "item_format": "article",
    "item_town": "",
    "user_town": None,
    "read_title": None,
    "audience": "seniors",
    "item_audiences": ["seniors"],
    "matched_interests": [],
    "is_fresh": False,
}


def reason(**overrides: object) -> str:
    return explain.reason_for(**{"is_pinned": False, "contributions": {}, **BASE, **overrides})  # type: ignore[arg-type]


def test_pin_wins() -> None:
    assert reason(is_pinned=True, read_title="x", contributions={"content": 1.0}) == "编辑推荐"


def test_local_activity_in_user_town() -> None:
    assert reason(item_format="activity", item_town="沙溪镇", user_town="沙溪镇") == "你所在的沙溪镇本周活动"
    assert reason(item_format="article", item_town="沙溪镇", user_town="沙溪镇") != "你所在的沙溪镇本周活动"


def test_read_item_named_only_when_content_drove_it() -> None:
    strong = reason(read_title="家庭药箱大检查", contributions={"content": 0.4, "audience": 0.5})
    assert strong == "因为你看过《家庭药箱大检查》"
    weak = reason(read_title="家庭药箱大检查", contributions={"content": 0.05, "audience": 0.5})
    assert weak == "为老年朋友精选"


def test_top_signal_decides() -> None:
    assert reason(contributions={"trending": 0.5, "audience": 0.1}) == "近期热门"
    assert reason(contributions={"model": 0.5}, matched_interests=["health"]) == "你关注的「健康与医疗」"
    assert reason(contributions={"model": 0.5}) == "猜你喜欢"
    assert reason(contributions={}, is_fresh=True) == "新上架"


def test_long_titles_are_shortened() -> None:
    assert explain.because_read("一" * 40) == "因为你看过《" + "一" * 17 + "…》"


def test_audience_reason_only_for_items_tagged_for_that_audience() -> None:
    assert reason(contributions={"audience": 0.5}) == "为老年朋友精选"
    assert reason(contributions={"audience": 0.5}, item_audiences=["farmers"]) == "近期热门"
    assert reason(contributions={}, item_audiences=["farmers"]) == "新上架"
    officials = reason(contributions={"audience": 0.5}, audience="officials", item_audiences=["officials"])
    assert officials == "为领导干部精选"
