"""Print, as markdown, what a brand-new user of each audience sees on a running `kepu demo` service.

Only the public HTTP API is used, so the report describes exactly what clients get:
per audience and channel the top-k of `GET /v1/audiences/{audience}/preview`, one known simulated
user's recommendations with reasons, a search, and a two-page WeChat feed checked for repeats.
Each card is looked up with `GET /v1/items/{id}` to flag what looks wrong (expired on the server's
date, not tagged for the audience it is shown to) — the flags are reported, never fixed here.

    .venv/bin/python bench/demo_report.py --base-url http://127.0.0.1:8791 > /tmp/demo-tables.md
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from content_catalog.taxonomy import AUDIENCES, FORMATS, TOPICS

PREVIEW_CHANNELS = ("web", "wechat")


@dataclass
class Api:
    """A tiny JSON client for the Kepu HTTP API (stdlib only, so the script runs anywhere)."""

    base_url: str
    api_key: str | None = None
    item_cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None}, doseq=True)
        url = f"{self.base_url.rstrip('/')}{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self.api_key:
            request.add_header("X-API-Key", self.api_key)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"GET {url} -> {exc.code}: {exc.read().decode('utf-8', 'replace')}") from None
        except urllib.error.URLError as exc:
            raise SystemExit(f"GET {url} failed: {exc.reason} (is `kepu demo` running?)") from None

    def item(self, item_id: str) -> dict[str, Any]:
        if item_id not in self.item_cache:
            self.item_cache[item_id] = self.get(f"/v1/items/{urllib.parse.quote(item_id)}")
        return self.item_cache[item_id]


def _cell(text: object) -> str:
    """Markdown-table-safe text."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _when(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None


def card_flags(api: Api, card: dict[str, Any], audience: str | None, now: datetime) -> list[str]:
    """What looks wrong about one card: expired, or shown to an audience it is not tagged for."""
    item = api.item(card["id"])
    flags = []
    expires = _when(item.get("expires_at"))
    if expires is not None and expires < now:
        flags.append(f"已过期 {expires:%Y-%m-%d}")
    tagged = {tag["audience"] for tag in item.get("audiences", [])}
    if audience and audience != "public" and audience not in tagged:
        flags.append("未标注此受众（" + "、".join(AUDIENCES.get(a, a) for a in sorted(tagged)) + "）")
    return flags


def cards_table(api: Api, cards: list[dict[str, Any]], audience: str | None, now: datetime) -> list[str]:
    """A markdown table of cards with the automatic flags in the last column."""
    lines = [
        "| # | id | 标题 | 形式 | 主题 | 受众标签 | 分数 | 推荐理由 | 提示 |",
        "|---|----|------|------|------|----------|------|----------|------|",
    ]
    for rank, card in enumerate(cards, start=1):
        topics = "、".join(TOPICS.get(t, t) for t in card.get("topics", []))
        audiences = "、".join(AUDIENCES.get(a, a) for a in card.get("audiences", []))
        flags = "；".join(card_flags(api, card, audience, now))
        row = [
            rank,
            card["id"],
            card["title"],
            FORMATS.get(card["format"], card["format"]),
            topics,
            audiences,
            f"{card['score']:.3f}",
            card.get("reason") or "",
            flags,
        ]
        lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
    return lines


def previews(api: Api, k: int, now: datetime) -> tuple[list[str], dict[str, int]]:
    """Per audience and channel: the top-k a brand-new user sees, plus counts of the flags found."""
    out: list[str] = ["## What a brand-new user of each audience sees", ""]
    counts = {"cards": 0, "expired": 0, "other_audience": 0, "web_wechat_same_order": 0, "pairs": 0}
    for audience, label in AUDIENCES.items():
        out += [f"### {label} (`{audience}`)", ""]
        ids_by_channel: dict[str, list[str]] = {}
        for channel in PREVIEW_CHANNELS:
            data = api.get(f"/v1/audiences/{audience}/preview", channel=channel, k=k)
            cards = data["items"]
            ids_by_channel[channel] = [c["id"] for c in cards]
            out += [f"`GET /v1/audiences/{audience}/preview?channel={channel}&k={k}`", ""]
            out += [*cards_table(api, cards, audience, now), ""]
            for card in cards:
                flags = card_flags(api, card, audience, now)
                counts["cards"] += 1
                counts["expired"] += any(f.startswith("已过期") for f in flags)
                counts["other_audience"] += any(f.startswith("未标注") for f in flags)
        same = ids_by_channel["web"] == ids_by_channel["wechat"]
        shared = len(set(ids_by_channel["web"]) & set(ids_by_channel["wechat"]))
        counts["pairs"] += 1
        counts["web_wechat_same_order"] += same
        out += [f"web vs wechat: {shared}/{k} items in common" + ("; identical order" if same else ""), ""]
    return out, counts


