"""The demo's copy of the shipped catalog: local topic covers that exist and are served, and dates moved
so the catalog's reference day maps to the build day."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from api.demo import CATALOG_REFERENCE_DATE, COVERS_DIR, cover_url, date_offset, prepare_demo_items
from content_catalog.demo_catalog import load_demo_items
from content_catalog.schema import Item
from content_catalog.taxonomy import TOPICS
from tests.test_api_support import make_store, store_only_client

SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def shipped() -> list[Item]:
    return load_demo_items()


def cover_file(url: str) -> Path:
    assert url.startswith("/covers/"), url
    return COVERS_DIR / url.removeprefix("/covers/")


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_every_topic_has_a_labelled_svg_cover(topic: str) -> None:
    root = ET.parse(cover_file(cover_url(topic))).getroot()
    assert root.tag == f"{SVG_NS}svg" and root.get("viewBox") == "0 0 320 180"
    texts = [el.text for el in root.iter(f"{SVG_NS}text")]
    assert TOPICS[topic] in texts
    fonts = [el.get("font-family", "") for el in root.iter(f"{SVG_NS}text") if el.text == TOPICS[topic]]
    assert "WenQuanYi Micro Hei" in fonts[0] and fonts[0].rstrip().endswith("sans-serif")
    assert "href" not in ET.tostring(root, encoding="unicode")  # nothing loaded from elsewhere


def test_covers_point_at_the_first_topics_local_file(shipped: list[Item]) -> None:
    prepared = prepare_demo_items(shipped, today=CATALOG_REFERENCE_DATE)
    assert [p.id for p in prepared] == [s.id for s in shipped]
    for item in prepared:
        assert item.cover_url == f"/covers/{item.topics[0]}.svg"
        assert cover_file(item.cover_url).is_file()
    assert len({item.cover_url for item in prepared}) > 10  # the catalog spans most topics


def test_shipped_items_are_left_untouched(shipped: list[Item]) -> None:
    before = [item.model_dump() for item in shipped]
    prepare_demo_items(shipped, today=date(2027, 6, 1))
    assert [item.model_dump() for item in shipped] == before
    assert all(item.cover_url and item.cover_url.startswith("https://kepu.example.cn/") for item in load_demo_items())


def test_item_without_topics_gets_no_cover() -> None:
    bare = Item(
        id="t-1",
        title="无主题条目",
        format="article",
        published_at=datetime(2026, 5, 1, tzinfo=UTC),
        cover_url="https://kepu.example.cn/covers/t-1.jpg",
    )
    assert prepare_demo_items([bare], today=CATALOG_REFERENCE_DATE)[0].cover_url is None


@pytest.mark.parametrize(
    ("today", "days"),
    [(date(2026, 11, 28), 0), (date(2026, 11, 29), 1), (date(2027, 3, 9), 101), (date(2026, 1, 1), -331)],
)
def test_date_offset_is_whole_days_from_the_reference_date(today: date, days: int) -> None:
    assert date_offset(today) == timedelta(days=days)


def test_dates_shift_by_the_offset_and_keep_the_catalog_shape(shipped: list[Item]) -> None:
    today = date(2027, 3, 9)  # 101 days after the reference date
    prepared = prepare_demo_items(shipped, today=today)
    shift = timedelta(days=101)
    for before, after in zip(shipped, prepared, strict=True):
        assert after.published_at == before.published_at + shift
        assert after.expires_at == (before.expires_at + shift if before.expires_at else None)
        assert Item.model_validate(after.model_dump()) == after
    # What was live on the reference day is exactly what is live on the build day.
    reference = datetime(2026, 11, 28, tzinfo=UTC)
    build_day = datetime(2027, 3, 9, tzinfo=UTC)
    live_then = {i.id for i in shipped if i.published_at <= reference and (i.expires_at or reference) >= reference}
    live_now = {i.id for i in prepared if i.published_at <= build_day and (i.expires_at or build_day) >= build_day}
    assert live_now == live_then and len(live_now) > 300
    assert max(i.published_at for i in prepared).date() == today - timedelta(days=3)


def test_a_build_before_the_reference_date_moves_dates_back_and_same_day_builds_agree(shipped: list[Item]) -> None:
    early = prepare_demo_items(shipped, today=date(2026, 6, 1))
    shift = date(2026, 6, 1) - CATALOG_REFERENCE_DATE
    assert [(i.published_at, i.expires_at) for i in early] == [
        (i.published_at + shift, i.expires_at + shift if i.expires_at else None) for i in shipped
    ]
    assert prepare_demo_items(shipped, today=date(2027, 1, 5)) == prepare_demo_items(shipped, today=date(2027, 1, 5))


EVENT_FORMATS = ("activity", "live")


@pytest.mark.parametrize("today", [date(2026, 6, 1), CATALOG_REFERENCE_DATE, date(2027, 3, 9), date(2031, 8, 17)])
def test_on_any_build_day_every_event_is_upcoming_and_expiry_is_still_shown(shipped: list[Item], today: date) -> None:
    now = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    prepared = prepare_demo_items(shipped, today=today)
    events = [i for i in prepared if i.format in EVENT_FORMATS and i.expires_at is not None]
    assert len(events) >= 50
    assert all(i.published_at <= now < i.expires_at for i in events), [i.id for i in events if i.expires_at <= now]
    assert any(i.expires_at <= now + timedelta(days=7) for i in events)  # some end within the week
    expired = [i for i in prepared if i.expires_at is not None and i.expires_at <= now]
    assert len(expired) >= 20 and not {i.format for i in expired} & set(EVENT_FORMATS)
    assert all(i.published_at <= now for i in prepared)  # nothing is dated in the future


def test_covers_are_served_as_svg(tmp_path: Path) -> None:
    with store_only_client(tmp_path, make_store(tmp_path)) as client:
        for topic in ("aerospace", "mental_health"):
            response = client.get(f"/covers/{topic}.svg")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("image/svg+xml")
            assert TOPICS[topic] in response.text
        assert client.get("/covers/no_such_topic.svg").status_code == 404


@pytest.mark.slow
def test_build_demo_runs_every_step_once_then_reuses_the_store(tmp_path: Path) -> None:
    """The main job: the first build runs every step; the second finds them done (ready in seconds)."""
    import os
    import stat

    from api.demo import build_demo
    from content_catalog.settings import Settings
    from content_catalog.store import Store

    settings = Settings(var_dir=tmp_path / "var")
    (tmp_path / "var").mkdir()
    store = Store(settings.resolved_store_url)
    try:
        first = build_demo(store, settings)
        assert first.steps_run == ["ingest", "tag", "embed", "simulate", "train"]
        stats = store.catalog_stats()
        assert stats["items"] == len(load_demo_items()) and stats["untagged"] == 0
        assert store.active_model_version() is not None
        assert stat.S_IMODE(os.stat(first.keys_file).st_mode) == 0o600
        again = build_demo(store, settings)
        assert again.steps_run == []
        assert (again.admin_key, again.model_version) == (first.admin_key, first.model_version)
    finally:
        store.close()
