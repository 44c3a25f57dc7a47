"""Editorial rules: pin an item to a slot, boost it, or block it — for a time window, an audience
and/or a channel. Every create and delete is written to the audit log with the editor's actor name.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query, Response

from api.deps import Editor, StoreDep
from api.errors import ApiError
from api.schemas import AudienceId, Channel, RuleIn, RuleOut, RulesOut
from content_catalog.store.records import Rule

router = APIRouter(prefix="/v1", tags=["rules"])
MAX_RULE_ID = 2**31 - 1


def rule_out(rule: Rule) -> RuleOut:
    return RuleOut(
        id=rule.id,
        kind=str(rule.kind),
        item_id=rule.item_id,
        position=rule.position,
        weight=rule.weight,
        audience=rule.audience,
        channel=rule.channel,
        starts_at=rule.starts_at,
        ends_at=rule.ends_at,
        created_by=rule.created_by,
        created_at=rule.created_at,
        note=rule.note,
    )


@router.get("/rules", response_model=RulesOut, summary="Editorial rules (all, or only those active now)")
def list_rules(
    _: Editor,
    store: StoreDep,
    active: bool = Query(False, description="only rules whose window contains the current time"),
    audience: AudienceId | None = None,
    channel: Channel | None = None,
) -> RulesOut:
    rules = store.list_rules(active_at=datetime.now(UTC) if active else None, audience=audience, channel=channel)
    return RulesOut(rules=[rule_out(r) for r in rules])


@router.post("/rules", response_model=RuleOut, status_code=201, summary="Create a pin/boost/block rule")
def create_rule(body: RuleIn, caller: Editor, store: StoreDep) -> RuleOut:
    if store.get_item(body.item_id) is None:
        raise ApiError(422, f"item {body.item_id!r} not found", field="body.item_id")
    rule = store.add_rule(
        kind=body.kind,
        item_id=body.item_id,
        position=body.position,
        weight=body.weight,
        audience=body.audience,
        channel=body.channel,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        created_by=caller.actor,
        note=body.note,
    )
    return rule_out(rule)


@router.delete("/rules/{rule_id}", status_code=204, summary="Remove (expire) a rule")
def delete_rule(rule_id: int, caller: Editor, store: StoreDep) -> Response:
    # ids are positive 32-bit integers (PostgreSQL INTEGER): anything else names no rule, and must not
    # reach the driver (SQLite raises OverflowError past 2**63, PostgreSQL a DataError past 2**31)
    if not 0 < rule_id <= MAX_RULE_ID or not store.delete_rule(rule_id, actor=caller.actor):
        raise ApiError(404, f"rule {rule_id} not found", field="path.rule_id")
    return Response(status_code=204)
