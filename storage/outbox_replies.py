"""What chat channels read and write in the outbox beside queueing (`storage.outbox.enqueue`).

clear_unreachable   the recipient wrote to us again: the channel reaches them once more (but
                    for what they withdrew themselves, an SMS STOP: only START lifts that)
button_payload      a pressed button's payload, from the outbox row its message was sent
                    from: a channel whose buttons carry only a short key (Telegram's
                    callback data holds 64 bytes) keeps the payload server-side this way
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.outbox import WITHDRAWN_BY_RESIDENT
from storage.outbox_models import OutboxMessage, UnreachableRecipient


async def clear_unreachable(session: AsyncSession, channel: str, recipient: str) -> None:
    await session.execute(
        sa.delete(UnreachableRecipient).where(
            UnreachableRecipient.channel == channel,
            UnreachableRecipient.recipient == recipient,
            UnreachableRecipient.reason != WITHDRAWN_BY_RESIDENT,
        )
    )


async def button_payload(
    session: AsyncSession, channel: str, recipient: str, message_id: int, index: int
) -> str | None:
    """The payload of button `index` of outbox message `message_id`, only when that message went
    to `recipient` on `channel` (a forged key names nobody else's buttons); None otherwise."""
    content = await session.scalar(
        sa.select(OutboxMessage.content).where(
            OutboxMessage.id == message_id,
            OutboxMessage.channel == channel,
            OutboxMessage.recipient == recipient,
        )
    )
    if not isinstance(content, dict):
        return None
    buttons = content.get("buttons")
    if not isinstance(buttons, list) or not 0 <= index < len(buttons):
        return None
    payload = buttons[index].get("payload") if isinstance(buttons[index], dict) else None
    return payload if isinstance(payload, str) else None
