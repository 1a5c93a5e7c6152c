"""What the panel shows of delivery, on both engines: counts over Warsaw days with filters,
failures newest first a page at a time with recipients masked, reminder runs per day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from storage.delivery_stats import (
    DeliveryCount,
    DeliveryFilter,
    Period,
    delivery_counts,
    delivery_failures,
    reminder_days,
)
from storage.outbox import (
    Category,
    NewMessage,
    Outcome,
    Status,
    claim_due,
    enqueue,
    record_outcomes,
)
from storage.reminder_plan import Coverage, mark_planned, record_coverage
from tests.conftest import Store
from tests.storage.test_balances import add_taxpayer

# 1 March 2027, 00:30 in Warsaw (UTC+1): still 28 February in UTC.
MARCH_1_EARLY = datetime(2027, 2, 28, 23, 30, tzinfo=UTC)


def _message(key: str, channel: str = "sms", category: Category = Category.REMINDER) -> NewMessage:
    return NewMessage(key, channel, "+48600100" + key[-3:].rjust(3, "0"), category, "text " + key)


async def _queue(store: Store, messages: list[NewMessage], at: datetime) -> None:
    async with store.sessions() as session:
        await enqueue(session, messages, at)
        await session.commit()


async def _send(store: Store, outcomes: dict[str, tuple[Status, str | None]], at: datetime) -> None:
    """Claim every due message and record the outcome given for its key (sent otherwise)."""
    async with store.sessions() as session:
        claimed = await claim_due(
            session, ["sms", "telegram", "email"], at, timedelta(minutes=1), 100
        )
        answers = [(m.id, *outcomes.get(m.key, (Status.SENT, None))) for m in claimed]
        await record_outcomes(
            session, [Outcome(id_, status, error=error) for id_, status, error in answers], at
        )
        await session.commit()


def test_a_period_is_whole_warsaw_days_across_a_clock_change() -> None:
    period = Period.of_days(date(2027, 3, 28), date(2027, 3, 28))
    assert period.since == datetime(2027, 3, 27, 23, 0, tzinfo=UTC)
    assert period.until == datetime(2027, 3, 28, 22, 0, tzinfo=UTC)  # a 23-hour day


async def test_counts_are_by_channel_category_and_status_within_warsaw_days(store: Store) -> None:
    await _queue(store, [_message("r-001"), _message("r-002")], MARCH_1_EARLY)
    await _queue(store, [_message("t-003", "telegram", Category.ANNOUNCEMENT)], MARCH_1_EARLY)
    # 28 February in Warsaw: outside a period that starts on 1 March.
    await _queue(store, [_message("r-004")], MARCH_1_EARLY - timedelta(hours=1))
    await _send(store, {"r-002": (Status.PERMANENT_FAILURE, "30007 carrier violation")},
                MARCH_1_EARLY + timedelta(minutes=5))  # fmt: skip
    march = Period.of_days(date(2027, 3, 1), date(2027, 3, 31))
    async with store.sessions() as session:
        everything = await delivery_counts(session, march)
        only_sms = await delivery_counts(session, march, DeliveryFilter(channel="sms"))
        failed = await delivery_counts(session, march, DeliveryFilter(status="permanent-failure"))
        february = await delivery_counts(
            session, Period.of_days(date(2027, 2, 1), date(2027, 2, 28))
        )
    assert everything == [
        DeliveryCount("sms", "reminder", "permanent-failure", 1),
        DeliveryCount("sms", "reminder", "sent", 1),
        DeliveryCount("telegram", "announcement", "sent", 1),
    ]
    assert [c.channel for c in only_sms] == ["sms", "sms"]
    assert failed == [DeliveryCount("sms", "reminder", "permanent-failure", 1)]
    assert february == [DeliveryCount("sms", "reminder", "sent", 1)]


async def test_failures_come_newest_first_a_page_at_a_time_masked(store: Store) -> None:
    keys = [f"f-{n:03}" for n in range(5)]
    await _queue(store, [_message(key) for key in keys] + [_message("ok-100")], MARCH_1_EARLY)
    await _send(
        store,
        {
            key: (Status.TECHNICAL_FAILURE, f"gave up after {n} attempts")
            for n, key in enumerate(keys)
        },
        MARCH_1_EARLY,
    )
    march = Period.of_days(date(2027, 3, 1), date(2027, 3, 31))
    async with store.sessions() as session:
        first = await delivery_failures(session, march, limit=2)
        second = await delivery_failures(session, march, before_id=first.next_before_id, limit=2)
        third = await delivery_failures(session, march, before_id=second.next_before_id, limit=2)
        none_sent = await delivery_failures(session, march, DeliveryFilter(status="sent"))
        no_email = await delivery_failures(session, march, DeliveryFilter(channel="email"))
    pages = [first.rows, second.rows, third.rows]
    assert [[row.error for row in page] for page in pages] == [
        ["gave up after 4 attempts", "gave up after 3 attempts"],
        ["gave up after 2 attempts", "gave up after 1 attempts"],
        ["gave up after 0 attempts"],
    ]
    assert third.next_before_id is None
    assert first.rows[0].recipient_masked == "***004"
    assert first.rows[0].status == "technical-failure"
    assert none_sent.rows == []
    assert no_email.rows == []


async def test_reminder_days_count_each_run_by_channel_and_delivery(store: Store) -> None:
    day = date(2027, 3, 1)
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session, "T1")
        await session.commit()
    await _queue(store, [_message("rem-001"), _message("rem-002", "telegram")], MARCH_1_EARLY)
    async with store.sessions() as session:
        await record_coverage(
            session,
            [
                Coverage("rem-001", taxpayer_id, "sms", "+48600100001", day, [1]),
                Coverage("rem-002", taxpayer_id, "telegram", "42", day, [1]),
                # Its outbox row was purged by retention since.
                Coverage("rem-gone", taxpayer_id, "sms", "+48600100009", day, [1]),
            ],
            MARCH_1_EARLY,
        )
        await mark_planned(session, day, MARCH_1_EARLY)
        await mark_planned(session, day + timedelta(days=1), MARCH_1_EARLY + timedelta(days=1))
        await mark_planned(session, day - timedelta(days=30), MARCH_1_EARLY - timedelta(days=30))
        await session.commit()
    await _send(store, {"rem-002": (Status.PERMANENT_FAILURE, "Forbidden: bot was blocked")},
                MARCH_1_EARLY)  # fmt: skip
    async with store.sessions() as session:
        days = await reminder_days(session, date(2027, 2, 20), date(2027, 3, 5))
    assert [d.on_date for d in days] == [date(2027, 3, 2), date(2027, 3, 1)]
    assert days[0].total == 0
    assert days[0].planned_at is not None
    assert days[1].planned_at == MARCH_1_EARLY
    assert days[1].counts == {
        ("sms", "sent"): 1,
        ("telegram", "permanent-failure"): 1,
        ("sms", "purged"): 1,
    }
    assert days[1].by_status() == {"sent": 1, "permanent-failure": 1, "purged": 1}
    assert days[1].by_channel() == {"sms": 2, "telegram": 1}
