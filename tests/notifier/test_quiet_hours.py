"""Quiet hours: SMS and Telegram notices wait for the window's end; e-mail never waits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.quiet_hours import hold_until

WINDOW = "20:00-08:00"


@pytest.mark.parametrize(
    ("now", "until"),
    [
        # 21:30 in Warsaw in winter (UTC+1): held until 08:00 the next morning.
        (datetime(2026, 12, 1, 20, 30, tzinfo=UTC), datetime(2026, 12, 2, 7, 0, tzinfo=UTC)),
        # 05:00 in Warsaw in summer (UTC+2): held until 08:00 that morning.
        (datetime(2027, 7, 1, 3, 0, tzinfo=UTC), datetime(2027, 7, 1, 6, 0, tzinfo=UTC)),
        # 08:00 sharp and 19:59: outside.
        (datetime(2027, 7, 1, 6, 0, tzinfo=UTC), None),
        (datetime(2027, 7, 1, 17, 59, tzinfo=UTC), None),
        # The night the clocks go back (25 October 2026): 08:00 is 07:00 UTC again.
        (datetime(2026, 10, 24, 22, 0, tzinfo=UTC), datetime(2026, 10, 25, 7, 0, tzinfo=UTC)),
    ],
)
def test_sms_and_telegram_wait_for_the_end_of_the_window(
    now: datetime, until: datetime | None
) -> None:
    assert hold_until("sms", now, WINDOW) == until
    assert hold_until("telegram", now, WINDOW) == until


def test_email_is_never_held_nor_anything_without_quiet_hours() -> None:
    night = datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert hold_until("email", night, WINDOW) is None
    assert hold_until("sms", night, None) is None


def test_a_window_within_one_day() -> None:
    # 13:30 in Warsaw inside "13:00-14:00": until 14:00.
    lunch = datetime(2026, 12, 1, 12, 30, tzinfo=UTC)
    assert hold_until("sms", lunch, "13:00-14:00") == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    assert hold_until("sms", lunch, "14:00-15:00") is None
