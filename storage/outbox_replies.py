"""What chat channels read and write in the outbox beside queueing (`storage.outbox.enqueue`).

clear_unreachable   the recipient wrote to us again: the channel reaches them once more (but
                    for what they withdrew themselves, an SMS STOP: only START lifts that)
button_payload      a pressed button's payload, from the outbox row its message was sent
                    from: a channel whose buttons carry only a short key (Telegram's
                    callback data holds 64 bytes) keeps the payload server-side this way
take_waiting        the messages waiting for a chat that collects its own (the web chat page
                    asks for them): returned in order and marked delivered in one statement,
                    so a message is handed out once, whoever else asks or dispatches
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from storage.outbox import WITHDRAWN_BY_RESIDENT, Status, pending
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


async def take_waiting(
    session: AsyncSession, channel: str, recipient: str, now: datetime
) -> list[tuple[str, dict[str, Any]]]:
    """`(language, content)` of the messages queued for `recipient` on `channel` and not taken
    by a dispatcher, oldest first; they are delivered from now on. The caller commits."""
    rows = await session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.recipient == recipient,
            # In the pending rows' index; but not `sending`: a dispatcher holds that one.
            pending(OutboxMessage.status),
            OutboxMessage.status != Status.SENDING,
        )
        .values(status=Status.DELIVERED, sent_at=now, updated_at=now, error=None)
        .returning(OutboxMessage.id, OutboxMessage.language, OutboxMessage.content)
    )
    return [(language, content) for _, language, content in sorted(rows, key=lambda r: r[0])]
