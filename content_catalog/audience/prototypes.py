"""Audience prototypes: a written portrait of each audience plus the centroid of items editors tagged.

The portraits let the tagger work before any item is labelled (cold start); labelled centroids pull
each prototype toward what editors actually file under that audience. Scores are cosine
similarities rescaled per audience so the blend can compare them with lexicon and classifier scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from content_catalog.audience.labels import LABELS
from content_catalog.audience.vectors import dense, unit_rows

_TITLE_BLOCK = 1_024
"""Rows per block when looking for each row's nearest labelled title."""

AUDIENCE_PROTOTYPES: dict[str, str] = {
    "youth": (
        "面向青少年、中小学生和少年儿童的科普内容。适合小学生、初中生、高中生在校园课堂、课后服务、"
        "寒暑假、研学旅行、夏令营和科技馆里学习。内容通俗有趣、图文并茂，激发好奇心和想象力，"
        "鼓励动手做科学小实验、科技小制作、编程、机器人、航模和创客活动，参加青少年科技创新大赛。"
        "主题包括航空航天、天宫课堂、宇宙星空、恐龙化石、人工智能入门、物理化学趣味实验、"
        "生命奥秘、海洋探索、科学家故事和科学家精神、保护视力预防近视、心理健康与成长、"
        "网络安全和防沉迷。家长和老师可以陪孩子一起看，亲子共学，培养科学思维和探索精神。"
    ),
    "farmers": (
        "面向农民、种植户、养殖户、果农、菜农、渔民和新型职业农民的农业实用技术科普。"
        "内容讲水稻、蔬菜、果树、葡萄、西瓜、太仓白蒜、花卉苗木的种植管理，稻麦两熟、插秧育秧、测土配方施肥、"
        "科学用药、病虫害绿色防控，植保无人机和农机使用，大棚温室和智慧农业；讲生猪、家禽、"
        "鱼塘水产养殖、河蟹养殖、饲料和兽药安全、非洲猪瘟和禽流感防控；讲农时节气、"
        "梅雨、寒潮、暴雨和干旱天气对农业生产的影响，农业气象服务，耕地保护和土壤改良。还包括农产品质量安全、"
        "农村电商和直播带货助农、合作社和家庭农场经营、乡村振兴政策、农技推广和田间课堂，"
        "帮助村民增产增收、防范农资假货和诈骗。"
    ),
    "workers": (
        "面向产业工人、企业职工、一线员工、技术工人和新就业形态劳动者的科普与技能内容。"
        "内容讲车间和生产线的安全生产、操作规程、隐患排查、有限空间和高空作业、动火作业、"
        "特种作业持证上岗、劳动保护和防护用品、职业病和职业健康防护（粉尘、噪声、化学品、中暑）、"
        "工伤预防和应急处置、消防演练；讲职业技能提升和技能等级认定、岗位练兵和技能竞赛、"
        "焊接、数控机床、电工、模具注塑、装配质检等工艺，工业机器人、自动化和智能制造、工业互联网、"
        "数字化转型、新能源汽车和电池制造，精密机械、汽车零部件、航空航天、港口物流和德资企业等本地产业。弘扬劳模精神和工匠精神，"
        "关注外卖骑手、快递员、建筑工人和农民工的安全与健康。"
    ),
    "seniors": (
        "面向老年人、退休长者和银发群体的健康与生活科普。内容讲高血压、糖尿病、心脑血管病、"
        "脑卒中、骨质疏松、关节炎、白内障、阿尔茨海默病和认知症等慢性病的预防和管理，合理用药、"
        "防跌倒、膳食营养、睡眠和养生保健，流感和肺炎疫苗接种，康复锻炼、太极和广场舞。"
        "帮助老年朋友跨越数字鸿沟、学会用智能手机：微信视频通话、网上挂号、健康码、移动支付、"
        "适老化应用；识别保健品虚假宣传、养老诈骗、电信诈骗和网络谣言。还包括居家养老、"
        "社区卫生服务、老年大学课程、代际沟通和带孙育儿，语言通俗、字大、节奏慢。"
    ),
    "officials": (
        "面向领导干部和公务员的科学素质提升内容，服务科学决策和治理能力现代化。内容包括新质生产力、"
        "高质量发展、创新驱动发展和科技自立自强战略，人工智能、数字经济、数字政府和政务服务、"
        "数据安全和网络安全治理，双碳战略、碳达峰碳中和路径与能源转型，应急管理、防灾减灾和风险研判、"
        "舆情应对，基层治理、社会治理和城市治理，营商环境、产业政策、科技成果转化和招商引资，"
        "长三角一体化科技创新布局。形式多为专题讲座、中心组理论学习、党校和行政学院课程、"
        "政策解读、案例分析和规划纲要解读，落实全民科学素质行动规划纲要。"
    ),
    "public": (
        "面向社会公众、广大市民和全家老少的通用科普内容，不限年龄和职业。内容包括科技馆常设展品和展厅、"
        "科技活动周和全国科普日活动、天文现象和航天新闻、身边的物理化学、动植物和生态保护、"
        "长江口湿地和江豚、海洋生物、城市气象和梅雨台风寒潮预警、地震火灾等防灾减灾与应急避险、急救常识、"
        "用电燃气和电动自行车消防安全、食品安全和营养标签、健康生活方式、辟谣和科学常识、"
        "防范电信网络诈骗、垃圾分类和低碳生活，适合周末带家人参观、社区居民共同参与。"
    ),
}
"""Label (5 audiences + public) -> Chinese portrait of its interests and vocabulary (cold-start prototype)."""


