"""The shipped demo catalog belongs to 太仓市: its towns are the taxonomy's, its publishers and texts are
Taicang's, and nothing of the city it was first written for (中山市, Guangdong) is left."""

from __future__ import annotations

from collections import Counter

import pytest

from content_catalog.demo_catalog import load_demo_items
from content_catalog.schema import Item
from content_catalog.taxonomy import CITY, TOWNS


@pytest.fixture(scope="module")
def shipped() -> list[Item]:
    return load_demo_items()


def _text(item: Item) -> str:
    return " ".join(filter(None, (item.title, item.summary, item.body, item.source_org, item.town)))


def test_the_city_and_its_towns_are_taicangs() -> None:
    assert CITY == "太仓市"
    assert {"城厢镇", "沙溪镇", "浏河镇", "浮桥镇", "璜泾镇", "双凤镇", "娄东街道", "陆渡街道"} <= set(TOWNS)


def test_every_local_item_names_a_known_town_and_most_towns_have_one(shipped: list[Item]) -> None:
    towns = Counter(item.town for item in shipped if item.town)
    assert set(towns) <= set(TOWNS), set(towns) - set(TOWNS)
    assert len(towns) >= 8 and sum(towns.values()) >= 50


# Place names, institutions and crops of the former setting; none may appear in any field an editor reads
# ("广东" alone may: kp-a-115 says where mangroves grow in China).
FORMER_SETTING = (
    "中山", "广东省", "粤", "珠三角", "珠江", "岭南", "岐江", "石岐", "小榄", "五桂山", "坦洲", "火炬开发区",
    "荔枝", "龙眼", "香蕉", "脆肉鲩", "早造", "晚造", "龙舟水", "回南天", "灯饰", "中华白海豚",
)


def test_nothing_of_the_former_city_is_left(shipped: list[Item]) -> None:
    hits = {(item.id, word) for item in shipped for word in FORMER_SETTING if word in _text(item)}
    assert not hits, sorted(hits)


def test_publishers_are_local_or_provincial_and_the_plans_programmes_appear(shipped: list[Item]) -> None:
    publishers = {item.source_org for item in shipped}
    outside = {org for org in publishers if "太仓" not in org}
    assert all(org.startswith(("苏州", "江苏", "南京", "西工大", "双凤", "浏河")) for org in outside), outside
    corpus = "\n".join(_text(item) for item in shipped)
    for programme in ("苏州科学家日", "科普进万家", "科普中国", "明天小小科学家", "市长杯", "青少年科技节",
                      "新时代文明实践", "数字乡村", "农业大数据平台", "产业+科普", "太仓白蒜", "稻麦两熟",
                      "长江", "梅雨", "寒潮", "德资", "太仓港", "科技志愿服务大队", "科学家精神教育基地"):
        assert programme in corpus, programme
