"""Editorial rules (pin / boost / block in a time window and scope), experiments and the audit log."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select

from content_catalog.store.base import StoreBase
from content_catalog.store.models import AuditRow, ExperimentRow, RuleRow
from content_catalog.store.records import AuditEntry, Experiment, Rule, RuleKind
from content_catalog.store.types import as_utc, utc_now
from content_catalog.taxonomy import check_audience, check_channel


class EditorialMixin(StoreBase):
    """Rules, experiments and audit methods of the Store. Every editorial write is audited."""

    # ------------------------------------------------------------------------------------------ rules
    def add_rule(
        self,
        kind: RuleKind | str,
        item_id: str,
        *,
        created_by: str,
        position: int | None = None,
        weight: float | None = None,
        audience: str | None = None,
        channel: str | None = None,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        note: str | None = None,
    ) -> Rule:
        """Add a rule active in [starts_at, ends_at) (None = open) for one audience/channel (None = all).

        pin needs `position` (0-based slot); boost needs `weight` (> 0, multiplies the score);
        block takes neither. Raises ValueError naming the bad field.
        """
        rule_kind = _rule_kind(kind)
        _validate_rule(rule_kind, item_id, position, weight, audience, channel, starts_at, ends_at)
        row = RuleRow(
            kind=rule_kind.value,
            item_id=item_id,
            position=position,
            weight=weight,
            audience=audience,
            channel=channel,
            starts_at=_opt_utc(starts_at),
            ends_at=_opt_utc(ends_at),
            created_by=created_by,
            created_at=utc_now(),
            note=note,
        )
        with self._write() as session:
            session.add(row)
            session.flush()
            self._audit(
                session,
                created_by,
                "rules.add",
                f"rule:{row.id}",
                {"kind": rule_kind.value, "item_id": item_id, "audience": audience, "channel": channel},
            )
            return _rule(row)

    def list_rules(
        self,
        active_at: datetime | None = None,
        audience: str | None = None,
        channel: str | None = None,
        kind: RuleKind | str | None = None,
    ) -> list[Rule]:
        """Rules, oldest first. active_at keeps rules whose window contains it; audience/channel keep
        rules scoped to that value or unscoped (None = no filter); kind filters exactly."""
        query = select(RuleRow).order_by(RuleRow.created_at, RuleRow.id)
        if active_at is not None:
            at = as_utc(active_at)
            query = query.where(
                or_(RuleRow.starts_at.is_(None), RuleRow.starts_at <= at),
                or_(RuleRow.ends_at.is_(None), RuleRow.ends_at > at),
            )
        if audience is not None:
            query = query.where(or_(RuleRow.audience.is_(None), RuleRow.audience == audience))
        if channel is not None:
            query = query.where(or_(RuleRow.channel.is_(None), RuleRow.channel == channel))
        if kind is not None:
            query = query.where(RuleRow.kind == _rule_kind(kind).value)
        with self._read() as session:
            return [_rule(row) for row in session.scalars(query)]

    def delete_rule(self, rule_id: int, actor: str) -> bool:
        """Delete a rule; False when no such rule exists."""
        with self._write() as session:
            deleted = session.execute(delete(RuleRow).where(RuleRow.id == rule_id)).rowcount
            if deleted:
                self._audit(session, actor, "rules.delete", f"rule:{rule_id}", None)
            return bool(deleted)

    # ------------------------------------------------------------------------------------ experiments
    def upsert_experiment(
        self,
        name: str,
        variants: Mapping[str, float],
        *,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        active: bool = True,
        actor: str = "admin",
    ) -> Experiment:
        """Create or update an experiment (audited once, as `experiments.upsert` by `actor`).

        variants: variant name -> positive traffic weight; weights are normalised to shares summing to 1.
        params: variant name -> what that variant changes (JSON values, e.g. `{"mmr_lambda": 0.3}`);
        None keeps the stored params of the variants that remain, `{}` clears them.
        """
        if not name or len(name) > 200:
            raise ValueError("name: must be 1-200 characters")
        if not variants:
            raise ValueError("variants: at least one variant is required")
        bad = {k: v for k, v in variants.items() if not k or not math.isfinite(v) or v <= 0}
        if bad:
            raise ValueError(f"variants: names must be non-empty and weights finite and > 0, got {bad}")
        new_params = None if params is None else _variant_params(params, variants)
        total = float(sum(variants.values()))
        shares = {k: float(v) / total for k, v in variants.items()}
        with self._write() as session:
            row = session.scalar(select(ExperimentRow).where(ExperimentRow.name == name).with_for_update())
            if row is None:
                row = ExperimentRow(name=name, created_at=utc_now(), params={})
                session.add(row)
            if new_params is None:
                new_params = {k: dict(v) for k, v in (row.params or {}).items() if k in shares}
            row.variants, row.params, row.active = shares, new_params, active
            self._audit(
                session,
                actor,
                "experiments.upsert",
                f"experiment:{name}",
                {"variants": shares, "params": new_params, "active": active},
            )
            return _experiment(row)

    def list_experiments(self, *, active_only: bool = False) -> list[Experiment]:
        """Experiments by name."""
        query = select(ExperimentRow).order_by(ExperimentRow.name)
        if active_only:
            query = query.where(ExperimentRow.active.is_(True))
        with self._read() as session:
            return [_experiment(row) for row in session.scalars(query)]

    # ------------------------------------------------------------------------------------------ audit
    def audit(self, actor: str, action: str, target: str, payload: dict[str, Any] | None = None) -> None:
        """Record an action (the API calls this for writes that are not store writes, e.g. key use)."""
        with self._write() as session:
            self._audit(session, actor, action, target, payload)

    def audit_log(self, limit: int = 100, *, target: str | None = None) -> list[AuditEntry]:
        """The most recent audit entries, newest first (optionally for one target, e.g. 'item:a-1')."""
        query = select(AuditRow).order_by(AuditRow.at.desc(), AuditRow.id.desc()).limit(limit)
        if target is not None:
            query = query.where(AuditRow.target == target)
        with self._read() as session:
            return [
                AuditEntry(id=r.id, actor=r.actor, action=r.action, target=r.target, payload=dict(r.payload), at=r.at)
                for r in session.scalars(query)
            ]


def _variant_params(params: Mapping[str, Mapping[str, Any]], variants: Mapping[str, float]) -> dict[str, dict]:
    """Validated copy of per-variant params: only known variants, each a JSON object."""
    unknown = sorted(set(params) - set(variants))
    if unknown:
        raise ValueError(f"params: unknown variant(s) {unknown}; expected some of {sorted(variants)}")
    for variant, values in params.items():
        if not isinstance(values, Mapping):
            raise ValueError(f"params.{variant}: expected an object of settings, got {type(values).__name__}")
    return {variant: dict(values) for variant, values in params.items()}


def _experiment(row: ExperimentRow) -> Experiment:
    return Experiment(
        name=row.name,
        variants=dict(row.variants),
        active=row.active,
        created_at=row.created_at,
        params={k: dict(v) for k, v in (row.params or {}).items()},
    )


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _rule_kind(kind: RuleKind | str) -> RuleKind:
    try:
        return RuleKind(kind)
    except ValueError:
        raise ValueError(f"kind: unknown rule kind {kind!r}; expected one of {[k.value for k in RuleKind]}") from None


def _validate_rule(
    kind: RuleKind,
    item_id: str,
    position: int | None,
    weight: float | None,
    audience: str | None,
    channel: str | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> None:
    if not item_id:
        raise ValueError("item_id: required")
    if kind == RuleKind.PIN and (position is None or position < 0):
        raise ValueError("position: a pin rule needs a position >= 0")
    if kind != RuleKind.PIN and position is not None:
        raise ValueError(f"position: only pin rules take a position, not {kind.value}")
    if kind == RuleKind.BOOST and (weight is None or not math.isfinite(weight) or weight <= 0):
        raise ValueError("weight: a boost rule needs a finite weight > 0")
    if kind != RuleKind.BOOST and weight is not None:
        raise ValueError(f"weight: only boost rules take a weight, not {kind.value}")
    if audience is not None:
        check_audience(audience, "audience")
    if channel is not None:
        check_channel(channel, "channel")
    if starts_at is not None and ends_at is not None and as_utc(ends_at) <= as_utc(starts_at):
        raise ValueError("ends_at: must be later than starts_at")


def _rule(row: RuleRow) -> Rule:
    return Rule(
        id=row.id,
        kind=RuleKind(row.kind),
        item_id=row.item_id,
        position=row.position,
        weight=row.weight,
        audience=row.audience,
        channel=row.channel,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        created_at=row.created_at,
        note=row.note,
    )
