"""Editor rules: parsing store records, time windows, audience/channel scope, block precedence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recommender.rules import EditorRule, RuleSet

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_from_store_like_record() -> None:
    record = {
        "id": 3,
        "kind": "boost",
        "item_id": "x",
        "position": None,
        "weight": 1.5,
        "audience": "seniors",
        "channel": None,
        "starts_at": NOW - timedelta(days=1),
        "ends_at": None,
    }
    rule = EditorRule.from_record(record)
    assert (rule.rule_id, rule.action, rule.weight, rule.audiences, rule.channels) == (
        "3",
        "boost",
        1.5,
        ("seniors",),
        (),
    )


def test_window_and_scope() -> None:
    rule = EditorRule(
        item_id="x",
        action="pin",
        starts_at=NOW,
        ends_at=NOW + timedelta(days=7),
        audiences=("farmers",),
        channels=("wechat",),
    )
    assert rule.applies(NOW, ["farmers"], "wechat")
    assert not rule.applies(NOW - timedelta(seconds=1), ["farmers"], "wechat")
    assert not rule.applies(NOW + timedelta(days=7), ["farmers"], "wechat")
    assert not rule.applies(NOW, ["youth"], "wechat")
    assert not rule.applies(NOW, ["farmers"], "web")


def test_block_wins_and_boosts_multiply() -> None:
    rules = [
        EditorRule(item_id="x", action="pin", position=1),
        EditorRule(item_id="x", action="block"),
        EditorRule(item_id="y", action="boost", weight=2.0),
        EditorRule(item_id="y", action="boost", weight=1.5),
    ]
    selected = RuleSet.select(rules, NOW, ["public"], "web")
    assert selected.blocks == {"x"} and selected.pins == ()
    assert selected.boost_factors() == {"y": 3.0}


def test_invalid_rules_name_the_problem() -> None:
    with pytest.raises(ValueError, match="action"):
        EditorRule(item_id="x", action="promote")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="weight must be > 0"):
        EditorRule(item_id="x", action="boost", weight=0)
    with pytest.raises(ValueError, match="position"):
        EditorRule(item_id="x", action="pin", position=-1)