def known_user(api: Api, user_id: str, k: int, now: datetime) -> list[str]:
    """A simulated user with history: personal reasons such as 因为你看过《…》."""
    data = api.get("/v1/recommendations", user_id=user_id, k=k, explain="true")
    audience = None
    if api.api_key:  # reading a user's profile needs a key; without it the audience check is skipped
        audience = (api.get(f"/v1/users/{urllib.parse.quote(user_id)}").get("audiences") or [None])[0]
    call = f"`GET /v1/recommendations?user_id={user_id}&k={k}&explain=true`"
    out = [f"## A known simulated user: `{user_id}`", "", call, ""]
    return [*out, *cards_table(api, data["items"], audience, now), ""]


def deep_feeds(api: Api, now: datetime, page_size: int = 50) -> list[str]:
    """Each audience's anonymous WeChat feed paged to the end: repeats, expired items, and cards whose
    reason says 为…精选 although the item is not tagged for that audience."""
    out = [
        "## Anonymous WeChat feeds paged to the end",
        "",
        f"`GET /v1/recommendations?session_id=report-<audience>-<time>&audience=…&channel=wechat&k={page_size}`"
        " then `cursor=next_cursor` until it is null.",
        "",
        "| 受众 | 页数 | 条目 | 重复 | 已过期 | 非本受众条目 | 其中理由为“为…精选” | 第一个非本受众条目的位置 |",
        "|------|------|------|------|--------|--------------|----------------------|--------------------------|",
    ]
    for audience, label in AUDIENCES.items():
        session = f"report-{audience}-{int(now.timestamp())}"
        cards: list[dict[str, Any]] = []
        cursor, pages = None, 0
        while pages < 100:
            data = api.get(
                "/v1/recommendations",
                session_id=session,
                audience=audience,
                channel="wechat",
                k=page_size,
                cursor=cursor,
            )
            pages += 1
            cards += data["items"]
            cursor = data.get("next_cursor")
            if not cursor or not data["items"]:
                break
        ids = [c["id"] for c in cards]
        expired = sum(any(f.startswith("已过期") for f in card_flags(api, c, None, now)) for c in cards)
        wanted = {audience, "public"}
        other = [(rank, c) for rank, c in enumerate(cards, start=1) if not wanted & set(c["audiences"])]
        claimed = sum(1 for _, c in other if (c.get("reason") or "").endswith("精选"))
        first = other[0][0] if other else "—"
        row = [label, pages, len(ids), len(ids) - len(set(ids)), expired, len(other), claimed, first]
        out.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return [*out, ""]


def search(api: Api, query: str, k: int, now: datetime) -> list[str]:
    """Semantic search over the catalog."""
    data = api.get("/v1/search", q=query, k=k)
    out = ["## Search", "", f"`GET /v1/search?q={query}&k={k}`", ""]
    return out + cards_table(api, data["items"], None, now) + [""]


def wechat_feed(api: Api, user_id: str, k: int, now: datetime) -> list[str]:
    """Two pages of a WeChat feed via `next_cursor`, checked for repeats."""
    first = api.get("/v1/recommendations", user_id=user_id, channel="wechat", k=k)
    second = api.get("/v1/recommendations", user_id=user_id, channel="wechat", k=k, cursor=first["next_cursor"])
    repeats = sorted({c["id"] for c in first["items"]} & {c["id"] for c in second["items"]})
    out = [f"## Two-page WeChat feed for `{user_id}`", ""]
    out += [f"Page 1: `GET /v1/recommendations?user_id={user_id}&channel=wechat&k={k}`", ""]
    out += [*cards_table(api, first["items"], None, now), ""]
    out += ["Page 2: same parameters plus `cursor=<next_cursor of page 1>`", ""]
    out += [*cards_table(api, second["items"], None, now), ""]
    verdict = "none" if not repeats else ", ".join(repeats)
    out += [
        f"Repeats between the pages: **{verdict}**; page 2 `next_cursor` is "
        + ("set" if second.get("next_cursor") else "null"),
        "",
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8791", help="the running kepu demo service")
    parser.add_argument("--api-key", default=None, help="optional key (lets the report read the user's audience)")
    parser.add_argument("--k", type=int, default=8, help="cards per list")
    parser.add_argument("--user", default="sim-farmers-0001", help="a simulated user with history")
    parser.add_argument("--query", default="水稻病虫害", help="search example")
    args = parser.parse_args(argv)

    api = Api(args.base_url, args.api_key)
    now = datetime.now(UTC)
    ready = api.get("/readyz")
    lines = [f"_Generated {now:%Y-%m-%d %H:%M} UTC against {args.base_url}; {ready['checks']['model']}._", ""]
    preview_lines, counts = previews(api, args.k, now)
    lines += preview_lines
    lines += known_user(api, args.user, args.k, now)
    lines += search(api, args.query, args.k, now)
    lines += wechat_feed(api, args.user, args.k, now)
    lines += deep_feeds(api, now)
    lines += [
        "## Automatic checks over the previews",
        "",
        f"- cards shown: {counts['cards']} ({len(AUDIENCES)} audiences × {len(PREVIEW_CHANNELS)} channels × {args.k})",
        f"- cards already expired (expires_at before now): {counts['expired']}",
        f"- cards not tagged for the audience they are previewed to (public excluded): {counts['other_audience']}",
        f"- audiences whose web and wechat previews are identical: {counts['web_wechat_same_order']}/{counts['pairs']}",
        "",
    ]
    sys.stdout.write("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
