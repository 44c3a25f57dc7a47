"""Issue 8 targets 3, 8 and 9 (catalog side): catalog changes applied item by item, written through one
service and served by another on the same store; a write encodes only what it changed; index rebuilds run
behind the serving index; start-up never re-saves the whole index, and /readyz waits for warm-up."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import content_catalog.store.items as store_items
from api.app import create_app
from api.service_provider import BundleServiceProvider
from content_catalog.catalog_index import embed_catalog
from content_catalog.encoders import make_encoder
from content_catalog.schema import Item
from content_catalog.store import Store
from content_catalog.vector_index import VectorIndex
from recommender import lexical
from recommender.lexical import analyze
from recommender.search_cache import FOLDER as SEARCH_CACHE
from recommender.service import RecommendationRequest, RecommendationService, ServiceSettings
from tests.test_api_support import api_settings, catalog_items, make_store, shared_trained_db

NOW = datetime.now(UTC)


class CountingEncoder:
    """A real fitted encoder that counts the texts it encodes (what a write costs)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.encode(texts)  # type: ignore[attr-defined]

    @property
    def dim(self) -> int:
        return self.inner.dim  # type: ignore[attr-defined]


def _fitted() -> object:
    encoder = make_encoder("tfidf-svd", dim=8, random_state=0)
    encoder.fit([it.text for it in catalog_items()])
    return encoder


def _service(store: Store, encoder: object) -> RecommendationService:
    counting = CountingEncoder(encoder)
    return RecommendationService(store, None, counting, VectorIndex(counting.dim))


def _item(item_id: str, title: str, summary: str = "水稻稻飞虱的绿色防控") -> Item:
    return Item.model_validate(
        {
            "id": item_id,
            "title": title,
            "summary": summary,
            "topics": ["agri_tech"],
            "format": "article",
            "audiences": ["farmers"],
            "published_at": NOW - timedelta(days=1),
        }
    )


