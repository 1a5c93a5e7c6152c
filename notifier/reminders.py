"""The reminder planner: for a day, one reminder per taxpayer (on their first reachable channel)
listing every obligation whose effective due date is at one of `reminders.offsets_days` from
that day and that still has something outstanding, in the taxpayer's language.

Each reminder is an outbox row under the key `reminder:<taxpayer id>:<day>:<channel>`, queued
with a coverage row (what it listed, for the pay action) in one transaction: planning a day twice,
or in two processes at once, queues nothing twice (the outbox's unique key decides). SMS and
Telegram reminders queued in the quiet hours wait for their end (notifier.quiet_hours).

    plan_day      plan (or, dry, only compose) the reminders of one day; the caller commits
    plan_due_days what the daily run does: today once the run hour has passed, and the days
                  missed while the server was down (at most `reminders.catch_up_days`)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from babel.lists import format_list
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.clock import WARSAW, Clock
from kernel.errors import ConfigurationError
from kernel.i18n import babel_locale, render
from kernel.settings import Settings
from notifier.quiet_hours import hold_until
from payments.titles import transfer_titles
from storage.models import ObligationKind
from storage.outbox import Category, NewMessage, enqueue
from storage.preferences import delivery_channels
from storage.reminder_plan import (
    Coverage,
    DueTaxpayer,
    last_planned_day,
    mark_planned,
    obligations_due_at,
    record_coverage,
)

log = logging.getLogger(__name__)

REMINDERS = "reminders"
PAY_PAYLOAD = "/pay"


@dataclass(frozen=True)
class Policy:
    """The city's reminder policy, from `reminders.*` and the office from `city.*`."""

    offsets_days: tuple[int, ...]
    kinds: tuple[str, ...]
    sms_content: str
    quiet_hours: str | None
    run_hour: int
    catch_up_days: int
    office: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        reminders = settings.reminders
        unknown = sorted(set(reminders.kinds) - {kind.value for kind in ObligationKind})
        if unknown:
            raise ConfigurationError(f"reminders.kinds: unknown kind {unknown[0]!r}")
        return cls(
            offsets_days=tuple(reminders.offsets_days),
            kinds=tuple(reminders.kinds),
            sms_content=reminders.sms_content,
            quiet_hours=reminders.quiet_hours,
            run_hour=reminders.run_hour,
            catch_up_days=reminders.catch_up_days,
            office=settings.city.office_name,
        )


@dataclass(frozen=True)
class Planned:
    taxpayer: DueTaxpayer
    message: NewMessage
    coverage: Coverage


@dataclass(frozen=True)
class DayPlan:
    day: date
    reminders: list[Planned]
    # Reminders new in the outbox (0 on a dry run, and for a day planned before).
    queued: int


def reminder_key(taxpayer_id: int, day: date, channel: str) -> str:
    return f"reminder:{taxpayer_id}:{day.isoformat()}:{channel}"


def reminded_due_dates(day: date, offsets_days: Sequence[int]) -> set[date]:
    """The effective due dates reminded on `day`: an offset of -7 is seven days before one."""
    return {day - timedelta(days=offset) for offset in offsets_days}


def _full_text(taxpayer: DueTaxpayer, day: date, policy: Policy) -> str:
    language = taxpayer.language
    lines = [
        {
            "response": f"reminder_line_{'due' if item.effective_due_date >= day else 'late'}",
            "kind": item.kind,
            "amount": item.outstanding,
            "due_date": item.effective_due_date,
        }
        for item in taxpayer.obligations
    ]
    parts = [render("reminder_intro", language, {"office": policy.office, "lines": lines})]
    if taxpayer.account_number:
        outstanding = {item.ref: item.outstanding for item in taxpayer.obligations}
        for title, refs in transfer_titles(taxpayer.ref, outstanding):
            values = {
                "amount": sum((outstanding[ref] for ref in refs), Decimal(0)),
                "recipient": policy.office,
                "account": taxpayer.account_number,
                "title": title,
            }
            parts.append(render("reminder_transfer", language, values))
    parts.append(render("reminder_reply", language))
    return "\n\n".join(parts)


