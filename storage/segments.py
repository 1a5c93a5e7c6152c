"""Segments of the city for broadcasts: a small language, parsed here and turned into SQL.

    all                              every taxpayer
    COND[,COND...]                   taxpayers for whom every condition holds:
        district:NAME                    the taxpayer's district (case and outer spaces ignored)
        street:NAME                      the taxpayer's street (likewise)
        kind:KIND                        has an obligation of that kind this year (Europe/Warsaw)
        overdue                          has an obligation past its effective due date with
                                         principal not yet paid (the ledger's allocations)
        language:pl|en|uk                the taxpayer's language
        channel:telegram|sms|email       reachable for announcements on that channel, which is
                                         then the only one used

Exceptions:

    BadSegment    (InputError) the spec cannot be read; one line naming the column
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, literal, select

from kernel.errors import InputError
from kernel.i18n import LANGUAGES
from storage.ledger import effective_due_date
from storage.models import Allocation, Obligation, ObligationKind, Taxpayer

# The channels an announcement can go out on (a web chat is not reached unasked).
ANNOUNCEMENT_CHANNELS = ("telegram", "sms", "email")

_KEYS = ("district", "street", "kind", "overdue", "language", "channel")
_MAX_LENGTH = 500


class BadSegment(InputError):
    """A segment spec that cannot be read; the message names the column."""


@dataclass(frozen=True)
class Condition:
    key: str
    value: str = ""


@dataclass(frozen=True)
class Segment:
    spec: str
    conditions: tuple[Condition, ...]

    def values(self, key: str) -> list[str]:
        return [condition.value for condition in self.conditions if condition.key == key]

    @property
    def overdue(self) -> bool:
        return any(condition.key == "overdue" for condition in self.conditions)

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels it may use: all of them, or those its `channel:` conditions allow."""
        wanted = set(self.values("channel"))
        return tuple(c for c in ANNOUNCEMENT_CHANNELS if all(c == w for w in wanted))


def _fail(spec: str, column: int, reason: str) -> BadSegment:
    return BadSegment(f"segment {spec!r}, column {column}: {reason}")


def _condition(spec: str, part: str, column: int) -> Condition:
    key, colon, value = part.partition(":")
    key, value = key.strip().lower(), value.strip()
    if key not in _KEYS:
        known = "all, district:, street:, kind:, overdue, language:, channel:"
        raise _fail(spec, column, f"unknown condition {key!r} (known: {known})")
    if key == "overdue":
        if colon:
            raise _fail(spec, column, "overdue takes no value")
        return Condition(key)
    if not value:
        raise _fail(spec, column, f"{key} needs a value ({key}:{key.upper()})")
    choices: Sequence[str] | None = {
        "kind": [str(kind) for kind in ObligationKind],
        "language": LANGUAGES,
        "channel": ANNOUNCEMENT_CHANNELS,
    }.get(key)
    if choices is not None:
        value = value.lower()
        if value not in choices:
            raise _fail(spec, column, f"{key} {value!r} is not one of {', '.join(choices)}")
    return Condition(key, value)


def parse_segment(spec: str) -> Segment:
    """The segment SPEC names; `BadSegment` with the column of the first fault."""
    if len(spec) > _MAX_LENGTH:
        raise _fail(spec[:40] + "…", _MAX_LENGTH + 1, f"longer than {_MAX_LENGTH} characters")
    if not spec.strip():
        raise _fail(spec, 1, "empty; write `all` or conditions such as district:NAME,overdue")
    if spec.strip().lower() == "all":
        return Segment("all", ())
    conditions = []
    column = 1
    for part in spec.split(","):
        where = column + len(part) - len(part.lstrip())
        if not part.strip():
            raise _fail(spec, where, "an empty condition between commas")
        if part.strip().lower() == "all":
            raise _fail(spec, where, "`all` stands alone, without other conditions")
        conditions.append(_condition(spec, part, where))
        column += len(part) + 1
    return Segment(",".join(_spelled(c) for c in conditions), tuple(conditions))


def _spelled(condition: Condition) -> str:
    return f"{condition.key}:{condition.value}" if condition.value else condition.key


def _same_text(column: Any, value: str) -> ColumnElement[bool]:
    return func.lower(func.trim(column)) == value.lower()


def _has_kind_this_year(kind: str, today: date) -> ColumnElement[bool]:
    return exists().where(
        Obligation.taxpayer_id == Taxpayer.id,
        Obligation.kind == kind,
        Obligation.year == today.year,
    )


def _unpaid_before(today: date) -> Select[int, date, date | None]:
    """Obligations due before `today` by the statute with principal outstanding: a superset of
    the overdue ones (an effective due date is never earlier than the statutory one)."""
    paid = (
        select(Allocation.obligation_id, func.sum(Allocation.principal).label("principal"))
        .where(Allocation.obligation_id.is_not(None))
        .group_by(Allocation.obligation_id)
        .subquery()
    )
    return (
        select(Obligation.taxpayer_id, Obligation.due_date, Obligation.decision_delivered_on)
        .outerjoin(paid, paid.c.obligation_id == Obligation.id)
        .where(Obligation.due_date < today, Obligation.amount > func.coalesce(paid.c.principal, 0))
    )


async def overdue_taxpayers(session: Any, today: date) -> set[int]:
    """Taxpayers with an obligation past its effective due date and principal unpaid."""
    rows = await session.execute(_unpaid_before(today))
    return {
        taxpayer_id
        for taxpayer_id, due_date, delivered_on in rows
        if effective_due_date(due_date, delivered_on) < today
    }


def segment_filter(segment: Segment, today: date) -> ColumnElement[bool]:
    """The SQL condition on `taxpayers` for the conditions SQL can decide (`overdue` and
    `channel:` are applied by the caller: the ledger's calendar and the channel choice)."""
    clauses: list[ColumnElement[bool]] = [literal(True)]
    for condition in segment.conditions:
        if condition.key == "district":
            clauses.append(_same_text(Taxpayer.district, condition.value))
        elif condition.key == "street":
            clauses.append(_same_text(Taxpayer.street, condition.value))
        elif condition.key == "kind":
            clauses.append(_has_kind_this_year(condition.value, today))
        elif condition.key == "language":
            clauses.append(Taxpayer.language == condition.value)
    return and_(*clauses)
