"""Catalog embeddings: build, search, incremental sync and persistence through the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from content_catalog.catalog_index import CatalogIndex, embed_catalog, load_catalog_index
from content_catalog.encoders import make_encoder
from content_catalog.schema import Item
from content_catalog.settings import Settings
from content_catalog.store import Store

ITEMS = [
    Item(id="rice", title="水稻稻飞虱绿色防控", summary="灯光诱杀、释放天敌，减少化学农药用量。"),
    Item(id="garlic", title="太仓白蒜蒜蛆的防治时机", summary="抓住成虫产卵高峰灌根，施用腐熟有机肥很关键。"),
    Item(id="fall", title="老年人居家防跌倒", summary="浴室加扶手、夜灯常亮，起身做到三个三十秒。"),
    Item(id="scam", title="冒充客服退款的诈骗套路", summary="不点陌生链接，不开屏幕共享，不给验证码。"),
    Item(id="rocket", title="长征火箭为什么要分级", summary="扔掉用完的燃料箱，火箭才能飞得更快更远。"),
    Item(id="robot", title="工业机器人安全操作规程", summary="进入机器人工作区域前必须停机挂牌上锁。"),
]


def _encoder():
    return make_encoder("tfidf-svd", dim=4, random_state=0)


def test_build_and_search_finds_the_matching_item() -> None:
    catalog = CatalogIndex.build(ITEMS, _encoder())
    assert len(catalog.index) == len(ITEMS)
    hits = catalog.search("稻飞虱怎么防治", k=3)
    assert hits[0][0] == "rice"
    assert all(-1.0001 <= score <= 1.0001 for _, score in hits)
    assert "rice" not in [i for i, _ in catalog.search("稻飞虱", k=3, exclude=["rice"])]
    with pytest.raises(ValueError, match="query"):
        catalog.search("   ")


def test_sync_encodes_only_changed_items_and_drops_deleted_ones() -> None:
    catalog = CatalogIndex.build(ITEMS, _encoder(), catalog_version="v1")
    before = catalog.index.vector("rice").copy()
    edited = ITEMS[1].model_copy(update={"title": "太仓白蒜蒜蛆：产卵高峰前后怎么防"})
    new = Item(id="heat", title="高温天气车间防中暑", summary="多喝淡盐水，轮换休息。")
    report = catalog.sync([ITEMS[0], edited, *ITEMS[2:5], new], "v2")
    assert (report.added, report.updated, report.removed) == (1, 1, 1)
    assert "robot" not in catalog.index and "heat" in catalog.index
    assert np.allclose(catalog.index.vector("rice"), before)  # untouched items keep their vectors
    assert catalog.catalog_version == "v2"
    assert not catalog.sync([ITEMS[0], edited, *ITEMS[2:5], new], "v2").changed


def test_save_load_round_trip(tmp_path: Path) -> None:
    catalog = CatalogIndex.build(ITEMS, _encoder(), catalog_version="v1")
    loaded = CatalogIndex.load(catalog.save(tmp_path / "idx"))
    assert loaded.catalog_version == "v1"
    assert loaded.search("火箭", k=1) == catalog.search("火箭", k=1)
    with pytest.raises(FileNotFoundError, match="not a saved catalog index"):
        CatalogIndex.load(tmp_path / "nothing")


def test_embed_catalog_persists_and_follows_store_changes(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path / "var", encoder_dim=8)
    store = Store(f"sqlite:///{tmp_path / 'kepu.db'}")
    try:
        assert load_catalog_index(store, settings) is None
        store.upsert_items(ITEMS)
        first, report = embed_catalog(store, settings)
        assert report is None  # a full build
        again, report = embed_catalog(store, settings)
        assert report is not None and not report.changed
        assert again.catalog_version == first.catalog_version
        store.delete_item("robot", actor="test")
        store.upsert_items([Item(id="heat", title="高温天气车间防中暑", summary="多喝淡盐水，轮换休息。")])
        updated, report = embed_catalog(store, settings)
        assert report is not None and (report.added, report.removed) == (1, 1)
        assert updated.catalog_version == store.catalog_version()
        reloaded = load_catalog_index(store, settings)
        assert reloaded is not None and "heat" in reloaded.index and "robot" not in reloaded.index
        heat_text = store.get_item("heat").text  # encoded with the saved (not refitted) encoder
        assert np.allclose(reloaded.index.vector("heat"), reloaded.encoder.encode([heat_text])[0], atol=1e-5)
    finally:
        store.close()