def _sms_text(taxpayer: DueTaxpayer, policy: Policy) -> str:
    language = taxpayer.language
    obligations = taxpayer.obligations
    kinds = list(dict.fromkeys(item.kind for item in obligations))
    values = {
        "office": policy.office,
        "total_amount": sum((item.outstanding for item in obligations), Decimal(0)),
        "kinds": format_list(
            [render(f"label_kind_{kind}", language) for kind in kinds],
            locale=babel_locale(language),
        ),
        "dates": sorted({item.effective_due_date for item in obligations}),
    }
    return render(f"reminder_sms_{policy.sms_content}", language, values)


def compose(
    taxpayer: DueTaxpayer, channel: str, address: str, day: date, policy: Policy, now: datetime
) -> Planned:
    """The reminder of one taxpayer for one day on one channel, and what it covers."""
    key = reminder_key(taxpayer.id, day, channel)
    text = _sms_text(taxpayer, policy) if channel == "sms" else _full_text(taxpayer, day, policy)
    buttons = (
        [(render("label_pay_button", taxpayer.language), PAY_PAYLOAD)]
        if channel == "telegram"
        else []
    )
    message = NewMessage(
        key=key,
        channel=channel,
        recipient=address,
        category=Category.REMINDER,
        text=text,
        language=taxpayer.language,
        buttons=buttons,
        taxpayer_id=taxpayer.id,
        not_before=hold_until(channel, now, policy.quiet_hours),
    )
    covered = [item.id for item in taxpayer.obligations]
    return Planned(taxpayer, message, Coverage(key, taxpayer.id, channel, address, day, covered))


async def plan_day(
    session: AsyncSession, day: date, policy: Policy, now: datetime, *, dry_run: bool = False
) -> DayPlan:
    """Compose the reminders of `day` and, unless `dry_run`, queue them with their coverage and
    mark the day planned. The caller commits."""
    due = await obligations_due_at(
        session, reminded_due_dates(day, policy.offsets_days), policy.kinds
    )
    reachable = await delivery_channels(session, [taxpayer.id for taxpayer in due], REMINDERS)
    planned = []
    for taxpayer in due:
        addresses = reachable.get(taxpayer.id)
        if not addresses:
            continue
        channel, address = addresses[0]
        planned.append(compose(taxpayer, channel, address, day, policy, now))
    queued = 0
    if not dry_run:
        # In key order: two planners of one day on PostgreSQL wait on the same keys in the
        # same order, and never on each other in a circle.
        planned.sort(key=lambda item: item.message.key)
        queued = await enqueue(session, [item.message for item in planned], now)
        await record_coverage(session, [item.coverage for item in planned], now)
        await mark_planned(session, day, now)
    return DayPlan(day, planned, queued)


def days_to_plan(now: datetime, last_planned: date | None, policy: Policy) -> list[date]:
    """Today once the run hour has passed, and the days after the last planned one that the
    server missed (the newest `catch_up_days` of them)."""
    local = now.astimezone(WARSAW)
    latest = local.date() if local.hour >= policy.run_hour else local.date() - timedelta(days=1)
    first = latest - timedelta(days=policy.catch_up_days)
    if last_planned is not None:
        first = max(first, last_planned + timedelta(days=1))
    else:
        first = latest
    return [first + timedelta(days=n) for n in range((latest - first).days + 1)]


async def plan_due_days(
    sessions: async_sessionmaker[AsyncSession], policy: Policy, clock: Clock
) -> list[DayPlan]:
    """The daily run: every day due and not planned yet, oldest first, each in its own
    transaction."""
    async with sessions() as session:
        last = await last_planned_day(session)
    plans = []
    for day in days_to_plan(clock.now(), last, policy):
        async with sessions() as session:
            plan = await plan_day(session, day, policy, clock.now())
            await session.commit()
        log.info(
            "reminders: %s planned, %s reminders queued (%s composed)",
            day.isoformat(), plan.queued, len(plan.reminders),
        )  # fmt: skip
        plans.append(plan)
    return plans
