"""Broadcasts on both engines: who a segment reaches, four eyes, fan-out, cancel, delivery."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from kernel.clock import FrozenClock
from kernel.settings import SmsSettings
from notifier.broadcasts import preview_broadcast, send_broadcast
from notifier.sms_segments import SmsMeter, sms_text
from storage.broadcasts import (
    BadText,
    WrongState,
    approve_broadcast,
    broadcast_counts,
    cancel_broadcast,
    create_broadcast,
    segment_recipients,
    set_segment,
    set_text,
)
from storage.conversation_models import AuditEntry
from storage.outbox import mark_unreachable
from storage.outbox_models import OutboxMessage
from storage.preferences import delivery_channels, move_first
from storage.segments import parse_segment
from storage.staff import NotAllowed, UnknownStaff, disable_staff
from tests.conftest import Store
from tests.notifier.broadcast_city import NOW, add_household, add_team, build_city, clock
from tests.notifier.conftest import TelegramLine, make_dispatcher

TEXT_PL = "Jutro ulica Główna będzie zamknięta od 8:00 do 16:00."
TEXT_EN = "Tomorrow Główna street is closed from 8:00 to 16:00."


@pytest.fixture
async def city(store: Store) -> dict[str, int]:
    async with store.sessions() as session:
        ids = await build_city(session)
        await add_team(session)
        await session.commit()
    return ids


async def _reached(store: Store, spec: str) -> dict[str, str]:
    """Taxpayer ref → the channel the segment reaches them on."""
    async with store.sessions() as session:
        recipients = await segment_recipients(session, parse_segment(spec), NOW.date())
        refs = {
            row.id: row.ref
            for row in await session.execute(sa.text("SELECT id, ref FROM taxpayers"))
        }
    return {refs[r.taxpayer_id]: r.channel for r in recipients}


@pytest.mark.parametrize(
    ("spec", "reached"),
    [
        ("all", {"A": "telegram", "B": "sms", "C": "email", "D": "email"}),
        ("district:bielszowice", {"A": "telegram", "B": "sms"}),
        ("street: GŁÓWNA ", {"A": "telegram", "C": "email"}),
        ("kind:property_tax", {"A": "telegram"}),
        ("kind:dog_fee", {}),
        ("overdue", {"A": "telegram"}),
        ("language:en", {"B": "sms"}),
        ("channel:sms", {"A": "sms", "B": "sms"}),
        ("channel:email", {"B": "email", "C": "email", "D": "email"}),
        ("district:Halemba,channel:telegram", {}),
        ("district:Bielszowice,street:Kokota,kind:waste_fee", {"B": "sms"}),
    ],
)
async def test_segments_reach_the_right_taxpayers_on_their_first_channel(
    store: Store, city: dict[str, int], spec: str, reached: dict[str, str]
) -> None:
    # E gave no consent; D switched announcements off on Telegram, so gets e-mail.
    assert await _reached(store, spec) == reached


async def test_an_unreachable_chat_falls_to_the_next_channel(
    store: Store, city: dict[str, int]
) -> None:
    async with store.sessions() as session:
        await mark_unreachable(session, "telegram", "101", "blocked", NOW)
        await session.commit()
    assert (await _reached(store, "district:Bielszowice"))["A"] == "sms"


async def test_the_residents_own_order_decides_the_channel(
    store: Store, city: dict[str, int]
) -> None:
    async with store.sessions() as session:
        await move_first(session, city["B"], "announcements", "email", "chat", NOW)
        await session.commit()
    assert await _reached(store, "district:Bielszowice") == {"A": "telegram", "B": "email"}
    # Reminders keep their own order.
    async with store.sessions() as session:
        assert (await delivery_channels(session, [city["B"]], "reminders"))[city["B"]][0][
            0
        ] == "sms"


async def _draft(store: Store, spec: str = "all", author: str | None = "kasia") -> int:
    async with store.sessions() as session:
        made = await create_broadcast(session, spec, "pl", TEXT_PL, staff=author, now=NOW)
        await session.commit()
    return made.id


async def _approve(store: Store, broadcast_id: int, approver: str = "anna") -> None:
    async with store.sessions() as session:
        await approve_broadcast(session, broadcast_id, staff=approver, now=NOW)
        await session.commit()


async def test_only_another_approver_may_approve(store: Store, city: dict[str, int]) -> None:
    own = await _draft(store, author="anna")
    async with store.sessions() as session:
        with pytest.raises(NotAllowed, match="anna wrote broadcast .*: another approver"):
            await approve_broadcast(session, own, staff="anna", now=NOW)
        with pytest.raises(NotAllowed, match="'kasia' is a clerk; this needs admin or approver"):
            await approve_broadcast(session, own, staff="kasia", now=NOW)
        with pytest.raises(UnknownStaff):
            await approve_broadcast(session, own, staff="nobody", now=NOW)
        await disable_staff(session, "piotr", actor="test", now=NOW)
        await session.commit()
        with pytest.raises(NotAllowed, match="'piotr' is disabled"):
            await approve_broadcast(session, own, staff="piotr", now=NOW)
        approved = await approve_broadcast(session, own, staff="ewa", now=NOW)
        await session.commit()
    assert (approved.status, approved.approved_by) == ("approved", "ewa")


async def test_a_disabled_member_can_neither_draft_nor_send_nor_cancel(
    store: Store, city: dict[str, int]
) -> None:
    broadcast_id = await _draft(store)
    await _approve(store, broadcast_id)
    async with store.sessions() as session:
        await disable_staff(session, "kasia", actor="test", now=NOW)
        await session.commit()
        with pytest.raises(NotAllowed):
            await create_broadcast(session, "all", "pl", TEXT_PL, staff="kasia", now=NOW)
        with pytest.raises(NotAllowed):
            await cancel_broadcast(session, broadcast_id, staff="kasia", now=NOW)
    with pytest.raises(NotAllowed):
        await send_broadcast(
            store.sessions, broadcast_id, staff="kasia", clock=clock(), quiet_hours=None
        )
    async with store.sessions() as session:
        assert await broadcast_counts(session, broadcast_id) == []


async def test_texts_are_edited_only_in_a_draft_and_polish_is_needed(
    store: Store, city: dict[str, int]
) -> None:
    async with store.sessions() as session:
        made = await create_broadcast(session, "all", "en", TEXT_EN, staff="kasia", now=NOW)
        with pytest.raises(BadText, match="has no pl text, which every other language falls"):
            await approve_broadcast(session, made.id, staff="anna", now=NOW)
        with pytest.raises(BadText, match="the uk text is empty"):
            await set_text(session, made.id, "uk", "  \n", staff="kasia", now=NOW)
        with pytest.raises(BadText, match="at most 4096"):
            await set_text(session, made.id, "pl", "x" * 4097, staff="kasia", now=NOW)
        await set_text(session, made.id, "pl", TEXT_PL, staff="kasia", now=NOW)
        await approve_broadcast(session, made.id, staff="anna", now=NOW)
        await session.commit()
        with pytest.raises(WrongState, match=f"broadcast {made.id} is approved: it cannot be ed"):
            await set_text(session, made.id, "pl", "inny", staff="kasia", now=NOW)
        with pytest.raises(WrongState):
            await set_segment(session, made.id, "overdue", staff="kasia", now=NOW)


async def test_preview_counts_what_is_queued_and_samples_in_each_language(
    store: Store, city: dict[str, int]
) -> None:
    broadcast_id = await _draft(store)
    async with store.sessions() as session:
        await set_text(session, broadcast_id, "en", TEXT_EN, staff="kasia", now=NOW)
        await session.commit()
    preview = await preview_broadcast(store.sessions, broadcast_id, clock())
    assert preview.per_channel == {"email": 2, "sms": 1, "telegram": 1}
    assert [(s.channel, s.language, s.fell_back, s.text) for s in preview.samples] == [
        ("telegram", "pl", False, TEXT_PL),
        ("sms", "en", False, TEXT_EN),
        ("email", "pl", True, TEXT_PL),  # C reads Ukrainian: no uk text, the Polish one
    ]
    await _approve(store, broadcast_id)
    result = await send_broadcast(
        store.sessions, broadcast_id, staff=None, clock=clock(), quiet_hours=None
    )
    assert (result.recipients, result.newly_queued, result.stopped) == (4, 4, False)
    assert result.broadcast.status == "sent"
    async with store.sessions() as session:
        counts = await broadcast_counts(session, broadcast_id)
        rows = (await session.execute(sa.select(OutboxMessage))).scalars().all()
    assert {channel: count for channel, _, count in counts} == preview.per_channel
    assert {row.category for row in rows} == {"announcement"}
    assert {row.recipient: row.content["text"] for row in rows} == {
        "101": TEXT_PL,
        "+48500000002": TEXT_EN,
        "c@example.org": TEXT_PL,
        "d@example.org": TEXT_PL,
    }


async def test_send_twice_queues_once_and_a_sent_one_cannot_change(
    store: Store, city: dict[str, int]
) -> None:
    broadcast_id = await _draft(store)
    await _approve(store, broadcast_id)
    first = await send_broadcast(
        store.sessions, broadcast_id, staff=None, clock=clock(), quiet_hours=None, batch_size=1
    )
    assert first.newly_queued == 4
    async with store.sessions() as session:
        with pytest.raises(WrongState, match="is sent: it cannot be sent"):
            await send_broadcast(
                store.sessions, broadcast_id, staff=None, clock=clock(), quiet_hours=None
            )
        with pytest.raises(WrongState, match="is sent: it cannot be edited"):
            await set_text(session, broadcast_id, "en", TEXT_EN, staff="kasia", now=NOW)
        count = await session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
    assert count == 4


class Crash(Exception):
    """Stands for the process dying between two batches."""


async def test_a_fan_out_cut_short_is_resumed_without_duplicates(
    store: Store, city: dict[str, int]
) -> None:
    broadcast_id = await _draft(store)
    await _approve(store, broadcast_id)
    seen: list[int] = []

    async def crash_after_two(done: int, total: int) -> None:
        seen.append(done)
        if done == 2:
            raise Crash

    with pytest.raises(Crash):
        await send_broadcast(
            store.sessions,
            broadcast_id,
            staff=None,
            clock=clock(),
            quiet_hours=None,
            progress=crash_after_two,
            batch_size=1,
        )
    resumed = await send_broadcast(
        store.sessions, broadcast_id, staff=None, clock=clock(), quiet_hours=None, batch_size=3
    )
    assert seen == [1, 2]
    assert (resumed.recipients, resumed.newly_queued) == (4, 2)
    async with store.sessions() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
    assert count == 4


async def test_cancel_withdraws_what_is_queued_and_stops_a_running_fan_out(
    store: Store, city: dict[str, int]
) -> None:
    broadcast_id = await _draft(store)
    await _approve(store, broadcast_id)
    withdrawn: list[int] = []

    async def cancel_after_the_first_batch(done: int, total: int) -> None:
        async with store.sessions() as session:
            withdrawn.append(await cancel_broadcast(session, broadcast_id, staff="piotr", now=NOW))
            await session.commit()

    result = await send_broadcast(
        store.sessions,
        broadcast_id,
        staff=None,
        clock=clock(),
        quiet_hours=None,
        progress=cancel_after_the_first_batch,
        batch_size=2,
    )
    assert (result.stopped, result.newly_queued, result.broadcast.status) == (
        True,
        2,
        "cancelled",
    )
    assert result.broadcast.cancelled_by == "piotr"
    assert withdrawn == [2]
    async with store.sessions() as session:
        assert await broadcast_counts(session, broadcast_id) == [
            ("sms", "withdrawn", 1),
            ("telegram", "withdrawn", 1),
        ]
        with pytest.raises(WrongState, match="is cancelled: it cannot be sent"):
            await send_broadcast(
                store.sessions, broadcast_id, staff=None, clock=clock(), quiet_hours=None
            )
        with pytest.raises(WrongState, match="is cancelled: it cannot be cancelled"):
            await cancel_broadcast(session, broadcast_id, staff=None, now=NOW)
        actions = (
            await session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id))
        ).all()
    assert [a for a in actions if a.startswith("broadcast.")] == [
        "broadcast.create",
        "broadcast.approve",
        "broadcast.send",
        "broadcast.cancel",
    ]


async def test_cancel_leaves_what_was_sent_and_withdraws_the_rest(
    store: Store, city: dict[str, int], telegram: TelegramLine
) -> None:
    broadcast_id = await _draft(store)
    await _approve(store, broadcast_id)
    await send_broadcast(store.sessions, broadcast_id, staff=None, clock=clock(), quiet_hours=None)
    # Only Telegram has a sender here: its message goes, SMS and e-mail stay queued.
    await make_dispatcher(store, telegram).run_until_idle()
    async with store.sessions() as session:
        assert await cancel_broadcast(session, broadcast_id, staff="ewa", now=NOW) == 3
        await session.commit()
        counts = await broadcast_counts(session, broadcast_id)
    assert counts == [("email", "withdrawn", 2), ("sms", "withdrawn", 1), ("telegram", "sent", 1)]
    assert telegram.peer.texts_to(101) == [TEXT_PL]


async def test_preview_counts_equal_the_delivered_counts(
    store: Store, city: dict[str, int], telegram: TelegramLine
) -> None:
    async with store.sessions() as session:
        for chat in range(200, 260):
            await add_household(
                session, f"T-{chat}", "Wirek", "Tuwima", "pl", [("telegram", str(chat), True)]
            )
        await session.commit()
    broadcast_id = await _draft(store, "channel:telegram")
    await _approve(store, broadcast_id)
    preview = await preview_broadcast(store.sessions, broadcast_id, clock())
    await send_broadcast(
        store.sessions, broadcast_id, staff=None, clock=clock(), quiet_hours=None, batch_size=7
    )
    await make_dispatcher(store, telegram).run_until_idle(wait_for_retries=True)
    async with store.sessions() as session:
        counts = await broadcast_counts(session, broadcast_id)
    assert preview.per_channel == {"telegram": 61}
    assert counts == [("telegram", "sent", 61)]
    assert len({m.chat_id for m in telegram.peer.sent}) == 61
    assert len(telegram.peer.sent) == 61


async def test_quiet_hours_hold_sms_and_telegram_but_not_e_mail(
    store: Store, city: dict[str, int]
) -> None:
    broadcast_id = await _draft(store)
    await _approve(store, broadcast_id)
    evening = FrozenClock(datetime(2026, 11, 23, 20, 30, tzinfo=UTC))  # 21:30 in Warsaw
    await send_broadcast(
        store.sessions, broadcast_id, staff=None, clock=evening, quiet_hours="20:00-08:00"
    )
    async with store.sessions() as session:
        rows = (
            await session.execute(sa.select(OutboxMessage.channel, OutboxMessage.not_before))
        ).all()
    morning = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # 08:00 in Warsaw
    assert sorted(rows) == [
        ("email", evening.now()),
        ("email", evening.now()),
        ("sms", morning),
        ("telegram", morning),
    ]


async def test_sms_rows_of_a_broadcast_keep_their_segments_and_encoding(
    store: Store, city: dict[str, int]
) -> None:
    broadcast_id = await _draft(store)
    await _approve(store, broadcast_id)
    meter = SmsMeter(SmsSettings(), "https://gmina.example")
    await send_broadcast(
        store.sessions, broadcast_id, staff=None, clock=clock(), quiet_hours=None, sms_meter=meter
    )
    async with store.sessions() as session:
        rows = (
            await session.execute(
                sa.select(
                    OutboxMessage.channel,
                    OutboxMessage.content,
                    OutboxMessage.language,
                    OutboxMessage.sms_segments,
                    OutboxMessage.sms_encoding,
                )
            )
        ).all()
    sms = [row for row in rows if row.channel == "sms"]
    assert sms  # household B: a phone with consent
    for row in sms:
        sent = sms_text(
            row.content["text"], [], row.language, SmsSettings(), "https://gmina.example"
        )
        assert (row.sms_segments, row.sms_encoding) == (sent.segments, str(sent.encoding))
    assert {(row.sms_segments, row.sms_encoding) for row in rows if row.channel != "sms"} == {
        (None, None)
    }
