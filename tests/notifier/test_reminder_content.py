"""What a reminder carries, on both engines: SMS as `reminders.sms_content` allows (`full`: the
amount and a payment link, one per reminder however often the day is planned; `no_amount` and
`minimal`: no link), its segments stored like a chat reply's; a Telegram reminder sent through
the peer with the "Zapłać" button whose press the chat answers."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from kernel.clock import FrozenClock
from kernel.settings import OutboxSettings, Settings
from notifier.dispatcher import Dispatcher
from notifier.senders.telegram import parse_callback_key
from notifier.sms_segments import sms_text
from storage.models import Taxpayer
from storage.outbox_replies import button_payload
from tests.conftest import Store
from tests.conversation_helpers import NOW, TODAY, add_obligation
from tests.notifier.conftest import FAST, TelegramLine
from tests.notifier.reminder_content_helpers import (
    CHAT,
    PHONE,
    REFS,
    link_tokens,
    opened_refs,
    outbox_rows,
    reminded_resident,
    reminder_links,
)
from tests.notifier.reminder_helpers import plan, policy
from tests.payments.conftest import running


async def test_a_full_sms_has_the_amount_and_one_payment_link_for_exactly_its_obligations(
    store: Store,
) -> None:
    taxpayer_id = await reminded_resident(store, ["sms"])
    rules = policy(sms_content="full")
    first = await plan(store, TODAY, NOW, rules)
    again = await plan(store, TODAY, NOW, rules)
    assert (first.queued, again.queued) == (1, 0)
    key = f"reminder:{taxpayer_id}:2027-05-10:sms"
    row = (await outbox_rows(store))[key]
    text = row.content["text"]
    words, link_line = text.split("\n")
    assert words == (
        "Urząd Miasta Ruda Śląska: do zapłaty 1\u00a0650,00\u00a0zł (podatek od nieruchomości "
        "i opłata za gospodarowanie odpadami), termin 17 maja 2027. Odpisz ZAPŁAĆ."
    )
    [token] = link_tokens(text)
    assert link_line == f"Zapłać: http://127.0.0.1:8080/pay/{token}"
    assert await opened_refs(store, token) == REFS
    # Planned twice (or by two processes): one link, the first one, in the one message.
    assert await reminder_links(store) == {key: 1}
    assert link_tokens((await outbox_rows(store))[key].content["text"]) == [token]
    # Its cost stored like a chat reply's, as the sender will word it.
    measured = sms_text(text, [], "pl", Settings().sms, Settings().web.public_base_url)
    assert (row.sms_segments, row.sms_encoding) == (measured.segments, str(measured.encoding))
    assert row.sms_segments >= 1


async def test_no_amount_and_minimal_sms_carry_no_link_and_no_amount(store: Store) -> None:
    await reminded_resident(store, ["sms"])
    texts = {}
    for content in ("no_amount", "minimal"):
        (reminder,) = (await plan(store, TODAY, NOW, policy(sms_content=content))).reminders
        texts[content] = reminder.message.text
        assert reminder.message.sms_segments == 1
        assert reminder.message.sms_encoding == "gsm7"  # folded: no Polish letters left
    assert "http" not in texts["no_amount"] + texts["minimal"]
    assert "zł" not in texts["no_amount"] + texts["minimal"]
    assert "17 maja 2027" in texts["no_amount"]
    assert texts["minimal"] == (
        "Urząd Miasta Ruda Śląska: przypomnienie o płatności. Odpisz ZAPŁAĆ, a podamy szczegóły."
    )
    assert await reminder_links(store) == {}


async def test_a_telegram_reminder_reaches_the_chat_with_the_pay_button(
    store: Store, telegram: TelegramLine
) -> None:
    taxpayer_id = await reminded_resident(store, ["telegram"])
    await plan(store, TODAY, NOW)
    await Dispatcher(
        store.sessions, {"telegram": telegram.sender}, FrozenClock(NOW), OutboxSettings(**FAST)
    ).run_until_idle()
    [sent] = telegram.peer.messages_to(CHAT)
    assert "tytuł: T-1001 PT-2027-2 WF-2027-2" in sent.text
    [button] = sent.buttons
    assert button["text"] == "Zapłać"
    # The press comes back as the callback data, which names the reminder's own button.
    key = parse_callback_key(button["callback_data"])
    assert key is not None
    async with store.sessions() as session:
        assert await button_payload(session, "telegram", str(CHAT), *key) == "/pay"
    row = (await outbox_rows(store))[f"reminder:{taxpayer_id}:2027-05-10:telegram"]
    assert row.sms_segments is None  # not an SMS
    assert await reminder_links(store) == {}  # the button asks for the link when pressed


async def test_paying_through_a_full_sms_link_sends_the_receipt_by_sms_with_its_segments(
    store: Store,
) -> None:
    taxpayer_id = await reminded_resident(store, ["sms"])
    await plan(store, TODAY, NOW, policy(sms_content="full"))
    text = (await outbox_rows(store))[f"reminder:{taxpayer_id}:2027-05-10:sms"].content["text"]
    [token] = link_tokens(text)
    async with running(store) as server:
        async with server.http.post(
            f"{server.url}/pay/{token}/online", allow_redirects=False
        ) as response:
            assert response.status == 303, await response.text()
            gateway_page = response.headers["Location"]
        async with server.http.post(
            gateway_page, data={"decision": "approve"}, allow_redirects=False
        ) as response:
            assert response.status == 303
    [receipt] = [row for row in (await outbox_rows(store)).values() if row.category == "receipt"]
    assert (receipt.channel, receipt.recipient) == ("sms", PHONE)
    settings = Settings()
    sent = sms_text(receipt.content["text"], [], "pl", settings.sms, settings.web.public_base_url)
    assert (receipt.sms_segments, receipt.sms_encoding) == (sent.segments, str(sent.encoding))


async def test_a_long_full_sms_is_cut_before_its_link_never_the_link(store: Store) -> None:
    """Ukrainian is UCS-2 (67 characters a segment): six kinds due on one day do not fit three
    segments with the link, so the list is cut and the link kept, as the sender sends it."""
    taxpayer_id = await reminded_resident(store, ["sms"])
    async with store.sessions() as session:
        await session.execute(
            sa.update(Taxpayer).where(Taxpayer.id == taxpayer_id).values(language="uk")
        )
        for kind in ("agricultural_tax", "forest_tax", "vehicle_tax", "perpetual_usufruct"):
            await add_obligation(session, taxpayer_id, f"X-{kind}", kind, date(2027, 5, 17), "9")
        await session.commit()
    (reminder,) = (await plan(store, TODAY, NOW, policy(sms_content="full"))).reminders
    text = reminder.message.text
    [token] = link_tokens(text)
    settings = Settings()
    sent = sms_text(text, [], "uk", settings.sms, settings.web.public_base_url)
    assert "...\n" in text  # cut, with the pointer to the web chat
    assert sent.text == text  # the sender cuts nothing more
    assert sent.text.endswith(f"/pay/{token}")
    assert (sent.encoding, sent.segments) == ("ucs2", settings.sms.max_segments)
    assert reminder.message.sms_segments == settings.sms.max_segments
    assert await opened_refs(store, token) == (
        *REFS,
        *sorted(
            f"X-{k}"
            for k in ("agricultural_tax", "forest_tax", "vehicle_tax", "perpetual_usufruct")
        ),
    )
