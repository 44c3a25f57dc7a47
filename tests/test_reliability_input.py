"""Regression tests for issue 9 defects 2-6: hostile input is a 4xx naming the field on both stores.

2 timestamps that overflow on conversion to UTC or lie outside the sane range; 3 NUL/control/bidi
characters and invisible titles; 4 users.sessions validated like session_id; 5 a huge rule id;
6 extreme experiment weights and listings that survive old bad rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from content_catalog.ingest import IngestError, ingest_files
from content_catalog.store import Store
from content_catalog.store.models import ExperimentRow
from tests.store_fixtures import (  # noqa: F401
    backend_fixture,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)
from tests.test_api_support import ADMIN, EDITOR, INGEST, catalog_items, store_only_client

OVERFLOW = "0001-01-01T00:00:00+14:00"


@pytest.fixture(name="client")
def client_fixture(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    store.upsert_items(catalog_items(), actor="test")
    with store_only_client(tmp_path, store) as c:
        yield c


def event(event_id: str, **extra: object) -> dict:
    return {"event_id": event_id, "session_id": "s1", "item_id": "seed-1", "type": "view", **extra}


def item(item_id: str = "new-1", **extra: object) -> dict:
    return {"id": item_id, "title": "新的科普文章", "topics": ["health"], **extra}


def assert_error(response: object, status: int, field: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert field in (error["field"] or ""), error


# ---- 2. timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize("stamp", [OVERFLOW, "9999-12-31T23:59:59+00:00", "1970-01-01T00:00:00Z"])
def test_bad_event_timestamp_is_rejected_alone(client: TestClient, store: Store, stamp: str) -> None:
    batch = {"events": [event("ok-1"), event("bad-1", timestamp=stamp)]}
    response = client.post("/v1/events", json=batch, headers=INGEST)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "timestamp")]
    assert store.count_events() == 1


@pytest.mark.parametrize("field", ["published_at", "expires_at"])
def test_item_put_with_overflowing_time_is_422(client: TestClient, store: Store, field: str) -> None:
    response = client.put("/v1/items/new-1", json=item(**{field: OVERFLOW}), headers=EDITOR)
    assert_error(response, 422, field)
    batch = client.post("/v1/items:batch", json={"items": [item("new-2"), item(**{field: OVERFLOW})]}, headers=EDITOR)
    assert_error(batch, 422, field)
    assert store.get_item("new-1") is None and store.get_item("new-2") is None


def test_item_dates_out_of_range_are_422(client: TestClient) -> None:
    response = client.put("/v1/items/new-1", json=item(published_at="9999-12-31T00:00:00Z"), headers=EDITOR)
    assert_error(response, 422, "published_at")


@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
def test_rule_window_overflow_is_422(client: TestClient, field: str) -> None:
    rule = {"kind": "block", "item_id": "seed-1", field: OVERFLOW}
    assert_error(client.post("/v1/rules", json=rule, headers=EDITOR), 422, field)


@pytest.mark.parametrize("since", [OVERFLOW, "9999-12-31T23:59:59-14:00"])
def test_experiment_listing_since_overflow_is_422(client: TestClient, since: str) -> None:
    body = {"name": "exp1", "variants": [{"name": "a"}]}
    assert client.post("/v1/experiments", json=body, headers=ADMIN).status_code == 201
    assert_error(client.get("/v1/experiments", params={"since": since}, headers=EDITOR), 422, "query.since")


def test_cli_ingest_reports_file_line_field_for_overflow(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text(
        '{"id": "a-1", "title": "好文章", "topics": ["health"]}\n'
        f'{{"id": "a-2", "title": "坏日期", "topics": ["health"], "published_at": "{OVERFLOW}"}}\n',
        encoding="utf-8",
    )
    with pytest.raises(IngestError) as caught:
        ingest_files(store, [path])
    text = str(caught.value)
    assert "items.jsonl:2" in text and "published_at" in text
    assert store.get_item("a-1") is None


# ---- 3. control characters -----------------------------------------------------------------------


@pytest.mark.parametrize("title", ["科普\x00文章", "\x1b[31m红色\x1b[0m", "正常\u202e反转"])
def test_item_with_control_characters_is_422(client: TestClient, store: Store, title: str) -> None:
    assert_error(client.put("/v1/items/new-1", json=item(title=title), headers=EDITOR), 422, "title")
    batch = {"items": [item("new-2"), item(summary="摘要\x00")]}
    assert_error(client.post("/v1/items:batch", json=batch, headers=EDITOR), 422, "summary")
    assert store.get_item("new-1") is None and store.get_item("new-2") is None


@pytest.mark.parametrize("title", ["\u200b\u200b\u200b", "\u200d\ufeff ", "\u2060"])
def test_invisible_title_is_422(client: TestClient, title: str) -> None:
    assert_error(client.put("/v1/items/new-1", json=item(title=title), headers=EDITOR), 422, "title")


def test_event_with_nul_is_rejected_alone(client: TestClient, store: Store) -> None:
    batch = {"events": [event("ok-1"), event("bad\x00-1"), event("ok-2", experiment="exp/a\x00")]}
    response = client.post("/v1/events", json=batch, headers=INGEST)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "event_id"), (2, "experiment")]
    assert store.count_events() == 1


def test_user_and_rule_with_nul_are_422(client: TestClient) -> None:
    user = {"town": "城厢\x00镇"}
    assert_error(client.put("/v1/users/u-1", json=user, headers=INGEST), 422, "town")
    rule = {"kind": "block", "item_id": "seed-1", "note": "备注\x00"}
    assert_error(client.post("/v1/rules", json=rule, headers=EDITOR), 422, "note")


def test_lone_surrogate_is_422(client: TestClient) -> None:
    raw = '{"id": "new-1", "title": "bad \\ud800 text", "topics": ["health"]}'
    response = client.put(
        "/v1/items/new-1", content=raw, headers={**EDITOR, "Content-Type": "application/json"}
    )
    assert response.status_code in (400, 422), response.text
    assert "error" in response.json()


def test_cli_ingest_with_nul_names_file_line_field(tmp_path: Path, store: Store) -> None:
    path = tmp_path / "items.jsonl"
    path.write_text('{"id": "a-1", "title": "NUL\\u0000 title", "topics": ["health"]}\n', encoding="utf-8")
    with pytest.raises(IngestError) as caught:
        ingest_files(store, [path])
    assert "items.jsonl:1" in str(caught.value) and "title" in str(caught.value)


def test_tabs_and_newlines_in_body_are_kept(client: TestClient, store: Store) -> None:
    response = client.put("/v1/items/new-1", json=item(body="第一段\n\t第二段\r\n"), headers=EDITOR)
    assert response.status_code in (200, 201), response.text
    stored = store.get_item("new-1")
    assert stored is not None and stored.body == "第一段\n\t第二段"


# ---- 4. user sessions ----------------------------------------------------------------------------


@pytest.mark.parametrize("session", ["x" * 10_000, "s\x00", "'; DROP TABLE users; --", ""])
def test_user_sessions_follow_the_session_id_pattern(client: TestClient, store: Store, session: str) -> None:
    response = client.put("/v1/users/u-1", json={"sessions": ["good-1", session]}, headers=INGEST)
    assert_error(response, 422, "sessions")
    assert store.get_user("u-1") is None


# ---- 5. huge rule ids ----------------------------------------------------------------------------


@pytest.mark.parametrize("rule_id", ["9223372036854775808", "2147483648", "-1", "0"])
def test_huge_rule_id_is_404(client: TestClient, rule_id: str) -> None:
    assert_error(client.delete(f"/v1/rules/{rule_id}", headers=EDITOR), 404, "rule_id")


# ---- 6. experiment weights -----------------------------------------------------------------------


@pytest.mark.parametrize("weight", [1.79e308, 1e7])
def test_extreme_experiment_weight_is_422(client: TestClient, weight: float) -> None:
    body = {"name": "exp1", "variants": [{"name": "a", "weight": weight}, {"name": "b", "weight": 1e6}]}
    assert_error(client.post("/v1/experiments", json=body, headers=ADMIN), 422, "weight")
    assert client.get("/v1/experiments", headers=EDITOR).json() == {"experiments": []}


def test_listing_survives_old_bad_rows(client: TestClient, store: Store) -> None:
    body = {"name": "exp1", "variants": [{"name": "a", "weight": 1}, {"name": "b", "weight": 2}]}
    assert client.post("/v1/experiments", json=body, headers=ADMIN).status_code == 201
    with store.engine.begin() as connection:  # a row written before weights were validated
        connection.execute(
            update(ExperimentRow).values(variants={"a": 1.79e308, "b": 1.79e308}, params={"a": {"mmr_lambda": 7}})
        )
    listing = client.get("/v1/experiments", headers=EDITOR)
    assert listing.status_code == 200, listing.text
    [experiment] = listing.json()["experiments"]
    assert [v["name"] for v in experiment["variants"]] == ["a", "b"]
    recs = client.get("/v1/recommendations", params={"session_id": "s1"}, headers=EDITOR)
    assert recs.status_code == 200, recs.text


@pytest.mark.parametrize(
    ("field", "value"), [("published_at", OVERFLOW), ("title", "NUL\x00标题"), ("title", "\u200b\u200b")]
)
def test_kepu_catalog_ingest_exits_nonzero_with_file_line_field(
    tmp_path: Path, store_url: str, field: str, value: str
) -> None:
    from typer.testing import CliRunner

    from api.cli import app

    path = tmp_path / "items.jsonl"
    rows = [item("a-1"), item("a-2", **{field: value})]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    env = {"KEPU_VAR_DIR": str(tmp_path / "var"), "KEPU_STORE_URL": store_url}
    result = CliRunner().invoke(app, ["catalog", "ingest", str(path)], env=env)
    assert result.exit_code != 0
    assert f"{path}:2: {field}" in result.output, result.output
    with Store(store_url) as store:
        assert store.count_items() == 0


def test_refused_characters_are_exactly_the_policy() -> None:
    """The fast regex refuses exactly: Cc except tab/LF/CR, surrogates, and the bidi controls (whole BMP)."""
    import unicodedata

    from content_catalog.input_policy import ALLOWED_CONTROLS, BIDI_CONTROLS, forbidden_character

    for code in range(0x10000):
        char = chr(code)
        refused = char not in ALLOWED_CONTROLS and (
            unicodedata.category(char) in ("Cc", "Cs") or char in BIDI_CONTROLS
        )
        assert (forbidden_character(f"a{char}b") is not None) == refused, hex(code)