class PrototypeScorer:
    """Cosine similarity of items to per-audience prototypes, rescaled to [0, 1].

    prototype = unit(description_weight · unit(portrait) + (1 − description_weight) · unit(centroid of
    labelled items)); without labelled items for an audience the portrait alone is used. Each
    audience's similarity is divided by the 90th percentile it reaches on the fitting texts, so one
    audience with a longer portrait does not dominate. `fit` expects unit-normalised rows.
    """

    def __init__(self, description_weight: float = 0.3, scale_quantile: float = 0.9) -> None:
        self.description_weight = description_weight
        self.scale_quantile = scale_quantile

    def fit(
        self,
        portraits: Any,
        labelled: Any,
        labels: np.ndarray,
        titles: Sequence[str],
        background: Any | None = None,
    ) -> PrototypeScorer:
        """portraits (6, d), labelled (n, d) unit rows, labels (n, 6) 0/1 in LABELS order, titles (n,).

        `background` (m, d): extra unlabelled rows whose similarities set the per-audience scale.
        """
        if not 0.0 <= self.description_weight <= 1.0:
            raise ValueError(f"description_weight must be in [0, 1], got {self.description_weight}")
        portraits = dense(unit_rows(portraits))
        labelled = unit_rows(labelled)
        labels = np.asarray(labels, dtype=bool)
        if labels.shape != (labelled.shape[0], len(LABELS)):
            raise ValueError(
                f"labels must have shape ({labelled.shape[0]}, {len(LABELS)}), got {labels.shape}"
            )
        protos = portraits.copy()
        for j in range(len(LABELS)):
            if labels[:, j].any():
                centroid = dense(unit_rows(np.asarray(labelled[labels[:, j]].mean(axis=0)).reshape(1, -1)))[0]
                protos[j] = (
                    self.description_weight * portraits[j] + (1.0 - self.description_weight) * centroid
                )
        self.prototypes_ = dense(unit_rows(protos))
        self.labelled_ = labelled
        self.labels_ = labels
        self.titles_ = list(titles)
        reference = labelled if background is None else unit_rows(background)
        sims = self._cosine(reference)
        scale = np.quantile(sims, self.scale_quantile, axis=0) if sims.shape[0] else np.ones(len(LABELS))
        self.scale_ = np.where(scale > 1e-9, scale, 1.0)
        return self

    def _cosine(self, vectors: Any) -> np.ndarray:
        return np.asarray(vectors @ self.prototypes_.T)

    def transform(self, vectors: Any) -> np.ndarray:
        """Scores (n, 6) in [0, 1], columns in LABELS order."""
        return np.clip(self._cosine(unit_rows(vectors)) / self.scale_, 0.0, 1.0)

    def nearest_titles(self, vectors: Any, audience_index: int) -> list[str | None]:
        """Title of the most similar labelled item of that audience, per row (None if there is none).

        Rows go in blocks: one (rows × members) similarity matrix of a 100k-item catalog would take ~8 GB."""
        members = np.flatnonzero(self.labels_[:, audience_index])
        if members.size == 0:
            return [None] * vectors.shape[0]
        member_rows = self.labelled_[members].T
        best = [
            dense(unit_rows(vectors[start : start + _TITLE_BLOCK]) @ member_rows).argmax(axis=1)
            for start in range(0, vectors.shape[0], _TITLE_BLOCK)
        ]
        return [self.titles_[members[k]] for k in np.concatenate(best)] if best else []
