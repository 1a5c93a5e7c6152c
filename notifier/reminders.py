"""The reminder planner: for a day, one reminder per taxpayer (on their first reachable channel)
listing every obligation whose effective due date is at one of `reminders.offsets_days` from
that day and that still has something outstanding, in the taxpayer's language.

What a reminder carries depends on its channel: SMS what `reminders.sms_content` allows (`full`:
the amount and a payment link; `no_amount`: kinds and dates; `minimal`: "odpisz ZAPŁAĆ"); an
e-mail the obligations, the transfer details and a payment link; Telegram the obligations, the
transfer details and a "Zapłać" button. A link is handed out once per reminder
(`payments.links.hand_out_reminder_links`, keyed by the reminder's outbox key) and covers
exactly what the reminder lists.

Each reminder is an outbox row under the key `reminder:<taxpayer id>:<day>:<channel>`, queued
with a coverage row (what it listed, for the pay action) in one transaction: planning a day twice,
or in two processes at once, queues nothing twice (the outbox's unique key decides). SMS and
Telegram reminders queued in the quiet hours wait for their end (notifier.quiet_hours).

    plan_day      plan (or, dry, only compose) the reminders of one day; the caller commits
    compose       one reminder on one channel (also what a fallback copy of one is made by)
    plan_due_days what the daily run does: today once the run hour has passed, and the days
                  missed while the server was down (at most `reminders.catch_up_days`)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from babel.lists import format_list
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.clock import WARSAW, Clock
from kernel.errors import ConfigurationError
from kernel.i18n import babel_locale, render
from kernel.settings import Settings
from notifier.quiet_hours import hold_until
from notifier.sms_segments import SmsMeter
from payments.links import HandedOutLink, hand_out_reminder_links
from payments.titles import transfer_titles
from storage.models import ObligationKind
from storage.outbox import Category, NewMessage, enqueue
from storage.payment_links import ReminderLinkRequest
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
    # For the payment links (`web.public_base_url`, `payments.link_ttl_days`).
    settings: Settings = field(compare=False, repr=False)
    sms_meter: SmsMeter = field(compare=False, repr=False)

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
            settings=settings,
            sms_meter=SmsMeter.from_settings(settings),
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


def carries_link(channel: str, policy: Policy) -> bool:
    """Whether a reminder on `channel` hands out a payment link: e-mail always, SMS only when
    the city chose `full` (residents are otherwise taught that no SMS of ours has a link)."""
    return channel == "email" or (channel == "sms" and policy.sms_content == "full")


def _full_text(taxpayer: DueTaxpayer, day: date, policy: Policy, link: HandedOutLink | None) -> str:
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
    if link is not None:
        # An e-mail: the link instead of "reply PAY" (nobody reads replies to it).
        until = link.expires_at.astimezone(WARSAW).date()
        parts.append(render("utter_pay_link", language, {"url": link.url, "until_date": until}))
    else:
        parts.append(render("reminder_reply", language))
    return "\n\n".join(parts)


def _sms_text(taxpayer: DueTaxpayer, policy: Policy, link: HandedOutLink | None) -> str:
    obligations = taxpayer.obligations
    total = sum((item.outstanding for item in obligations), Decimal(0))
    words = _sms_words(
        taxpayer.language,
        policy.sms_content,
        policy.office,
        tuple(dict.fromkeys(item.kind for item in obligations)),
        tuple(sorted({item.effective_due_date for item in obligations})),
        # Only `full` shows the amount: the others are the same for many taxpayers.
        total if policy.sms_content == "full" else None,
    )
    if link is None:
        return words
    link_line = render("reminder_sms_link", taxpayer.language, {"url": link.url})
    # A long list of kinds (in UCS-2, 67 characters a segment) is cut, never the link.
    return policy.sms_meter.fitted(words, link_line, taxpayer.language)


@functools.lru_cache(maxsize=4096)
def _sms_words(
    language: str,
    content: str,
    office: str,
    kinds: tuple[str, ...],
    dates: tuple[date, ...],
    total: Decimal | None,
) -> str:
    values = {
        "office": office,
        "total_amount": total,
        "kinds": format_list(
            [render(f"label_kind_{kind}", language) for kind in kinds],
            locale=babel_locale(language),
        ),
        "dates": list(dates),
    }
    return render(f"reminder_sms_{content}", language, values)


def compose(
    taxpayer: DueTaxpayer,
    channel: str,
    address: str,
    day: date,
    policy: Policy,
    now: datetime,
    *,
    key: str | None = None,
    link: HandedOutLink | None = None,
) -> Planned:
    """The reminder of one taxpayer for one day on one channel (under `key`, by default the
    day's reminder key), with the payment link handed out for it, and what it covers."""
    key = key or reminder_key(taxpayer.id, day, channel)
    if channel == "sms":
        text = _sms_text(taxpayer, policy, link)
    else:
        text = _full_text(taxpayer, day, policy, link)
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
    return Planned(
        taxpayer,
        policy.sms_meter.measured(message),
        Coverage(key, taxpayer.id, channel, address, day, covered),
    )


def link_request(
    taxpayer: DueTaxpayer, key: str, channel: str, address: str
) -> ReminderLinkRequest:
    return ReminderLinkRequest(
        key,
        taxpayer.id,
        tuple(item.id for item in taxpayer.obligations),
        taxpayer.language,
        channel,
        address,
    )


async def plan_day(
    session: AsyncSession, day: date, policy: Policy, now: datetime, *, dry_run: bool = False
) -> DayPlan:
    """Compose the reminders of `day` and, unless `dry_run`, queue them with their coverage and
    mark the day planned. The caller commits."""
    due = await obligations_due_at(
        session, reminded_due_dates(day, policy.offsets_days), policy.kinds
    )
    reachable = await delivery_channels(session, [taxpayer.id for taxpayer in due], REMINDERS)
    # In key order: two planners of one day on PostgreSQL wait on the same keys (of links,
    # then of messages) in the same order, and never on each other in a circle.
    targets = sorted(
        (
            (reminder_key(taxpayer.id, day, addresses[0][0]), taxpayer, *addresses[0])
            for taxpayer in due
            if (addresses := reachable.get(taxpayer.id))
        ),
        key=lambda target: target[0],
    )
    links: dict[str, HandedOutLink] = {}
    if not dry_run:
        # psycopg parses each statement's placeholders in Python: a multi-row INSERT of 1,000
        # rows costs more per row than ten of 100.
        connection = await session.connection()
        await connection.execution_options(insertmanyvalues_page_size=100)
        # A reminder whose link exists was queued with it before: it gets none, and its
        # message is not queued again.
        requests = [
            link_request(taxpayer, key, channel, address)
            for key, taxpayer, channel, address in targets
            if carries_link(channel, policy)
        ]
        links = await hand_out_reminder_links(session, policy.settings, requests, now)
    planned = [
        compose(taxpayer, channel, address, day, policy, now, key=key, link=links.get(key))
        for key, taxpayer, channel, address in targets
    ]
    queued = 0
    if not dry_run:
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