def test_items_written_through_one_service_are_served_by_another(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    encoder = _fitted()
    writer, reader = _service(store, encoder), _service(store, encoder)
    for service in (writer, reader):
        service.warm_up()

    store.upsert_items([_item("new-1", "稻飞虱防治新方法")], actor="test")
    writer.apply_item_changes()
    view, _, _ = reader._catalog()
    assert view.ids.get("new-1") >= 0 and "new-1" in reader.index
    assert [card.id for card in reader.similar("seed-1", k=20)].count("new-1") == 1

    store.upsert_items([_item("new-1", "稻飞虱防治的改进方法")], actor="test")
    view, _, _ = reader._catalog()
    assert view.items[view.ids.get("new-1")].title == "稻飞虱防治的改进方法"

    store.delete_item("new-1", actor="test")
    view, _, _ = reader._catalog()
    assert view.ids.get("new-1") == -1 and "new-1" not in reader.index
    page = reader.recommend(RecommendationRequest(audience="farmers", k=20))
    assert "new-1" not in [card.id for card in page.items]


def test_a_write_encodes_and_rebuilds_only_the_changed_item(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    service = _service(store, _fitted())
    service.warm_up()
    counting: CountingEncoder = service.encoder  # type: ignore[assignment]
    before, _, _ = service._catalog()
    counting.texts.clear()

    edited = _item("seed-2", "植保无人机作业新规范")
    store.upsert_items([edited, _item("new-2", "大棚传感器入门")], actor="test")
    service.apply_item_changes()
    after, _, _ = service._catalog()

    assert sorted(counting.texts) == sorted([edited.text, _item("new-2", "大棚传感器入门").text])
    assert after.size == before.size + 1 and after.ids.get("seed-2") == before.ids.get("seed-2")
    untouched = [r for r in range(before.size) if before.items[r].id != "seed-2"]
    assert all(after.items[r] is before.items[r] for r in untouched)  # rows not rebuilt, only carried over
    np.testing.assert_array_equal(after.topics[untouched], before.topics[untouched])
    assert before.items[before.ids.get("seed-2")].title != "植保无人机作业新规范"  # readers' view untouched

    counting.texts.clear()
    service.warm_up()  # nothing changed: no encoding, same state
    assert counting.texts == ["科普"] and service._catalog()[0] is after


def test_catalog_version_sees_two_changes_in_one_clock_tick(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(tmp_path)
    tick = NOW + timedelta(days=1)
    monkeypatch.setattr(store_items, "utc_now", lambda: tick)
    versions = [store.catalog_version()]
    store.upsert_items([_item("t-1", "同一时刻的第一次写入")], actor="test")
    versions.append(store.catalog_version())
    store.upsert_items([_item("t-2", "同一时刻的第二次写入")], actor="test")
    versions.append(store.catalog_version())
    store.upsert_items([_item("t-2", "同一时刻改写第二条")], actor="test")
    versions.append(store.catalog_version())
    store.delete_item("t-1", actor="test")
    versions.append(store.catalog_version())
    assert len(set(versions)) == len(versions)
    changes = store.item_changes_since(tick - timedelta(microseconds=1))
    assert [it.id for it in changes.items] == ["t-2"] and changes.deleted == ["t-1"]


def test_hnsw_switch_is_built_behind_the_serving_index(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    index = VectorIndex(8, hnsw_threshold=40)
    index.background_rebuilds = True
    index.add([f"i{n}" for n in range(40)], rng.normal(size=(40, 8)))
    started, release = threading.Event(), threading.Event()
    build = index._built

    def gated(*args: object) -> object:
        started.set()
        assert release.wait(30)
        return build(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(index, "_built", gated)
    index.add(["i40"], rng.normal(size=(1, 8)))  # crosses the threshold: the switch starts behind
    assert started.wait(30)
    assert not index.is_hnsw  # the exact index still serves while HNSW builds
    late = rng.normal(size=(1, 8))
    index.add(["late"], late)  # journalled, replayed onto the new index
    index.remove(["i0"])
    assert index.search(late, 1)[0] == [["late"]]
    release.set()
    assert index.wait_for_rebuild(30)
    assert index.is_hnsw and index.rebuilds == 1 and len(index) == 41
    assert index.search(late, 1)[0] == [["late"]]
    assert "i0" not in index.search(index.vector("i1")[None, :], 41)[0][0]


def test_restart_after_writes_does_not_resave_before_listening(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    settings = api_settings(tmp_path)
    embed_catalog(store, settings)
    store.upsert_items([_item("late-1", "重启前写入的新条目")], actor="test")
    provider = BundleServiceProvider(store, settings, load_active_on_start=False)
    service = provider.current()
    assert len(store.vector_index_versions(settings.encoder, limit=10)) == 1  # built without saving
    assert not provider.is_warm() and "late-1" not in service.index
    provider.warm_up()
    assert provider.is_warm() and "late-1" in service.index
    provider.close()  # joins the background save
    latest = store.vector_index_versions(settings.encoder, limit=10)
    assert len(latest) == 2 and latest[0].catalog_version == store.catalog_version()


def test_readyz_waits_for_the_catalog_warm_up(tmp_path: Path) -> None:
    db = tmp_path / "kepu.db"
    shutil.copyfile(shared_trained_db(), db)
    store = Store(f"sqlite:///{db.as_posix()}")
    settings = api_settings(tmp_path)
    provider = BundleServiceProvider(store, settings)
    client = TestClient(create_app(settings, store=store, service_provider=provider))  # no lifespan: no warm-up
    service = provider.current()  # the model is loaded, the catalog not yet built
    cold = client.get("/readyz")
    assert cold.status_code == 503 and cold.json()["checks"]["catalog"].startswith("warming up")
    service._catalog()  # catalog view built, the keyword index not yet: a first /search would build it
    assert client.get("/readyz").status_code == 503
    provider.warm_up()
    assert service._searcher is not None and service._searcher.view is service._catalog()[0]
    warm = client.get("/readyz")
    assert warm.status_code == 200 and "catalog" not in warm.json()["checks"]
    provider.close()
    store.close()


def test_a_catalog_change_while_down_invalidates_the_saved_keyword_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, encoder, cache = make_store(tmp_path), _fitted(), tmp_path / "cache"
    analysed: list[str] = []
    monkeypatch.setattr(lexical, "analyze", lambda text, glossary: analysed.append(text) or analyze(text, glossary))

    def start() -> RecommendationService:  # a new process: the keyword index comes from the cache folder
        index = VectorIndex(encoder.dim)  # type: ignore[attr-defined]
        service = RecommendationService(store, None, encoder, index, settings=ServiceSettings(search_cache_dir=cache))
        service.warm_up()
        return service

    first = start()  # nothing saved yet: every text analysed, the index saved
    saved = (cache / SEARCH_CACHE / "CURRENT").read_text(encoding="utf-8")
    assert len(analysed) == 2 * len(catalog_items()) and "新物种" not in first.searcher().lexical.vocabulary
    analysed.clear()
    assert start().searcher().lexical.size == len(catalog_items()) and analysed == []  # a restart loads it

    down = _item("down-1", "湿地发现新物种", summary="保护区首次记录到新物种")
    store.upsert_items([down], actor="cli")  # written while no service runs
    service = start()
    assert sorted(analysed) == sorted([down.title, down.text])  # only the new item goes through jieba
    view, lexical_index = service._catalog()[0], service.searcher().lexical
    assert view.items[int(np.argmax(lexical_index.scores("新物种")))].id == "down-1"
    assert (cache / SEARCH_CACHE / "CURRENT").read_text(encoding="utf-8") != saved
