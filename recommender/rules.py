"""Editor rules — pin an item to a position, boost it, or block it — for a time window and an
audience/channel scope. The store keeps them; this module turns store records into `EditorRule`s and
decides which apply to a request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

RuleAction = Literal["pin", "boost", "block"]
ACTIONS: tuple[str, ...] = ("pin", "boost", "block")


def _utc(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise ValueError(f"rule time must be a datetime or ISO string, got {value!r}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _names(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.replace(";", ",").split(",") if v.strip())
    return tuple(str(v) for v in value)


@dataclass(frozen=True)
class EditorRule:
    """One rule. Empty `audiences` / `channels` mean "everyone" / "every channel".

    `position` (pin) is 0-based in the ranked list; `weight` (boost) multiplies the blended score (as the
    store documents: weight > 0, so 1.5 lifts an item by half and 0.5 demotes it).
    """

    item_id: str
    action: RuleAction
    position: int = 0
    weight: float = 1.0
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    audiences: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    rule_id: str | None = None
    note: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"rule {self.rule_id or self.item_id}: action {self.action!r} not in {ACTIONS}")
        if self.position < 0:
            raise ValueError(f"rule {self.rule_id or self.item_id}: position must be >= 0")
        if self.weight <= 0:
            raise ValueError(f"rule {self.rule_id or self.item_id}: weight must be > 0")

    @classmethod
    def from_record(cls, record: Any) -> EditorRule:
        """From a store `Rule` record / mapping (`kind` or `action`; `weight` or `boost`; `id` → `rule_id`;
        singular `audience` / `channel` accepted; None position → 0)."""
        get = record.get if isinstance(record, Mapping) else lambda k, d=None: getattr(record, k, d)
        raw_action = get("action", None) or get("kind", None)
        action = str(getattr(raw_action, "value", raw_action))
        weight = next((v for v in (get("weight", None), get("boost", None)) if v is not None), 1.0)
        audiences = get("audiences", None)
        if audiences is None:
            audiences = get("audience", None)
        channels = get("channels", None)
        if channels is None:
            channels = get("channel", None)
        rule_id = get("rule_id", None) or get("id", None)
        return cls(
            item_id=str(get("item_id")),
            action=action,  # type: ignore[arg-type]
            position=int(get("position", 0) or 0),
            weight=float(weight),
            starts_at=_utc(get("starts_at", None)),
            ends_at=_utc(get("ends_at", None)),
            audiences=_names(audiences),
            channels=_names(channels),
            rule_id=None if rule_id is None else str(rule_id),
            note=get("note", None),
        )

    def applies(self, now: datetime, audiences: Sequence[str], channel: str | None) -> bool:
        """Active at `now` and in scope for a request from these audiences on this channel."""
        now = _utc(now) or datetime.now(UTC)
        if self.starts_at is not None and now < self.starts_at:
            return False
        if self.ends_at is not None and now >= self.ends_at:
            return False
        if self.audiences and not set(self.audiences) & set(audiences):
            return False
        return not (self.channels and channel not in self.channels)


@dataclass(frozen=True)
class RuleSet:
    """The rules that apply to one request, split by action."""

    pins: tuple[EditorRule, ...] = ()
    boosts: tuple[EditorRule, ...] = ()
    blocks: frozenset[str] = frozenset()

    @classmethod
    def select(
        cls, rules: Iterable[EditorRule], now: datetime, audiences: Sequence[str], channel: str | None
    ) -> RuleSet:
        """Block wins over pin/boost for the same item; pins sorted by position."""
        active = [r for r in rules if r.applies(now, audiences, channel)]
        blocks = frozenset(r.item_id for r in active if r.action == "block")
        pins = tuple(
            sorted(
                (r for r in active if r.action == "pin" and r.item_id not in blocks),
                key=lambda r: (r.position, r.item_id),
            )
        )
        boosts = tuple(r for r in active if r.action == "boost" and r.item_id not in blocks)
        return cls(pins=pins, boosts=boosts, blocks=blocks)

    def boost_factors(self) -> dict[str, float]:
        """item id → score multiplier (several boosts of one item multiply)."""
        out: dict[str, float] = {}
        for rule in self.boosts:
            out[rule.item_id] = out.get(rule.item_id, 1.0) * rule.weight
        return out
