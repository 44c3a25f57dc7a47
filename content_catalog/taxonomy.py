"""The controlled vocabularies every layer shares: audiences, science topics, formats, towns.

Ids are short English slugs (stable in URLs, features and model bundles); labels are the Chinese
names editors and users see. Topics follow the city's science-popularization plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

AUDIENCES: Final[dict[str, str]] = {
    "youth": "青少年",
    "farmers": "农民",
    "workers": "产业工人",
    "seniors": "老年人",
    "officials": "领导干部和公务员",
    "public": "社会公众",
}
"""Audience id -> Chinese label. `public` is the fallback when no specific audience fits."""

SPECIFIC_AUDIENCES: Final[tuple[str, ...]] = ("youth", "farmers", "workers", "seniors", "officials")
"""The five audiences the plan targets explicitly (everything except `public`)."""

TOPICS: Final[dict[str, str]] = {
    "aerospace": "航空航天",
    "ai": "人工智能",
    "digital_skills": "信息技术与数字技能",
    "health": "健康与医疗",
    "disaster_prevention": "防灾减灾与应急",
    "work_safety": "安全生产",
    "agri_tech": "农业技术",
    "smart_agriculture": "智慧农业",
    "ecology": "生态环境",
    "meteorology": "气象",
    "food_drug_safety": "食品药品安全",
    "anti_fraud_rumor": "防诈骗与反谣言",
    "scientist_spirit": "科学家精神",
    "energy_carbon": "能源与双碳",
    "advanced_manufacturing": "先进制造",
    "life_science": "生命科学",
    "basic_science": "物理/化学/天文基础",
    "scientific_thinking": "科学方法与思维",
    "marine": "海洋科学",
    "mental_health": "心理健康",
}
"""Topic id -> Chinese label: the science-topic taxonomy drawn from the plan."""

FORMATS: Final[dict[str, str]] = {
    "article": "图文",
    "video": "视频",
    "course": "课程",
    "activity": "活动",
    "exhibit": "展品",
    "live": "直播",
}
"""Content format id -> Chinese label."""

READING_LEVELS: Final[dict[str, str]] = {
    "easy": "通俗易懂",
    "medium": "一般",
    "advanced": "专业",
}
"""Reading level id -> Chinese label (how much prior knowledge the item assumes)."""

CHANNELS: Final[dict[str, str]] = {
    "web": "数字科技馆网站",
    "wechat": "微信小程序",
    "kiosk": "馆内触摸屏",
    "editor": "编辑预览",
}
"""Delivery channels a recommendation request can come from."""

CITY: Final[str] = "太仓市"
TOWNS: Final[tuple[str, ...]] = (
    "城厢镇", "沙溪镇", "浏河镇", "浮桥镇", "璜泾镇", "双凤镇", "娄东街道", "陆渡街道", "太仓港经开区", "太仓高新区",
)
"""太仓市's six towns and two sub-districts, plus the port (太仓港经济技术开发区) and high-tech zone areas;
local activities name one of them."""


def _prefix(field: str) -> str:
    return f"{field}: " if field else ""


def check_audience(value: str, field: str = "") -> str:
    """`value` if it is a known audience id, else a ValueError naming `field` and the choices."""
    if value not in AUDIENCES:
        raise ValueError(f"{_prefix(field)}unknown audience {value!r}; expected one of {sorted(AUDIENCES)}")
    return value


def check_audiences(values: Iterable[str], field: str = "") -> list[str]:
    """Known audience ids, duplicates dropped in order; a ValueError lists every unknown one."""
    values = list(values)
    unknown = [a for a in values if a not in AUDIENCES]
    if unknown:
        raise ValueError(f"{_prefix(field)}unknown audience(s) {unknown}; expected some of {sorted(AUDIENCES)}")
    return list(dict.fromkeys(values))


def check_topics(values: Iterable[str], field: str = "") -> list[str]:
    """Known topic ids, duplicates dropped in order; a ValueError lists every unknown one."""
    values = list(values)
    unknown = [t for t in values if t not in TOPICS]
    if unknown:
        raise ValueError(f"{_prefix(field)}unknown topic(s) {unknown}; see content_catalog.taxonomy.TOPICS")
    return list(dict.fromkeys(values))


def check_channel(value: str, field: str = "") -> str:
    """`value` if it is a known channel id, else a ValueError naming `field` and the choices."""
    if value not in CHANNELS:
        raise ValueError(f"{_prefix(field)}unknown channel {value!r}; expected one of {sorted(CHANNELS)}")
    return value
