"""The reminder planner on a small city, on both engines: the right reminders on the right days
(effective due dates shifted off weekends and holidays, 24 December included), nothing for what
is paid, nothing without consent or after an opt-out, quiet hours, and nothing queued twice."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from bot.cli import main
from bot.scheduler import SCHEDULER
from bot.web import init_app
from kernel.clock import FrozenClock
from kernel.settings import Settings
from notifier.reminders import days_to_plan, plan_due_days
from storage.models import Contact, Obligation, Taxpayer
from storage.outbox import claim_due, mark_unreachable
from storage.outbox_models import OutboxMessage
from storage.preferences import opt_out, record_consent
from storage.reminder_models import ReminderCoverage
from tests.conftest import Store
from tests.conversation_helpers import ClientMaker, add_obligation, add_payment
from tests.notifier.reminder_content_helpers import reminder_links
from tests.notifier.reminder_helpers import PHONE, consent, plan, policy, refresh_ledger
from tests.resident_helpers import OTHER_PESEL, add_taxpayer

# Noon in Warsaw on a winter day: outside the quiet hours.
NOON = datetime(2025, 12, 1, 11, 0, tzinfo=UTC)
EMAIL = "anna@example.org"
ACCOUNT = "22105012141000000012345678"


async def _taxpayer(store: Store, *dues: tuple[str, date, str], language: str = "pl") -> int:
    """A taxpayer with obligations (ref, statutory due date, amount) and consent to SMS."""
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session, account_number=ACCOUNT)
        await session.execute(
            sa.update(Taxpayer).where(Taxpayer.id == taxpayer_id).values(language=language)
        )
        for ref, due, amount in dues:
            await add_obligation(session, taxpayer_id, ref, "property_tax", due, amount)
        await session.commit()
    await consent(store, taxpayer_id, NOON)
    return taxpayer_id


async def _emailed_taxpayer(store: Store) -> int:
    """A second taxpayer, with an instalment on 15 September 2027 and consent to e-mail."""
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session, "T-0002", pesel=OTHER_PESEL)
        await add_obligation(
            session, taxpayer_id, "PT-9", "property_tax", date(2027, 9, 15), "9.00"
        )
        await record_consent(session, taxpayer_id, "email", EMAIL, "import", NOON)
        await session.commit()
    return taxpayer_id


async def _reminded_days(store: Store, around: date) -> list[date]:
    days = [around + timedelta(days=n) for n in range(-10, 8)]
    return [day for day in days if (await plan(store, day, NOON, dry_run=True)).reminders]


@pytest.mark.parametrize(
    ("due", "effective"),
    [
        (date(2025, 12, 24), date(2025, 12, 29)),  # Christmas Eve (a holiday from 2025), then
        # Christmas, St Stephen's and a weekend
        (date(2026, 3, 15), date(2026, 3, 16)),  # a Sunday
        (date(2027, 5, 15), date(2027, 5, 17)),  # a Saturday
        (date(2027, 9, 15), date(2027, 9, 15)),  # a Wednesday
    ],
    ids=["24-december", "sunday", "saturday", "working-day"],
)
async def test_reminded_at_the_offsets_from_the_effective_due_date(
    store: Store, due: date, effective: date
) -> None:
    await _taxpayer(store, ("PT-1", due, "100.00"))
    # Offsets -7, -1 and 3: a week before, the day before, three days late.
    assert await _reminded_days(store, effective) == [
        effective - timedelta(days=7),
        effective - timedelta(days=1),
        effective + timedelta(days=3),
    ]


async def test_one_reminder_lists_everything_due_that_day_with_amounts_and_transfer(
    store: Store,
) -> None:
    await _taxpayer(
        store,
        ("PT-2027-2", date(2027, 5, 15), "1500.00"),
        ("WF-2027-2", date(2027, 5, 17), "150.50"),
        ("PT-2027-3", date(2027, 9, 15), "1500.00"),
    )
    planned = await plan(store, date(2027, 5, 10), NOON, policy(sms_content="full"))
    (reminder,) = planned.reminders
    assert [item.ref for item in reminder.taxpayer.obligations] == ["PT-2027-2", "WF-2027-2"]
    message = reminder.message
    assert (message.channel, message.recipient, message.key) == (
        "sms", PHONE, f"reminder:{reminder.taxpayer.id}:2027-05-10:sms",
    )  # fmt: skip
    words, link = message.text.split("\n")
    assert words == (
        "Urząd Miasta Ruda Śląska: do zapłaty 1\u00a0650,50\u00a0zł (podatek od nieruchomości), "
        "termin 17 maja 2027. Odpisz ZAPŁAĆ."
    )
    assert link.startswith("Zapłać: http://127.0.0.1:8080/pay/")


async def test_sms_content_follows_the_citys_policy(store: Store) -> None:
    await _taxpayer(store, ("PT-1", date(2027, 5, 15), "1500.00"))
    texts = {}
    for content in ("full", "no_amount", "minimal"):
        rules = policy(sms_content=content)
        (reminder,) = (await plan(store, date(2027, 5, 10), NOON, rules, dry_run=True)).reminders
        texts[content] = reminder.message.text
    assert "1\u00a0500,00\u00a0zł" in texts["full"]
    assert "zł" not in texts["no_amount"]
    assert "17 maja 2027" in texts["no_amount"]
    assert texts["minimal"] == (
        "Urząd Miasta Ruda Śląska: przypomnienie o płatności. Odpisz ZAPŁAĆ, a podamy szczegóły."
    )
    # The default: no amount.
    (default,) = (await plan(store, date(2027, 5, 10), NOON, dry_run=True)).reminders
    assert default.message.text == texts["no_amount"]


async def test_a_telegram_reminder_carries_the_transfer_and_a_button_in_the_taxpayers_language(
    store: Store,
) -> None:
    taxpayer_id = await _taxpayer(store, ("PT-1", date(2027, 9, 15), "99.00"), language="uk")
    async with store.sessions() as session:
        await session.execute(
            sa.insert(Contact).values(
                taxpayer_id=taxpayer_id, kind="telegram", value="700100", source="chat"
            )
        )
        await record_consent(session, taxpayer_id, "telegram", "700100", "chat", NOON, first=True)
        await session.commit()
    (reminder,) = (await plan(store, date(2027, 9, 18), NOON, dry_run=True)).reminders
    message = reminder.message
    assert (message.channel, message.recipient, message.language) == ("telegram", "700100", "uk")
    assert message.text.splitlines() == [
        "Urząd Miasta Ruda Śląska нагадує про місцеві податки та збори:",
        "• податок на нерухомість: 99,00\u00a0PLN, термін минув 15 вересня 2027\u202fр.",
        "",
        "Переказ 99,00\u00a0PLN на користь: Urząd Miasta Ruda Śląska, рахунок "
        "22 1050 1214 1000 0000 1234 5678, призначення: T-0001 PT-1",
        "",
        "Відповідайте «СПЛАТИТИ», і я підкажу, як сплатити за станом на той момент.",
    ]
    assert list(message.buttons) == [("Сплатити", "/pay")]


async def test_nothing_for_what_is_paid_and_the_rest_of_what_is_not(store: Store) -> None:
    taxpayer_id = await _taxpayer(
        store, ("PT-1", date(2027, 9, 15), "100.00"), ("PT-2", date(2027, 9, 15), "200.00")
    )
    async with store.sessions() as session:
        listed = await session.execute(sa.select(Obligation.ref, Obligation.id))
        ids = {ref: obligation_id for ref, obligation_id in listed}
        await add_payment(session, taxpayer_id, "B-1", date(2027, 9, 1), "100.00", ids["PT-1"])
        await add_payment(session, taxpayer_id, "B-2", date(2027, 9, 1), "50.00", ids["PT-2"])
        await session.commit()
    await refresh_ledger(store, taxpayer_id)
    (reminder,) = (await plan(store, date(2027, 9, 8), NOON, dry_run=True)).reminders
    assert [(o.ref, o.outstanding) for o in reminder.taxpayer.obligations] == [
        ("PT-2", Decimal("150.00"))
    ]
    async with store.sessions() as session:
        await add_payment(session, taxpayer_id, "B-3", date(2027, 9, 2), "150.00", ids["PT-2"])
        await session.commit()
    await refresh_ledger(store, taxpayer_id)
    assert (await plan(store, date(2027, 9, 8), NOON, dry_run=True)).reminders == []


async def test_nothing_without_consent_or_after_an_opt_out_and_unreachable_falls_to_the_next(
    store: Store,
) -> None:
    consenting = await _taxpayer(store, ("PT-1", date(2027, 9, 15), "100.00"))
    async with store.sessions() as session:
        silent = await add_taxpayer(session, "T-0002", pesel=OTHER_PESEL, phone="+48602000111")
        await add_obligation(session, silent, "PT-9", "property_tax", date(2027, 9, 15), "9.00")
        await session.commit()
    day = date(2027, 9, 8)
    planned = await plan(store, day, NOON, dry_run=True)
    assert [item.taxpayer.id for item in planned.reminders] == [consenting]

    async with store.sessions() as session:
        await record_consent(session, consenting, "email", EMAIL, "import", NOON)
        await mark_unreachable(session, "sms", PHONE, "STOP", NOON)
        await session.commit()
    (reminder,) = (await plan(store, day, NOON, dry_run=True)).reminders
    assert (reminder.message.channel, reminder.message.recipient) == ("email", EMAIL)

    async with store.sessions() as session:
        await opt_out(session, consenting, "email", "unsubscribe-link", NOON, ("reminders",))
        await session.commit()
    assert (await plan(store, day, NOON, dry_run=True)).reminders == []


async def test_only_the_kinds_the_city_reminds(store: Store) -> None:
    await _taxpayer(store, ("PT-1", date(2027, 9, 15), "100.00"))
    rules = policy(kinds=["dog_fee"])
    assert (await plan(store, date(2027, 9, 8), NOON, rules, dry_run=True)).reminders == []


async def test_quiet_hours_hold_sms_and_telegram_until_they_end(store: Store) -> None:
    taxpayer_id = await _taxpayer(store, ("PT-1", date(2027, 9, 15), "100.00"))
    await _emailed_taxpayer(store)
    # 21:30 in Warsaw (summer time, UTC+2), inside "20:00-08:00".
    evening = datetime(2027, 9, 7, 19, 30, tzinfo=UTC)
    planned = await plan(store, date(2027, 9, 8), evening)
    assert planned.queued == 2
    ends = datetime(2027, 9, 8, 6, 0, tzinfo=UTC)  # 08:00 in Warsaw
    async with store.sessions() as session:
        due = await claim_due(session, ["sms", "email"], evening, timedelta(minutes=5), 10)
    assert [(m.channel, m.recipient) for m in due] == [("email", EMAIL)]
    async with store.sessions() as session:
        early = ends - timedelta(minutes=1)
        assert await claim_due(session, ["sms"], early, timedelta(minutes=5), 10) == []
        (sent,) = await claim_due(session, ["sms"], ends, timedelta(minutes=5), 10)
    assert (sent.recipient, sent.key) == (PHONE, f"reminder:{taxpayer_id}:2027-09-08:sms")


async def _counts(store: Store) -> tuple[int, int]:
    async with store.sessions() as session:
        outbox = await session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
        covered = await session.scalar(sa.select(sa.func.count()).select_from(ReminderCoverage))
    return int(outbox or 0), int(covered or 0)


async def test_planning_a_day_twice_queues_nothing_twice(store: Store) -> None:
    await _taxpayer(store, ("PT-1", date(2027, 9, 15), "100.00"))
    day = date(2027, 9, 8)
    assert (await plan(store, day, NOON)).queued == 1
    again = await plan(store, day, NOON + timedelta(hours=3))
    assert (again.queued, len(again.reminders)) == (0, 1)
    assert await _counts(store) == (1, 1)


@pytest.mark.parametrize("sms_content", ["no_amount", "full"])
async def test_two_processes_planning_one_day_at_once_queue_each_reminder_once(
    store: Store, sms_content: str
) -> None:
    async with store.sessions() as session:
        for number in range(1, 41):
            taxpayer_id = await add_taxpayer(session, f"T-{number:04d}", pesel=None, nip=None)
            await add_obligation(
                session, taxpayer_id, f"PT-{number}", "property_tax", date(2027, 9, 15), "10.00"
            )
            await record_consent(
                session, taxpayer_id, "sms", f"+4860100{number:04d}", "import", NOON
            )
        await session.commit()
    gmina = os.path.join(os.path.dirname(sys.executable), "gmina")
    env = {
        **os.environ,
        "GMINA__DATABASE__URL": store.url,
        "GMINA__LOGGING__LEVEL": "WARNING",
        "GMINA__REMINDERS__SMS_CONTENT": sms_content,
    }
    processes = [
        await asyncio.create_subprocess_exec(
            gmina,
            "remind",
            "plan",
            "--on",
            "2027-09-08",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    queued = sorted(int(out.split()[0]) for out, _ in outputs)
    assert sum(queued) == 40
    assert await _counts(store) == (40, 40)
    # With `full`, each reminder has one payment link (its key decides, as the outbox's does).
    links = await reminder_links(store)
    assert (len(links), set(links.values())) == ((40, {1}) if sms_content == "full" else (0, set()))


def test_the_days_to_plan_after_a_gap() -> None:
    rules = policy(run_hour=9, catch_up_days=3)
    noon = datetime(2027, 5, 10, 10, 0, tzinfo=UTC)  # 12:00 in Warsaw
    dawn = datetime(2027, 5, 10, 4, 0, tzinfo=UTC)  # 06:00 in Warsaw, before the run
    assert days_to_plan(noon, date(2027, 5, 10), rules) == []
    assert days_to_plan(noon, date(2027, 5, 8), rules) == [date(2027, 5, 9), date(2027, 5, 10)]
    assert days_to_plan(dawn, date(2027, 5, 8), rules) == [date(2027, 5, 9)]
    # A long gap: only the newest `catch_up_days` and today.
    assert days_to_plan(noon, date(2027, 4, 1), rules)[0] == date(2027, 5, 7)
    # Never planned: today only.
    assert days_to_plan(noon, None, rules) == [date(2027, 5, 10)]


async def test_a_missed_day_is_planned_on_start_without_what_was_paid_meanwhile(
    store: Store,
) -> None:
    paid_since = await _taxpayer(store, ("PT-1", date(2027, 9, 15), "100.00"))
    unpaid = await _emailed_taxpayer(store)
    rules = policy(catch_up_days=3)
    # The server planned 7 September, then was down on the 8th, when the -7 reminders fell.
    await plan(store, date(2027, 9, 7), datetime(2027, 9, 7, 7, 0, tzinfo=UTC), rules)
    async with store.sessions() as session:
        await add_payment(session, paid_since, "B-1", date(2027, 9, 8), "100.00")
        await session.commit()
    await refresh_ledger(store, paid_since)
    restarted = FrozenClock(datetime(2027, 9, 9, 5, 0, tzinfo=UTC))  # 07:00, before the run
    plans = await plan_due_days(store.sessions, rules, restarted)
    assert [(p.day, [r.taxpayer.id for r in p.reminders]) for p in plans] == [
        (date(2027, 9, 8), [unpaid])
    ]
    # Started again: nothing more to plan.
    assert await plan_due_days(store.sessions, rules, restarted) == []


async def test_the_server_plans_the_day_when_it_starts(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    taxpayer_id = await _taxpayer(store, ("PT-1", date(2027, 9, 15), "100.00"))
    settings = Settings.model_validate(
        {"database": {"url": store.url}, "reminders": {"start_delay_seconds": 0}}
    )
    # 12:00 in Warsaw on 8 September, a week before the instalment.
    app = init_app(settings, clock=FrozenClock(datetime(2027, 9, 8, 10, 0, tzinfo=UTC)))
    client = await aiohttp_client(app)
    await client.close()  # shutdown waits for the run under way
    async with store.sessions() as session:
        keys = (await session.scalars(sa.select(OutboxMessage.key))).all()
    assert keys == [f"reminder:{taxpayer_id}:2027-09-08:sms"]


async def test_gmina_remind_plan_lists_then_queues(store: Store) -> None:
    await _taxpayer(store, ("PT-1", date(2027, 9, 15), "100.00"))
    env = {"GMINA__DATABASE__URL": store.url}
    runner = CliRunner()

    async def gmina(*args: str) -> str:
        invoked = await asyncio.to_thread(
            runner.invoke, main, ["remind", "plan", "--on", "2027-09-08", *args], env=env,
            obj={"clock": FrozenClock(NOON)},
        )  # fmt: skip
        assert invoked.exit_code == 0, invoked.output
        return invoked.stdout

    assert await gmina("--dry-run") == (
        "T-0001\tsms\tPT-1\n1 reminders due on 2027-09-08 (dry run)\n"
    )
    assert await _counts(store) == (0, 0)
    assert await gmina() == "1 reminders queued for 2027-09-08 (0 queued before)\n"
    assert await gmina() == "0 reminders queued for 2027-09-08 (1 queued before)\n"
    assert await _counts(store) == (1, 1)


async def test_a_decision_delivered_late_moves_the_reminders_with_its_deadline(
    store: Store,
) -> None:
    # Delivered on 10 September for 15 September: due 14 days after delivery (OP art. 47 §2),
    # Friday 24 September.
    await _taxpayer(store, ("PT-1", date(2027, 9, 15), "100.00"))
    async with store.sessions() as session:
        await session.execute(sa.update(Obligation).values(decision_delivered_on=date(2027, 9, 10)))
        await session.commit()
    effective = date(2027, 9, 24)
    assert await _reminded_days(store, effective) == [
        date(2027, 9, 17), date(2027, 9, 23), date(2027, 9, 27),
    ]  # fmt: skip
    # Not a week before the statutory date any more.
    assert (await plan(store, date(2027, 9, 8), NOON, dry_run=True)).reminders == []


async def test_the_daily_job_plans_in_the_servers_event_loop(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    taxpayer_id = await _taxpayer(store, ("PT-1", date(2027, 9, 15), "100.00"))
    settings = Settings.model_validate({"database": {"url": store.url}})
    app = init_app(settings, clock=FrozenClock(datetime(2027, 9, 8, 10, 0, tzinfo=UTC)))
    client = await aiohttp_client(app)
    # The run at `reminders.run_hour`, brought forward to now (the start-up run is 10 s away).
    app[SCHEDULER].get_job("reminders").modify(next_run_time=datetime.now(UTC))
    for _ in range(200):
        if await _counts(store) == (1, 1):
            break
        await asyncio.sleep(0.05)
    await client.close()
    async with store.sessions() as session:
        keys = (await session.scalars(sa.select(OutboxMessage.key))).all()
    assert keys == [f"reminder:{taxpayer_id}:2027-09-08:sms"]
