"""What text and timestamps Kepu accepts, in one place, so the API, file ingest and both stores agree.

Why: a NUL stored as-is on SQLite is a 500 on PostgreSQL, a lone surrogate cannot be encoded as UTF-8,
ANSI escapes and bidi overrides make an editor's screen lie, and a timestamp such as
`0001-01-01T00:00:00+14:00` overflows when converted to UTC. Each is rejected as a validation error
naming the field (HTTP 422 / `file:line:field`), never stripped silently and never a 500.
See docs/reliability.md (defects 2 and 3).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any

ALLOWED_CONTROLS = frozenset("\t\n\r")
"""Layout characters free text may hold; every other C0/C1 control character is refused."""

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
"""Bidirectional embeddings, overrides and isolates ("Trojan Source"): refused everywhere."""

EVENT_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
EVENT_FUTURE_SLACK = timedelta(days=366)
"""Events are dated 2000-01-01 .. now + 366 days (clients' clocks drift; a year is generous)."""

ITEM_EARLIEST = datetime(1800, 1, 1, tzinfo=UTC)
ITEM_LATEST = datetime(3000, 1, 1, tzinfo=UTC)
"""Item `published_at`/`expires_at` and rule windows: 1800-01-01 .. 3000-01-01 (archives, far expiry)."""


_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff" + "".join(sorted(BIDI_CONTROLS)) + "]")
"""Unicode categories Cc (less tab, LF, CR) and Cs, plus the bidi controls: one regex scan, not a Python loop
(item bodies may be 200,000 characters)."""


def forbidden_character(text: str) -> str | None:
    """The first character `text` may not contain, as 'U+XXXX', or None when it is clean."""
    found = _FORBIDDEN.search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def check_clean_text(value: Any) -> Any:
    """Raise ValueError when a string (or a string inside a list/dict) holds a refused character."""
    if isinstance(value, str):
        bad = forbidden_character(value)
        if bad is not None:
            raise ValueError(f"contains the control character {bad} (control and bidi-override characters are refused)")
    elif isinstance(value, list | tuple | set | frozenset):
        for entry in value:
            check_clean_text(entry)
    elif isinstance(value, dict):
        for key, entry in value.items():
            check_clean_text(key)
            check_clean_text(entry)
    return value


def has_visible_text(text: str) -> bool:
    """True when `text` has a character a reader sees (not whitespace, format or control characters)."""
    return any(not char.isspace() and unicodedata.category(char)[0] not in ("C", "Z") for char in text)


def check_visible(value: str) -> str:
    """A title made only of zero-width characters or spaces shows as blank: refuse it."""
    if not has_visible_text(value):
        raise ValueError("must contain visible text (zero-width and format characters alone are refused)")
    return value


def to_utc(value: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC; an offset that pushes the instant out of datetime's range is a
    ValueError (pydantic reports it against the field) instead of an OverflowError (a 500)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{value.isoformat()} is out of range when converted to UTC") from exc


def check_range(value: datetime | None, earliest: datetime, latest: datetime) -> datetime | None:
    """Refuse an (aware) instant outside [earliest, latest] with a message stating the range."""
    if value is not None and not earliest <= value <= latest:
        raise ValueError(f"must be between {earliest.date().isoformat()} and {latest.date().isoformat()} (UTC)")
    return value


def event_time_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The accepted range of event timestamps at `now`."""
    return EVENT_EARLIEST, (now or datetime.now(UTC)) + EVENT_FUTURE_SLACK
