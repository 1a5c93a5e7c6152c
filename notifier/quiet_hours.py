"""Quiet hours (`reminders.quiet_hours`, Europe/Warsaw): no SMS or Telegram notice starts in
them. Reminders and announcements queued inside the window wait in the outbox (`not_before`)
until it ends; e-mail is never held, and replies in a chat are never notices."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from kernel.clock import WARSAW
from kernel.settings import parse_quiet_hours

HELD_CHANNELS = frozenset({"sms", "telegram"})


def hold_until(channel: str, now: datetime, quiet_hours: str | None) -> datetime | None:
    """When a notice on `channel` queued at `now` may go out: the end of the quiet hours it
    falls in (aware UTC), or None for at once."""
    if quiet_hours is None or channel not in HELD_CHANNELS:
        return None
    start, end = parse_quiet_hours(quiet_hours)
    if start == end:
        return None
    local = now.astimezone(WARSAW)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        inside, ends_on = start <= clock < end, local.date()
    else:  # the window wraps past midnight: evening to morning
        inside = clock >= start or clock < end
        ends_on = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return _at(ends_on, end)


def _at(day: date, moment: time) -> datetime:
    """The wall-clock `moment` of `day` in Warsaw, as UTC."""
    return datetime.combine(day, moment, tzinfo=WARSAW).astimezone(UTC)
