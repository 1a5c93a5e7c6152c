"""The next channel: a notice that cannot reach the resident where it went goes where they agreed
to be reached next.

When a reminder, an announcement or a receipt fails for good (a permanent failure when sent, a
provider's later report that it was not delivered, or the provider said the recipient is
unreachable: a blocked bot, a bounced address, an SMS STOP), a copy is queued once on the
taxpayer's next channel: the first of `delivery_channels` (the resident's order, consented, not
opted out, not unreachable) not tried yet for that notice. Its key is the original's with
`|fallback:<channel>`, so it is queued once however often the outcome is recorded or reported,
and a fallback that fails too moves on to the channel after it. Receipts follow the order of
reminders (both are about the resident's payments). A copy on SMS or Telegram inside the quiet
hours (`reminders.quiet_hours`) waits for their end. Chat replies, verification codes and a
clerk's replies never fall back: they answer where they were asked.

A reminder's copy is the reminder composed again for its channel (`notifier.reminders.compose`)
from what it listed, as it stands now: an SMS copy says what `reminders.sms_content` allows, an
e-mail copy has the transfer details and a payment link of its own, a Telegram copy the
"Zapłać" button; what was paid meanwhile is left out, and nothing is queued when all of it
is. Its coverage row is written like the planner's. Other notices are copied as they are. An SMS
copy's segments are measured like any SMS queued outside the chat (`SmsMeter`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from notifier.quiet_hours import hold_until
from notifier.reminders import Policy, carries_link, compose, link_request
from payments.links import hand_out_reminder_links
from storage.outbox import (
    Category,
    NewMessage,
    Outcome,
    Status,
    Stored,
    channels_of,
    enqueue,
    stored_messages,
)
from storage.preferences import DEFAULT_ORDER, delivery_channels
from storage.reminder_plan import covered_now, record_coverage

# The outbox categories that fall back, and the preference category whose order they follow.
FALLS_BACK = {
    Category.REMINDER: "reminders",
    Category.ANNOUNCEMENT: "announcements",
    Category.RECEIPT: "reminders",
    # The office telling a resident their case moved: as much theirs to receive as a receipt.
    Category.CASE_UPDATE: "reminders",
}
MARK = "|fallback:"


def fallback_key(key: str, channel: str) -> str:
    """The key of a notice's copy on `channel`: one per channel for the original notice."""
    return f"{key.split(MARK, 1)[0]}{MARK}{channel}"


async def queue_fallbacks(
    session: AsyncSession, outcomes: Sequence[Outcome], now: datetime, policy: Policy
) -> int:
    """Queue the next channel's copy of every notice among `outcomes` that failed for good;
    returns how many were queued. Runs in the transaction that records the outcomes, after them
    (so an address just marked unreachable is passed over); the caller commits."""
    failed = [outcome.id for outcome in outcomes if outcome.status == Status.PERMANENT_FAILURE]
    if not failed:
        return 0
    queued = 0
    for message in (await stored_messages(session, failed)).values():
        if message.taxpayer_id is None or Category(message.category) not in FALLS_BACK:
            continue
        queued += await _queue_next(session, message, message.taxpayer_id, now, policy)
    return queued


async def _queue_next(
    session: AsyncSession, message: Stored, taxpayer_id: int, now: datetime, policy: Policy
) -> int:
    root = message.key.split(MARK, 1)[0]
    tried = await channels_of(session, [root, *(fallback_key(root, c) for c in DEFAULT_ORDER)])
    tried.add(message.channel)
    category = Category(message.category)
    options = await delivery_channels(session, [taxpayer_id], FALLS_BACK[category])
    following = [(c, address) for c, address in options.get(taxpayer_id, []) if c not in tried]
    if not following:
        return 0
    channel, address = following[0]
    key = fallback_key(root, channel)
    covered = await covered_now(session, root) if category == Category.REMINDER else None
    if covered is None:
        return await enqueue(session, [_copy(message, key, channel, address, now, policy)], now)
    if not covered.taxpayer.obligations:
        return 0  # all of it paid since the reminder was queued
    links = {}
    if carries_link(channel, policy):
        request = link_request(covered.taxpayer, key, channel, address)
        links = await hand_out_reminder_links(session, policy.settings, [request], now)
    reminder = compose(
        covered.taxpayer,
        channel,
        address,
        covered.on_date,
        policy,
        now,
        key=key,
        link=links.get(key),
    )
    queued = await enqueue(session, [reminder.message], now)
    await record_coverage(session, [reminder.coverage], now)
    return queued


def _copy(
    message: Stored, key: str, channel: str, address: str, now: datetime, policy: Policy
) -> NewMessage:
    """The notice as it was written, on another channel."""
    content = message.content
    buttons = [(button["title"], button["payload"]) for button in content.get("buttons") or []]
    copy = NewMessage(
        key,
        channel,
        address,
        Category(message.category),
        str(content.get("text") or ""),
        language=message.language,
        buttons=buttons,
        image=content.get("image"),
        taxpayer_id=message.taxpayer_id,
        not_before=hold_until(channel, now, policy.quiet_hours),
    )
    return policy.sms_meter.measured(copy)
