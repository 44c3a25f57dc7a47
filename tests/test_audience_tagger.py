"""AudienceTagger behaviour on a tiny hand-written catalog: tags, reasons, editor override, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from content_catalog.audience import AudienceTagger, NotFittedError
from content_catalog.schema import Item, TagSource
from content_catalog.taxonomy import SPECIFIC_AUDIENCES
from tests.test_audience_fixtures import fixture_items


@pytest.fixture(scope="module")
def fitted() -> AudienceTagger:
    return AudienceTagger(min_labelled=30, inner_folds=3).fit(fixture_items())


def test_fit_trains_classifier_and_tunes_blend(fitted: AudienceTagger) -> None:
    assert fitted.supervised_used_
    assert sum(fitted.weights_) == pytest.approx(1.0)
    assert fitted.thresholds_.shape == (6,)
    assert fitted.inner_macro_f1_ is not None and fitted.inner_macro_f1_ > 0.5


def test_predict_scores_shape_and_range(fitted: AudienceTagger) -> None:
    items = fixture_items(labelled=False)[:5]
    scores = fitted.predict_scores(items)
    assert list(scores.columns) == list(SPECIFIC_AUDIENCES)
    assert list(scores.index) == [i.id for i in items]
    assert ((scores.to_numpy() >= 0) & (scores.to_numpy() <= 1)).all()
    assert fitted.predict_scores(items, include_public=True).shape == (5, 6)


def test_new_items_get_the_right_audience_with_keyword_reason(fitted: AudienceTagger) -> None:
    new = [
        Item(id="n1", title="晚稻插秧后的病虫害防治", summary="农户注意稻田施肥和农药安全间隔期。"),
        Item(id="n2", title="老年人骨质疏松怎么补钙", summary="长者预防跌倒，合理用药。"),
    ]
    tags = fitted.predict(new)
    assert tags[0][0].audience == "farmers"
    assert tags[1][0].audience == "seniors"
    for item_tags in tags:
        assert item_tags[0].source == TagSource.AUTO
        assert item_tags[0].reason and item_tags[0].reason.startswith("关键词：")
        assert 0.0 <= item_tags[0].score <= 1.0


def test_public_fallback_when_nothing_fits(fitted: AudienceTagger) -> None:
    tags = fitted.predict([Item(id="x", title="Lorem ipsum", summary="dolor sit amet")])[0]
    assert [t.audience for t in tags] == ["public"]
    assert tags[0].reason and "社会公众" in tags[0].reason


def test_editor_labels_always_win(fitted: AudienceTagger) -> None:
    editor = Item(id="e1", title="水稻病虫害防治", summary="农户科学用药", audiences=["officials"])
    plain = Item(id="p1", title="水稻病虫害防治", summary="农户科学用药")
    out = fitted.tag_items([editor, plain])
    assert out[0].audiences == editor.audiences
    assert out[0].audiences[0].source == TagSource.EDITOR
    assert out[1].audiences[0].audience == "farmers" and out[1].audiences[0].source == TagSource.AUTO
    assert plain.audiences == []  # inputs are not mutated


def test_save_load_round_trip(fitted: AudienceTagger, tmp_path: Path) -> None:
    items = fixture_items(labelled=False)
    folder = fitted.save(tmp_path / "tagger")
    assert (folder / "manifest.json").is_file()
    loaded = AudienceTagger.load(folder)
    np.testing.assert_allclose(
        loaded.predict_scores(items).to_numpy(), fitted.predict_scores(items).to_numpy()
    )
    assert loaded.predict(items) == fitted.predict(items)


def test_load_missing_folder_is_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"tagger\.joblib"):
        AudienceTagger.load(tmp_path)


def test_cold_start_without_labels_uses_lexicon_and_portraits() -> None:
    tagger = AudienceTagger().fit(fixture_items(labelled=False))
    assert not tagger.supervised_used_ and tagger.weights_[2] == 0.0
    tags = tagger.predict([Item(id="c", title="车间安全生产：焊工职业病防护", summary="企业职工劳动保护")])[0]
    assert tags[0].audience == "workers"


def test_not_fitted_and_bad_params_raise() -> None:
    with pytest.raises(NotFittedError):
        AudienceTagger().predict([Item(id="a", title="t")])
    with pytest.raises(ValueError, match="weights"):
        AudienceTagger(weights=(1.0, -1.0, 0.0)).fit(fixture_items())
    with pytest.raises(ValueError, match="threshold"):
        AudienceTagger(threshold={"aliens": 0.5}).fit(fixture_items())


def test_fixed_weights_and_threshold_are_respected() -> None:
    tagger = AudienceTagger(weights=(1.0, 0.0, 0.0), threshold=0.5).fit(fixture_items())
    assert tagger.weights_ == (1.0, 0.0, 0.0)
    assert (tagger.thresholds_ == 0.5).all()
