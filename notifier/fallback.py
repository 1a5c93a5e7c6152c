"""The next channel: a notice that cannot reach the resident where it went goes where they agreed
to be reached next.

When a reminder, an announcement or a receipt fails for good (a permanent failure, or the
provider said the recipient is unreachable: a blocked bot, a bounced address, an SMS STOP), the
same text is queued once on the taxpayer's next channel: the first of `delivery_channels` (the
resident's order, consented, not opted out, not unreachable) not tried yet for that notice.
Its key is the original's with `|fallback:<channel>`, so it is queued once however often the
outcome is recorded, and a fallback that fails too moves on to the channel after it. Receipts
follow the order of reminders (both are about the resident's payments). A copy on SMS or
Telegram inside the quiet hours (`reminders.quiet_hours`) waits for their end. Chat replies,
verification codes and a clerk's replies never fall back: they answer where they were asked.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from notifier.quiet_hours import hold_until
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

# The outbox categories that fall back, and the preference category whose order they follow.
FALLS_BACK = {
    Category.REMINDER: "reminders",
    Category.ANNOUNCEMENT: "announcements",
    Category.RECEIPT: "reminders",
}
MARK = "|fallback:"


def fallback_key(key: str, channel: str) -> str:
    """The key of a notice's copy on `channel`: one per channel for the original notice."""
    return f"{key.split(MARK, 1)[0]}{MARK}{channel}"


async def queue_fallbacks(
    session: AsyncSession,
    outcomes: Sequence[Outcome],
    now: datetime,
    quiet_hours: str | None = None,
) -> int:
    """Queue the next channel's copy of every notice among `outcomes` that failed for good;
    returns how many were queued. A copy on SMS or Telegram waits for the end of `quiet_hours`.
    Runs in the transaction that records the outcomes, after them (so an address just marked
    unreachable is passed over); the caller commits."""
    failed = [outcome.id for outcome in outcomes if outcome.status == Status.PERMANENT_FAILURE]
    if not failed:
        return 0
    copies: list[NewMessage] = []
    for message in (await stored_messages(session, failed)).values():
        if message.taxpayer_id is None or Category(message.category) not in FALLS_BACK:
            continue
        copy = await _next_copy(session, message, message.taxpayer_id, now, quiet_hours)
        if copy is not None:
            copies.append(copy)
    return await enqueue(session, copies, now)


async def _next_copy(
    session: AsyncSession,
    message: Stored,
    taxpayer_id: int,
    now: datetime,
    quiet_hours: str | None,
) -> NewMessage | None:
    root = message.key.split(MARK, 1)[0]
    tried = await channels_of(session, [root, *(fallback_key(root, c) for c in DEFAULT_ORDER)])
    tried.add(message.channel)
    category = Category(message.category)
    options = await delivery_channels(session, [taxpayer_id], FALLS_BACK[category])
    content = message.content
    buttons = [(button["title"], button["payload"]) for button in content.get("buttons") or []]
    for channel, address in options.get(taxpayer_id, []):
        if channel not in tried:
            return NewMessage(
                fallback_key(root, channel),
                channel,
                address,
                category,
                str(content.get("text") or ""),
                language=message.language,
                buttons=buttons,
                image=content.get("image"),
                taxpayer_id=taxpayer_id,
                not_before=hold_until(channel, now, quiet_hours),
            )
    return None
