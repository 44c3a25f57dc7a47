"""Tagging the store: auto tags for unlabelled items, editor labels untouched."""

from __future__ import annotations

from pathlib import Path

from content_catalog.audience.tag_store import tag_store
from content_catalog.schema import Item, TagSource
from content_catalog.store import Store


def test_tag_store_fills_the_auto_layer_and_keeps_editor_labels(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'kepu.db'}")
    try:
        store.upsert_items(
            [
                Item(id="e1", title="水稻稻飞虱绿色防控", summary="田间虫情怎么看", audiences=["seniors"]),
                Item(id="a1", title="老年人居家防跌倒", summary="浴室加扶手，起身慢一点，子女多提醒。"),
                Item(id="a2", title="太仓白蒜防蒜蛆", summary="产卵高峰灌根，种植户注意用药安全间隔期。"),
            ]
        )
        report = tag_store(store)
        assert (report.tagged, report.editor_labelled) == (2, 1)
        assert report.trained_on == "the shipped demo catalog"
        editor = store.get_item("e1")
        assert [(t.audience, t.source) for t in editor.audiences] == [("seniors", TagSource.EDITOR)]
        seniors = store.get_item("a1")
        farmers = store.get_item("a2")
        assert all(t.source == TagSource.AUTO and t.reason for t in seniors.audiences + farmers.audiences)
        assert "seniors" in [t.audience for t in seniors.audiences]
        assert "farmers" in [t.audience for t in farmers.audiences]
        assert store.catalog_stats()["untagged"] == 0
    finally:
        store.close()
