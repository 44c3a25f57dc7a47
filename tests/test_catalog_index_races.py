"""Issue 9 defect 1: processes saving the catalog index at once never brick a later start, and a start
over a broken index folder skips it (logged) instead of failing."""

from __future__ import annotations

import logging
import multiprocessing
import shutil
from pathlib import Path

import pytest

from content_catalog.catalog_index import CatalogIndex, embed_catalog, load_catalog_index
from content_catalog.encoders import make_encoder
from content_catalog.schema import Item
from content_catalog.settings import Settings
from content_catalog.store import Store

ITEMS = [
    Item(id="rice", title="水稻稻飞虱绿色防控", summary="灯光诱杀、释放天敌，减少化学农药用量。"),
    Item(id="lychee", title="荔枝蒂蛀虫的防治时机", summary="抓住花期和幼果期喷药，果园清园很关键。"),
    Item(id="fall", title="老年人居家防跌倒", summary="浴室加扶手、夜灯常亮，起身做到三个三十秒。"),
    Item(id="scam", title="冒充客服退款的诈骗套路", summary="不点陌生链接，不开屏幕共享，不给验证码。"),
    Item(id="rocket", title="长征火箭为什么要分级", summary="扔掉用完的燃料箱，火箭才能飞得更快更远。"),
]
WRITERS = 3
ROUNDS = 2


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        store_url=f"sqlite:///{(tmp_path / 'kepu.db').as_posix()}",
        var_dir=tmp_path / "var",
        encoder="tfidf-svd",
        encoder_dim=8,
    )


def _writer(settings: Settings, barrier: multiprocessing.synchronize.Barrier, refit: bool) -> None:  # type: ignore[name-defined]
    """One process: wait for the others, then embed (and save and register) the catalog ROUNDS times."""
    store = Store(settings.resolved_store_url)
    try:
        barrier.wait(timeout=60)
        for _ in range(ROUNDS):
            embed_catalog(store, settings, refit=refit)
    finally:
        store.close()


@pytest.mark.parametrize("refit", [True, False], ids=["refit", "first-build"])
def test_concurrent_writers_leave_a_loadable_index(tmp_path: Path, refit: bool) -> None:
    settings = settings_for(tmp_path)
    with Store(settings.resolved_store_url) as store:
        store.upsert_items(ITEMS, actor="test")
    context = multiprocessing.get_context("fork")  # fast: no re-import per writer
    barrier = context.Barrier(WRITERS)
    writers = [context.Process(target=_writer, args=(settings, barrier, refit)) for _ in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=240)
    assert [p.exitcode for p in writers] == [0] * WRITERS

    with Store(settings.resolved_store_url) as store:
        record = store.latest_vector_index_version("tfidf-svd")
        assert record is not None
        loaded = load_catalog_index(store, settings)  # the start after the race works
        assert loaded is not None and len(loaded.index) == len(ITEMS)
        assert loaded.search("火箭", k=1)[0][0] == "rocket"
        catalog, report = embed_catalog(store, settings)
        assert report is not None or len(catalog.index) == len(ITEMS)
    encoder_dir = settings.index_dir / "tfidf-svd"
    leftovers = [p.name for p in encoder_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


@pytest.mark.parametrize("damage", ["encoder", "index", "texts.json", "folder"])
def test_start_over_a_broken_index_skips_it_and_rebuilds(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path)
    with Store(settings.resolved_store_url) as store:
        store.upsert_items(ITEMS, actor="test")
        embed_catalog(store, settings)
        record = store.latest_vector_index_version("tfidf-svd")
        assert record is not None
        broken = Path(record.path)
        target = broken if damage == "folder" else broken / damage
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
        if damage == "folder":  # a half-written folder: present, but empty
            broken.mkdir()

        with caplog.at_level(logging.WARNING):
            catalog, _ = embed_catalog(store, settings)
        assert "skipping broken catalog index" in caplog.text
        assert len(catalog.index) == len(ITEMS)
        assert catalog.search("火箭", k=1)[0][0] == "rocket"
        reloaded = load_catalog_index(store, settings)
        assert reloaded is not None and len(reloaded.index) == len(ITEMS)


def _saver(catalog: CatalogIndex, folder: Path, barrier: multiprocessing.synchronize.Barrier) -> None:  # type: ignore[name-defined]
    barrier.wait(timeout=60)
    for _ in range(10):
        catalog.save(folder)


def test_concurrent_saves_of_one_folder_leave_it_complete(tmp_path: Path) -> None:
    catalog = CatalogIndex.build(ITEMS, make_encoder("tfidf-svd", dim=8, random_state=0), catalog_version="v1")
    folder = tmp_path / "index" / "v1"
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    savers = [context.Process(target=_saver, args=(catalog, folder, barrier)) for _ in range(4)]
    for process in savers:
        process.start()
    for process in savers:
        process.join(timeout=120)
    assert [p.exitcode for p in savers] == [0] * 4
    loaded = CatalogIndex.load(folder)
    assert loaded.search("火箭", k=1)[0][0] == "rocket"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["v1"]  # no staging folder left behind
