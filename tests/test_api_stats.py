"""`/v1/stats/...`: editor-only dashboard reads, JSON and CSV, on a tmp store with known traffic."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from content_catalog.schema import Event, User
from tests.test_api_support import EDITOR, READER, make_store, store_only_client

UNTIL = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)


def add_traffic(store: object) -> None:
    store.upsert_user(User(id="f1", audiences=["farmers"]))  # type: ignore[attr-defined]
    events = []
    for n in range(40):
        day = UNTIL - timedelta(days=n % 3, hours=1)
        events.append(
            Event(event_id=f"i{n}", user_id="f1", item_id="seed-1", type="impression", timestamp=day, channel="wechat")
        )
        if n % 4 == 0:
            events.append(
                Event(event_id=f"c{n}", user_id="f1", item_id="seed-1", type="click", timestamp=day, channel="wechat")
            )
    events.append(
        Event(
            event_id="old",
            user_id="f1",
            item_id="seed-2",
            type="click",
            timestamp=UNTIL - timedelta(days=40),
            channel="web",
        )
    )
    store.add_events(events)  # type: ignore[attr-defined]


def rows_of(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")  # Excel reads Chinese CSV only with the byte-order mark
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def test_stats_need_the_editor_role(tmp_path: Path) -> None:
    with make_store(tmp_path) as store, store_only_client(tmp_path, store) as c:
        for path in ("coverage", "reach", "top-items", "experiments", "models"):
            response = c.get(f"/v1/stats/{path}", headers=READER)
            assert response.status_code == 403, path
            assert response.json()["error"]["code"] == "forbidden"
            assert c.get(f"/v1/stats/{path}", headers=EDITOR).status_code == 200, path


def test_reach_and_top_items_json_and_csv(tmp_path: Path) -> None:
    with make_store(tmp_path) as store, store_only_client(tmp_path, store) as c:
        add_traffic(store)
        body = c.get("/v1/stats/reach", params={"until": UNTIL.isoformat(), "days": 30}, headers=EDITOR).json()
        assert len(body["days"]) == 30 and body["days"][-1] == "2026-05-10"
        assert {(r["day"], r["audience"], r["channel"]) for r in body["rows"]} == {
            ("2026-05-08", "farmers", "wechat"),
            ("2026-05-09", "farmers", "wechat"),
            ("2026-05-10", "farmers", "wechat"),
        }
        assert sum(r["impressions"] for r in body["rows"]) == 40 and sum(r["clicks"] for r in body["rows"]) == 10
        assert all(r["ctr"] == r["clicks"] / r["impressions"] for r in body["rows"])
        csv_response = c.get("/v1/stats/reach", params={"until": UNTIL.isoformat(), "format": "csv"}, headers=EDITOR)
        assert csv_response.headers["content-type"].startswith("text/csv")
        assert 'filename="reach.csv"' in csv_response.headers["content-disposition"]
        assert sum(int(r["impressions"]) for r in rows_of(csv_response.text)) == 40

        top = c.get("/v1/stats/top-items", params={"until": UNTIL.isoformat()}, headers=EDITOR).json()
        assert [(i["audience"], i["rank"], i["id"], i["title"], i["clicks"]) for i in top["items"]] == [
            ("farmers", 1, "seed-1", "水稻病虫害绿色防控技术", 10)
        ]
        top_csv = rows_of(
            c.get("/v1/stats/top-items", params={"format": "csv", "until": UNTIL.isoformat()}, headers=EDITOR).text
        )
        assert top_csv[0]["title"] == "水稻病虫害绿色防控技术"


def test_bad_parameters_name_the_field(tmp_path: Path) -> None:
    with make_store(tmp_path) as store, store_only_client(tmp_path, store) as c:
        for path, params, field in (
            ("reach", {"days": 0}, "query.days"),
            ("top-items", {"k": 99}, "query.k"),
            ("coverage", {"low_confidence_below": 2}, "query.low_confidence_below"),
            ("models", {"format": "xml"}, "query.format"),
        ):
            error = c.get(f"/v1/stats/{path}", params=params, headers=EDITOR).json()["error"]
            assert error["field"] == field and error["code"] == "validation_error", path


def test_coverage_json_and_csv(tmp_path: Path) -> None:
    with make_store(tmp_path) as store, store_only_client(tmp_path, store) as c:
        body = c.get("/v1/stats/coverage", headers=EDITOR).json()
        assert body["items"] == 12
        cells = {(x["audience"], x["topic"]): x["items"] for x in body["cells"]}
        assert cells[("farmers", "agri_tech")] == 2 and cells[("seniors", "health")] == 2
        assert {a["id"] for a in body["audiences"]} >= {"seniors", "farmers"}
        assert body["untagged"] == {"count": 0, "items": []}
        rows = rows_of(c.get("/v1/stats/coverage", params={"format": "csv"}, headers=EDITOR).text)
        assert {"audience": "farmers", "audience_label": "农民", "topic": "agri_tech"}.items() <= rows[0].items()


def test_experiments_report_ctr_interval_and_significance(tmp_path: Path) -> None:
    with make_store(tmp_path) as store, store_only_client(tmp_path, store) as c:
        store.upsert_experiment("diversity", {"control": 1, "diverse": 1}, actor="admin")
        at = datetime.now(UTC) + timedelta(minutes=1)
        events = []
        for variant, n, clicks in (("control", 400, 40), ("diverse", 400, 80)):
            for i in range(n):
                label = f"diversity/{variant}"
                events.append(
                    Event(
                        event_id=f"{variant}-i{i}",
                        session_id="s",
                        item_id="seed-1",
                        type="impression",
                        timestamp=at,
                        experiment=label,
                    )
                )
                if i < clicks:
                    events.append(
                        Event(
                            event_id=f"{variant}-c{i}",
                            session_id="s",
                            item_id="seed-1",
                            type="click",
                            timestamp=at,
                            experiment=label,
                        )
                    )
        store.add_events(events)
        body = c.get("/v1/stats/experiments", headers=EDITOR).json()
        (experiment,) = body["experiments"]
        assert experiment["control"] == "control" and body["alpha"] == 0.05
        control, diverse = experiment["variants"]
        assert (control["impressions"], control["clicks"], control["ctr"]) == (400, 40, 0.1)
        assert control["ci_low"] < 0.1 < control["ci_high"] and control["p_value"] is None
        assert diverse["ctr"] == 0.2 and diverse["significant"] and diverse["p_value"] < 0.001
        rows = rows_of(c.get("/v1/stats/experiments", params={"format": "csv"}, headers=EDITOR).text)
        assert [(r["experiment"], r["name"], r["significant"]) for r in rows] == [
            ("diversity", "control", "false"),
            ("diversity", "diverse", "true"),
        ]


def test_models_list_validation_figures_and_which_serves(tmp_path: Path) -> None:
    with make_store(tmp_path) as store, store_only_client(tmp_path, store) as c:
        store.add_model_version("v1", "/m/v1", metrics={"ndcg@10": 0.21, "holdout_users": 30, "note": "x"})
        store.add_model_version("v2", "/m/v2", metrics={"ndcg@10": 0.25}, activate=True)
        body = c.get("/v1/stats/models", headers=EDITOR).json()
        assert body["serving"] is None  # nothing loaded in this process (no bundle on disk)
        assert body["metric_names"] == ["holdout_users", "ndcg@10"]
        assert [(m["version"], m["active"], m["metrics"].get("ndcg@10")) for m in body["models"]] == [
            ("v2", True, 0.25),
            ("v1", False, 0.21),
        ]
        rows = rows_of(c.get("/v1/stats/models", params={"format": "csv"}, headers=EDITOR).text)
        assert [r["version"] for r in rows] == ["v2", "v1"] and rows[1]["ndcg@10"] == "0.21"


def test_csv_cells_never_become_spreadsheet_formulas() -> None:
    from api.csv_export import csv_text

    row = {"title": '=HYPERLINK("x")', "n": -3, "ctr": 0.123456789, "ok": True}
    (parsed,) = csv.DictReader(io.StringIO(csv_text(["title", "n", "ctr", "ok"], [row])))
    assert parsed == {"title": '\'=HYPERLINK("x")', "n": "-3", "ctr": "0.123457", "ok": "true"}
