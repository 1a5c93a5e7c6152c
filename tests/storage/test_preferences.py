"""Notice preferences: consent with its source, the resident's order of channels, opt-outs,
withdrawal, unreachable addresses passed over, and every change in the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from kernel.errors import NotFoundError
from storage.models import Contact
from storage.outbox import mark_unreachable
from storage.preferences import (
    delivery_channels,
    move_first,
    opt_in,
    opt_out,
    preference_history,
    record_consent,
    withdraw_consent,
)
from tests.conftest import Store
from tests.resident_helpers import OTHER_PESEL, add_taxpayer

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
PHONE = "+48601234567"
EMAIL = "anna@example.org"
CHAT = "700100200"


async def _bind_chat(store: Store, taxpayer_id: int, chat: str = CHAT) -> None:
    async with store.sessions() as session:
        await session.execute(
            sa.insert(Contact).values(
                taxpayer_id=taxpayer_id, kind="telegram", value=chat, source="chat"
            )
        )
        await session.commit()


async def _resident(store: Store, phone: str | None = PHONE) -> int:
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session, phone=phone)
        await session.commit()
    return taxpayer_id


async def _channels(store: Store, taxpayer_id: int, category: str = "reminders") -> list[str]:
    async with store.sessions() as session:
        found = await delivery_channels(session, [taxpayer_id], category)
    return [f"{channel}:{address}" for channel, address in found.get(taxpayer_id, [])]


async def test_an_address_on_record_carries_nothing_without_consent(store: Store) -> None:
    taxpayer_id = await _resident(store)
    assert await _channels(store, taxpayer_id) == []


async def test_consents_in_the_default_order_then_the_residents_own(store: Store) -> None:
    taxpayer_id = await _resident(store)
    await _bind_chat(store, taxpayer_id)
    async with store.sessions() as session:
        await record_consent(session, taxpayer_id, "email", EMAIL, "import", NOW)
        await record_consent(session, taxpayer_id, "sms", PHONE, "import", NOW)
        await session.commit()
    assert await _channels(store, taxpayer_id) == [f"sms:{PHONE}", f"email:{EMAIL}"]

    # "przypominaj mi na Telegramie": consent bound to that chat, which comes first.
    async with store.sessions() as session:
        await record_consent(
            session, taxpayer_id, "telegram", CHAT, "chat", NOW, categories=("reminders",),
            first=True,
        )  # fmt: skip
        await session.commit()
    assert await _channels(store, taxpayer_id) == [
        f"telegram:{CHAT}", f"sms:{PHONE}", f"email:{EMAIL}",
    ]  # fmt: skip

    # E-mail first for announcements only; reminders keep their order.
    async with store.sessions() as session:
        await move_first(session, taxpayer_id, "announcements", "email", "chat", NOW)
        await session.commit()
    assert await _channels(store, taxpayer_id, "announcements") == [
        f"email:{EMAIL}", f"telegram:{CHAT}", f"sms:{PHONE}",
    ]  # fmt: skip
    assert (await _channels(store, taxpayer_id))[0] == f"telegram:{CHAT}"


async def test_a_chat_not_bound_to_the_taxpayer_cannot_be_consented(store: Store) -> None:
    taxpayer_id = await _resident(store)
    async with store.sessions() as session:
        with pytest.raises(NotFoundError):
            await record_consent(session, taxpayer_id, "telegram", "999", "chat", NOW)
    assert await _channels(store, taxpayer_id) == []


async def test_opt_out_per_category_and_withdrawal(store: Store) -> None:
    taxpayer_id = await _resident(store)
    later = NOW + timedelta(days=1)
    async with store.sessions() as session:
        await record_consent(session, taxpayer_id, "sms", PHONE, "import", NOW)
        await record_consent(session, taxpayer_id, "email", EMAIL, "import", NOW)
        await opt_out(session, taxpayer_id, "sms", "chat", later, ("announcements",))
        await session.commit()
    assert await _channels(store, taxpayer_id) == [f"sms:{PHONE}", f"email:{EMAIL}"]
    assert await _channels(store, taxpayer_id, "announcements") == [f"email:{EMAIL}"]

    async with store.sessions() as session:
        await opt_in(session, taxpayer_id, "sms", "chat", later, ("announcements",))
        assert await withdraw_consent(session, taxpayer_id, "email", "unsubscribe-link", later) == 1
        await session.commit()
    assert await _channels(store, taxpayer_id, "announcements") == [f"sms:{PHONE}"]
    assert await _channels(store, taxpayer_id) == [f"sms:{PHONE}"]

    async with store.sessions() as session:
        history = await preference_history(session, taxpayer_id)
    assert [(c.change, c.channel, c.category, c.source) for c in history] == [
        ("consent", "sms", None, "import"),
        ("opt-in", "sms", "reminders", "import"),
        ("opt-in", "sms", "announcements", "import"),
        ("consent", "email", None, "import"),
        ("opt-in", "email", "reminders", "import"),
        ("opt-in", "email", "announcements", "import"),
        ("opt-out", "sms", "announcements", "chat"),
        ("opt-in", "sms", "announcements", "chat"),
        ("withdrawal", "email", None, "unsubscribe-link"),
    ]
    assert history[-1].at == later
    assert history[-1].address == EMAIL


async def test_unreachable_addresses_are_passed_over(store: Store) -> None:
    taxpayer_id = await _resident(store)
    async with store.sessions() as session:
        other = await add_taxpayer(session, "T-0002", pesel=OTHER_PESEL)
        for who in (taxpayer_id, other):
            await record_consent(session, who, "sms", PHONE, "import", NOW)
        await record_consent(session, taxpayer_id, "email", EMAIL, "import", NOW)
        await mark_unreachable(session, "sms", PHONE, "STOP", NOW)
        await session.commit()
    async with store.sessions() as session:
        found = await delivery_channels(session, [taxpayer_id, other], "reminders")
    assert found == {taxpayer_id: [("email", EMAIL)]}
