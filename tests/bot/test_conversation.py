"""Transcripts through the REST channel of a running app, in Polish, English and Ukrainian.

Each test is a conversation a resident could have; the clock stands on Monday 10 May 2027.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from kernel.i18n import format_money, render
from kernel.settings import CitySettings
from storage.bindings import create_link_token, issue_activation_code
from storage.casework import list_cases
from storage.conversation_models import Conversation
from storage.models import Contact
from tests.conftest import Store
from tests.conversation_helpers import (
    NOW,
    TAXPAYER_REF,
    Chat,
    ClientMaker,
    add_resident,
    gmina_balance_json,
    link_token,
    new_app,
)
from tests.resident_helpers import OTHER_PESEL, PESEL

OFFICE = "Urząd Miasta Ruda Śląska"
CITY = CitySettings()


def said(key: str, language: str, **values: Any) -> str:
    """A long standard answer, as the catalogue words it."""
    return render(key, language, values)


async def add_phone(store: Store, taxpayer_id: int) -> None:
    """The phone on record that the SMS reminders a resident asks for go to."""
    async with store.sessions() as session:
        await session.execute(
            sa.insert(Contact).values(
                taxpayer_id=taxpayer_id, kind="phone", value="+48601234567", source="import"
            )
        )
        await session.commit()


def office_contact(language: str) -> str:
    return said(
        "utter_office_contact",
        language,
        office=OFFICE,
        address=CITY.recipient_address,
        office_hours=CITY.office_hours,
        office_phone=CITY.office_phone,
    )


# A payment link: the public base URL, /pay/ and 256 random bits, nothing else.
PAY_URL = re.compile(r"http://127\.0\.0\.1:8080/pay/[A-Za-z0-9_-]{43}")


def pay_link_said(text: str, language: str) -> str:
    """The pay action's link message as it must read, with the link `text` carries."""
    found = PAY_URL.search(text)
    assert found is not None, text
    # 14 days (payments.link_ttl_days) from 10 May 2027.
    return said("utter_pay_link", language, url=found.group(0), until_date="2027-05-24")


def money(value: str | Decimal, language: str = "pl") -> str:
    return format_money(value, language)


def kind_sums(figures: dict[str, Any]) -> dict[str, dict[str, Decimal]]:
    """Per kind, the sums of `gmina balance --json`'s figures."""
    sums: dict[str, dict[str, Decimal]] = {}
    for row in figures["obligations"]:
        kind = sums.setdefault(row["kind"], {"total": Decimal(0), "interest": Decimal(0)})
        kind["total"] += Decimal(row["total"])
        kind["interest"] += Decimal(row["interest"])
    return sums


def row(figures: dict[str, Any], ref: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in figures["obligations"] if r["obligation_ref"] == ref)
    return found


# --- Polish ---------------------------------------------------------------------------------------


async def test_an_unverified_resident_hears_no_amount_and_how_to_verify(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    await add_resident(store)
    chat = Chat(await aiohttp_client(new_app(store)))
    await chat.verify_dialog(
        [
            ("/start", [said("utter_greet", "pl", office=OFFICE)]),
            ("ile mam do zapłaty?", [said("utter_verify_offer", "pl")]),
            ("zapłać", [said("utter_pay_general", "pl")]),
            ("moje sprawy", [said("utter_verify_offer", "pl")]),
            (
                "kiedy płacę za psa",
                [
                    "Terminy płatności podatków i opłat lokalnych:\n"
                    "• opłata od posiadania psów: 31 marca 2028\n"
                    "Gdy termin wypada w sobotę, niedzielę lub święto, płacisz do najbliższego "
                    "dnia roboczego (daty powyżej już to uwzględniają). Twoje raty są w decyzji "
                    "podatkowej; po weryfikacji pokażę je tutaj."
                ],
            ),
            # Neither a button's payload nor an entity can say who the sender is.
            ('/check_balance{"taxpayer_id": 1}', [said("utter_verify_offer", "pl")]),
        ]
    )
    (offer,) = await chat.say("ile mam do zapłaty")
    assert offer["text"].startswith("Najpierw muszę potwierdzić, kim jesteś")
    assert offer["buttons"] == [{"title": "Zweryfikuj się teraz", "payload": "/link_account"}]
    assert not re.search(r"\d,\d\d", offer["text"])


async def test_after_start_token_the_balance_is_what_gmina_balance_says(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    await add_resident(store)
    figures = await gmina_balance_json(store)
    sums = kind_sums(figures)
    assert sums["property_tax"]["interest"] > 0
    chat = Chat(await aiohttp_client(new_app(store)))
    token = await link_token(store)
    await chat.verify_dialog(
        [
            (
                f"/start {token}",
                [
                    "Dziękuję, Anna Nowak. Ten czat jest teraz połączony z Twoim kontem "
                    "podatnika: zapytaj, ile masz do zapłaty, do kiedy i jak zapłacić."
                ],
            ),
            (
                "ile mam do zapłaty?",
                [
                    "Twoje należności na 10 maja 2027:\n"
                    f"• podatek od nieruchomości: {money(sums['property_tax']['total'])} "
                    "(4 raty, terminy od 15 marca 2027)\n"
                    f"  w tym odsetki za zwłokę: {money(sums['property_tax']['interest'])}\n"
                    f"• opłata od posiadania psów: {money(sums['dog_fee']['total'])} "
                    "(1 rata, termin 31 marca 2027)\n"
                    f"• opłata za gospodarowanie odpadami: {money(sums['waste_fee']['total'])} "
                    "(1 rata, termin 17 maja 2027)\n"
                    f"Razem do zapłaty: {money(figures['total'])}.",
                    f"Z tego {money(figures['overdue'])} jest po terminie; odsetki za zwłokę "
                    "rosną każdego dnia aż do zapłaty.",
                ],
            ),
        ]
    )
    buttons = (await chat.say("ile mam do zapłaty"))[0]["buttons"]
    assert buttons == [
        {"title": "Jak zapłacić", "payload": "/pay"},
        {"title": "Terminy płatności", "payload": "/list_deadlines"},
    ]


async def test_a_used_or_expired_token_is_refused(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    await add_resident(store)
    client = await aiohttp_client(new_app(store))
    token = await link_token(store)
    async with store.sessions() as session:
        expired = await create_link_token(
            session, TAXPAYER_REF, NOW - timedelta(minutes=31), timedelta(minutes=30)
        )
        await session.commit()
    refused = (
        "Ten link jest już nieważny: został wykorzystany albo wygasł. Pobierz nowy w e-usługach "
        "miasta."
    )
    first = Chat(client)
    assert (await first.texts(f"/start {token}"))[0].startswith("Dziękuję, Anna Nowak.")
    await Chat(client).verify_dialog(
        [
            (f"/start {token}", [refused]),
            (f"/start {expired.token}", [refused]),
            ("/start not-a-token", [refused]),
            ("ile mam do zapłaty?", [said("utter_verify_offer", "pl")]),
        ]
    )


async def test_a_chat_whose_address_anyone_could_guess_cannot_be_verified(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    await add_resident(store)
    client = await aiohttp_client(new_app(store))
    token = await link_token(store)
    not_private = said("utter_chat_not_private", "pl")
    await Chat(client, sender="42").verify_dialog(
        [(f"/start {token}", [not_private]), ("weryfikacja", [not_private])]
    )
    # The token was not spent on it.
    assert (await Chat(client).texts(f"/start {token}"))[0].startswith("Dziękuję, Anna Nowak.")


async def test_forms_completed_confirmed_or_cancelled_and_their_status_asked_later(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    taxpayer_id = await add_resident(store)
    chat = Chat(await aiohttp_client(new_app(store)))
    await chat.say(f"/start {await link_token(store)}")
    await chat.verify_dialog(
        [
            ("chcę zmienić deklarację śmieciową", ["Ile osób mieszka teraz w nieruchomości?"]),
            ("cztery", ["Od kiedy? (np. 1.03.2027)"]),
            ("1.12.2027", [said("utter_change_date_invalid", "pl"), "Od kiedy? (np. 1.03.2027)"]),
            (
                "od 1 maja",
                [
                    "Sprawdź, proszę: zmiana deklaracji o opłacie za odpady: od 1 maja 2027 w "
                    "nieruchomości mieszkają 4 osoby. Zmienioną deklarację trzeba złożyć do 10 "
                    "czerwca 2027. Czy mam ją wysłać?"
                ],
            ),
            (
                "tak",
                [
                    "Wysłane. Numer Twojej sprawy to RS-2027-000001. Możesz w każdej chwili "
                    "zapytać, co się z nią dzieje."
                ],
            ),
            ("zaświadczenie o niezaleganiu", [said("utter_ask_purpose", "pl")]),
            (
                "do kredytu w banku",
                [
                    "Sprawdź, proszę: wniosek o zaświadczenie o niezaleganiu w podatkach (ZAS-W), "
                    "cel: do kredytu w banku. Opłata skarbowa wynosi 21,00\u00a0zł; urząd wydaje "
                    "zaświadczenie w ciągu 7 dni. Czy mam go wysłać?"
                ],
            ),
            ("nie", ["Anulowane. Nic nie zostało wysłane."]),
            (
                '/start_form{"form_type":"installments"}',
                [said("utter_ask_installments_obligation", "pl")],
            ),
            ("podatek od nieruchomości", ["Na ile rat (od 2 do 24)?"]),
            ("sześć", [said("utter_ask_installments_reason", "pl")]),
            # A request in the middle of a form is answered, and the question comes again.
            (
                "moje sprawy",
                [
                    "Masz 1 sprawę:\n• RS-2027-000001: zmiana deklaracji śmieciowej, złożona 10 "
                    "maja 2027: złożona, czeka na rozpatrzenie",
                    said("utter_ask_installments_reason", "pl"),
                ],
            ),
            (
                "utrata pracy",
                [
                    "Sprawdź, proszę: wniosek o rozłożenie na 6 rat: podatek od nieruchomości; "
                    "powód: utrata pracy. Czy mam go wysłać?"
                ],
            ),
            ("tak", [said("utter_form_submitted", "pl", case_ref="RS-2027-000002")]),
            (
                "moje sprawy",
                [
                    "Masz 2 sprawy:\n"
                    "• RS-2027-000002: raty lub odroczenie terminu, złożona 10 maja 2027: złożona, "
                    "czeka na rozpatrzenie\n"
                    "• RS-2027-000001: zmiana deklaracji śmieciowej, złożona 10 maja 2027: "
                    "złożona, czeka na rozpatrzenie"
                ],
            ),
            (
                "status sprawy RS-2027-000001",
                [
                    "Sprawa RS-2027-000001: zmiana deklaracji śmieciowej, złożona 10 maja 2027. "
                    "Status: złożona, czeka na rozpatrzenie."
                ],
            ),
            (
                "status sprawy RS-2027-000099",
                [said("utter_case_not_found", "pl", case_ref="RS-2027-000099")],
            ),
        ]
    )
    async with store.sessions() as session:
        cases = {case.ref: case for case in await list_cases(session, taxpayer_id)}
    assert cases["RS-2027-000001"].data == {"residents_count": 4, "change_date": "2027-05-01"}
    assert cases["RS-2027-000002"].data == {
        "installments_obligation": "property_tax",
        "installments_count": 6,
        "installments_reason": "utrata pracy",
        "installments_kind": "property_tax",
    }


async def test_deadlines_pay_clarification_reminders_and_a_person(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    await add_phone(store, await add_resident(store))
    figures = await gmina_balance_json(store)
    late_tax, dog = row(figures, "PT-2027-1"), row(figures, "DOG-2027")
    chat = Chat(await aiohttp_client(new_app(store)))
    await chat.say(f"/start {await link_token(store)}")
    await chat.verify_dialog(
        [
            (
                "kiedy płacę?",
                [
                    "Twoje najbliższe płatności:\n"
                    "• 17 maja 2027 (przesunięty z 15 maja 2027): podatek od nieruchomości, "
                    "1\u00a0500,00\u00a0zł\n"
                    "• 17 maja 2027 (przesunięty z 15 maja 2027): opłata za gospodarowanie "
                    "odpadami, 150,00\u00a0zł\n"
                    "• 15 września 2027: podatek od nieruchomości, 1\u00a0500,00\u00a0zł\n"
                    "• 15 listopada 2027: podatek od nieruchomości, 1\u00a0500,00\u00a0zł",
                    "Po terminie: 2 raty, "
                    f"{money(Decimal(late_tax['total']) + Decimal(dog['total']))} "
                    "na 10 maja 2027:\n"
                    "• 15 marca 2027: podatek od nieruchomości, "
                    f"{money(late_tax['principal'])}\n"
                    "• 31 marca 2027: opłata od posiadania psów, 30,00\u00a0zł\n"
                    f"Z tego {money(late_tax['interest'])} to odsetki za zwłokę, które rosną "
                    "każdego dnia aż do zapłaty.",
                ],
            ),
        ]
    )
    details, link, note = await chat.texts("zapłać")
    assert details == (
        "Dane do przelewu:\n"
        "Odbiorca: Urząd Miasta Ruda Śląska\n"
        "Numer konta: 22 1050 1214 1000 0000 1234 5678\n"
        "Tytuł: T-1001 PT-2027-1 DOG-2027\n"
        f"Kwota: {money(Decimal(late_tax['total']) + Decimal(dog['total']))}"
    )
    assert link == pay_link_said(link, "pl")
    assert note == (
        "To zaległość wraz z odsetkami na dzień 10 maja 2027; odsetki rosną każdego dnia aż do "
        "zapłaty."
    )
    (question,) = await chat.say("podatek")
    assert question["text"] == said("utter_clarify", "pl")
    # "tak" takes the likelier of the two offers, whichever the model ranks first.
    (answer, *_) = await chat.texts("tak")
    first_offer = question["buttons"][0]["payload"]
    expected_start = {"/check_balance": "Twoje należności na", "/pay": "Dane do przelewu:"}
    assert answer.startswith(expected_start[first_offer])
    await chat.verify_dialog(
        [
            ("przypomnienia sms", ["Gotowe, włączone: przypomnienia o płatnościach (SMS)."]),
            ("wyłącz przypomnienia", [said("utter_ask_subscription_channel", "pl")]),
            (
                '/unsubscribe{"channel":"sms","category":"reminders"}',
                ["Gotowe, wyłączone: przypomnienia o płatnościach (SMS)."],
            ),
            (
                "chcę rozmawiać z człowiekiem",
                [
                    "Przekazałem rozmowę pracownikom urzędu (zgłoszenie ZG-2027-000001). Ktoś "
                    "odpowie tutaj najszybciej, jak to możliwe.",
                    office_contact("pl"),
                ],
            ),
        ]
    )


async def test_clarification_offers_the_two_likeliest_requests(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    chat = Chat(await aiohttp_client(new_app(store)))
    (question,) = await chat.say("podatek")
    assert question["text"] == "Nie jestem pewien, czy dobrze rozumiem. Czy chodzi o jedno z tych?"
    # Both readings of a bare "podatek" are offered, the likelier first.
    assert sorted(question["buttons"], key=lambda button: button["payload"]) == [
        {"title": "Ile mam do zapłaty", "payload": "/check_balance"},
        {"title": "Jak zapłacić", "payload": "/pay"},
    ]
    await chat.verify_dialog([("nie", [said("utter_out_of_scope", "pl")])])


async def test_verifying_in_the_chat_with_pesel_and_activation_code(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    await add_resident(store)
    async with store.sessions() as session:
        code = await issue_activation_code(session, TAXPAYER_REF, NOW)
        await session.commit()
    ask_pesel = said("utter_ask_identifier", "pl")
    ask_code = said("utter_ask_activation_code", "pl")
    rejected = said("utter_verify_rejected", "pl")
    chat = Chat(await aiohttp_client(new_app(store)))
    await chat.verify_dialog(
        [
            ("weryfikacja", [ask_pesel]),
            ("12345678901", [said("utter_identifier_invalid", "pl"), ask_pesel]),
            # A PESEL nobody in the city has gets the answer a wrong code gets.
            (OTHER_PESEL, [ask_code]),
            (code, [rejected]),
            ("weryfikacja", [ask_pesel]),
            (PESEL, [ask_code]),
            ("ZZZZ-ZZZZ", [rejected]),
            ("weryfikacja", [ask_pesel]),
            ("anuluj", ["Anulowane. Nic nie zostało wysłane."]),
            ("weryfikacja", [ask_pesel]),
            (f"mój PESEL: {PESEL}", [ask_code]),
            (
                code.lower(),
                [
                    "Dziękuję, Anna Nowak. Ten czat jest teraz połączony z Twoim kontem "
                    "podatnika: zapytaj, ile masz do zapłaty, do kiedy i jak zapłacić."
                ],
            ),
            ("weryfikacja", ["Ten czat jest już połączony z kontem podatnika: Anna Nowak."]),
        ]
    )
    (balance, *_) = await chat.texts("ile mam do zapłaty?")
    assert balance.startswith("Twoje należności na 10 maja 2027:")
    async with store.sessions() as session:
        stored = await session.scalar(
            sa.select(Conversation.state).where(Conversation.sender_id == chat.sender)
        )
    kept = json.dumps(stored)
    assert PESEL not in kept
    assert OTHER_PESEL not in kept
    assert code not in kept
    assert code.replace("-", "") not in kept


async def test_too_many_wrong_codes_lock_the_sender_out_for_an_hour(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    await add_resident(store)
    chat = Chat(await aiohttp_client(new_app(store)))
    for _ in range(4):
        await chat.say("weryfikacja")
        await chat.say(PESEL)
        assert await chat.texts("ZZZZ-ZZZZ") == [said("utter_verify_rejected", "pl")]
    locked = [
        said("utter_verify_locked", "pl", time="13:00", sender_limit=5, taxpayer_limit=10),
        office_contact("pl"),
    ]
    # The fifth wrong code locks the chat, and says so with the time it lifts; so does the next.
    for _ in range(2):
        await chat.verify_dialog(
            [
                ("weryfikacja", [said("utter_ask_identifier", "pl")]),
                (PESEL, [said("utter_ask_activation_code", "pl")]),
                ("ZZZZ-ZZZZ", locked),
            ]
        )


async def test_a_conversation_continues_after_the_server_restarts(
    store: Store, aiohttp_client: ClientMaker
) -> None:
    await add_resident(store)
    before = await aiohttp_client(new_app(store))
    chat = Chat(before)
    await chat.say(f"/start {await link_token(store)}")
    await chat.verify_dialog([("zaświadczenie o niezaleganiu", [said("utter_ask_purpose", "pl")])])
    await before.close()

    chat.client = await aiohttp_client(new_app(store))
    (summary,) = await chat.texts("do kredytu hipotecznego")
    assert summary.startswith("Sprawdź, proszę: wniosek o zaświadczenie o niezaleganiu")
    await chat.verify_dialog(
        [("tak", [said("utter_form_submitted", "pl", case_ref="RS-2027-000001")])]
    )


# --- English --------------------------------------------------------------------------------------


async def test_an_english_conversation(store: Store, aiohttp_client: ClientMaker) -> None:
    await add_resident(store, language="en")
    figures = await gmina_balance_json(store)
    sums = kind_sums(figures)
    chat = Chat(await aiohttp_client(new_app(store)))
    token = await link_token(store)
    await chat.verify_dialog(
        [
            (
                "hello",
                [
                    "Hello! This is the local taxes and fees assistant of Urząd Miasta Ruda "
                    "Śląska. I can tell you what you owe and by when, give you the transfer "
                    "details, help you submit a form and follow your cases. What can I do for you?"
                ],
            ),
            (
                "how much do I owe?",
                [
                    "For this I must first confirm who you are, because tax information is "
                    "confidential. You can open the chat link from the city's e-services after "
                    "signing in with login.gov.pl, or verify here with your PESEL (or NIP) and "
                    "the activation code printed on your tax decision."
                ],
            ),
            (
                f"/start {token}",
                [
                    "Thank you, Anna Nowak. This chat is now linked to your tax account: ask me "
                    "what you owe, by when, and how to pay."
                ],
            ),
            (
                "how much do I owe?",
                [
                    "Your balance as of 10 May 2027:\n"
                    f"• property tax: {money(sums['property_tax']['total'], 'en')} "
                    "(4 instalments, due from 15 March 2027)\n"
                    "  including interest on arrears: "
                    f"{money(sums['property_tax']['interest'], 'en')}\n"
                    "• dog fee: PLN\u00a030.00 (1 instalment, due 31 March 2027)\n"
                    "• waste collection fee: PLN\u00a0150.00 (1 instalment, due 17 May 2027)\n"
                    f"Total to pay: {money(figures['total'], 'en')}.",
                    f"Of this, {money(figures['overdue'], 'en')} is past due; interest on arrears "
                    "grows every day until you pay.",
                ],
            ),
            (
                "when do I pay the dog fee?",
                [
                    "You have no instalments coming due.",
                    "Past due: 1 instalment, PLN\u00a030.00 as of 10 May 2027:\n"
                    "• 31 March 2027: dog fee, PLN\u00a030.00",
                ],
            ),
            (
                "I need a certificate of no tax arrears",
                ["What do you need the certificate for, e.g. a bank loan or a public tender?"],
            ),
            (
                "for a mortgage",
                [
                    "Please check: a request for a certificate of no tax arrears (ZAS-W), "
                    "purpose: for a mortgage. The stamp duty is PLN\u00a021.00; the office issues "
                    "the certificate within 7 days. Shall I submit it?"
                ],
            ),
            (
                "yes",
                [
                    "Submitted. Your case number is RS-2027-000001. Ask me about its status any "
                    "time."
                ],
            ),
            (
                "what is the status of RS-2027-000001",
                [
                    "Case RS-2027-000001: certificate of no tax arrears, submitted 10 May 2027. "
                    "Status: submitted, waiting to be reviewed."
                ],
            ),
            (
                "I want to talk to a person",
                [
                    "I have passed our conversation to the tax office staff (ticket "
                    "ZG-2027-000001). Someone will answer you here as soon as possible.",
                    office_contact("en"),
                ],
            ),
            # The ticket is open: the staff answer now, and the assistant says so once.
            (
                "bye",
                [
                    "I have passed your message to the tax office staff (ticket "
                    "ZG-2027-000001). They will answer you here; until then I will not answer "
                    "myself."
                ],
            ),
            ("anyone there?", []),
        ]
    )


# --- Ukrainian ------------------------------------------------------------------------------------


async def test_a_ukrainian_conversation(store: Store, aiohttp_client: ClientMaker) -> None:
    await add_resident(store, language="uk")
    figures = await gmina_balance_json(store)
    sums = kind_sums(figures)
    chat = Chat(await aiohttp_client(new_app(store)))
    token = await link_token(store)
    await chat.verify_dialog(
        [
            ("привіт", [said("utter_greet", "uk", office=OFFICE)]),
            (
                "скільки я винен місту",
                [
                    "Спершу я маю підтвердити вашу особу, бо податкові дані становлять податкову "
                    "таємницю. Ви можете відкрити посилання на чат в е-послугах міста після входу "
                    "через login.gov.pl або пройти верифікацію тут: номером PESEL (або NIP) і "
                    "кодом активації з податкового рішення."
                ],
            ),
            (
                f"/start {token}",
                [
                    "Дякую, Anna Nowak. Цей чат тепер пов’язаний із вашим обліковим записом "
                    "платника: запитайте, скільки, до коли і як сплатити."
                ],
            ),
            (
                "скільки я винен?",
                [
                    "Ваші платежі станом на 10 травня 2027\u202fр.:\n"
                    f"• податок на нерухомість: {money(sums['property_tax']['total'], 'uk')} "
                    "(4 внески, терміни з 15 березня 2027\u202fр.)\n"
                    "  у тому числі пеня за прострочення: "
                    f"{money(sums['property_tax']['interest'], 'uk')}\n"
                    "• збір за утримання собак: 30,00\u00a0PLN (1 внесок, термін 31 березня "
                    "2027\u202fр.)\n"
                    "• плата за вивіз сміття: 150,00\u00a0PLN (1 внесок, термін 17 травня "
                    "2027\u202fр.)\n"
                    f"Усього до сплати: {money(figures['total'], 'uk')}.",
                    f"З цього {money(figures['overdue'], 'uk')} прострочено; пеня зростає щодня "
                    "аж до сплати.",
                ],
            ),
            (
                "хочу розстрочку податку на нерухомість",
                ["На скільки внесків (від 2 до 24)?"],
            ),
            ("3", [said("utter_ask_installments_reason", "uk")]),
            (
                "втратив роботу",
                [
                    "Перевірте, будь ласка: заява про розстрочку на 3 внески: податок на "
                    "нерухомість; причина: втратив роботу. Надіслати її?"
                ],
            ),
            (
                "так",
                [
                    "Надіслано. Номер вашої справи: RS-2027-000001. Ви можете будь-коли "
                    "запитати, що з нею відбувається."
                ],
            ),
            (
                "мої справи",
                [
                    "У вас 1 справа:\n• RS-2027-000001: розстрочка або відстрочка, подано 10 "
                    "травня 2027\u202fр.: подано, очікує розгляду"
                ],
            ),
            ("змінити мову на польську", ["Od teraz piszę po polsku."]),
            # The language chosen stays, whatever the language of the next message.
            (
                "мої справи",
                [
                    "Masz 1 sprawę:\n• RS-2027-000001: raty lub odroczenie terminu, złożona 10 "
                    "maja 2027: złożona, czeka na rozpatrzenie"
                ],
            ),
        ]
    )


# --- the channel ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"not json", "the body must be JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b'{"message": "hej"}', "sender: a non-empty string is required"),
        (b'{"sender": "a", "message": 5}', "message: a string is required"),
        (b'{"sender": "a", "message": "hej", "metadata": []}', "metadata: an object is required"),
    ],
)
async def test_a_malformed_body_gets_400_and_a_reason(
    store: Store, aiohttp_client: ClientMaker, body: bytes, error: str
) -> None:
    client = await aiohttp_client(new_app(store))
    response = await client.post("/webhooks/rest/webhook", data=body)
    assert response.status == 400
    assert await response.json() == {"error": error}


# --- every other action, in each language ---------------------------------------------------------

TOUR = {
    "pl": {
        "help": "pomoc",
        "thanks": "dzięki",
        "nonsense": "bla bla xyz",
        "deadlines": "kiedy płacę za psa",
        "verify": "weryfikacja",
        "pay": "zapłać",
        "subscribe": "chcę przypomnienia sms",
        "unsubscribe": "wyłącz przypomnienia sms",
        "handoff": "chcę rozmawiać z człowiekiem",
        "language": "zmień język",
    },
    "en": {
        "help": "help",
        "thanks": "thank you",
        "nonsense": "bla bla xyz",
        "deadlines": "when do I pay the dog fee",
        "verify": "I want to verify my identity",
        "pay": "pay",
        "subscribe": "send me reminders by sms",
        "unsubscribe": "stop sms reminders",
        "handoff": "I want to talk to a person",
        "language": "change language",
    },
    "uk": {
        "help": "допомога",
        "thanks": "дякую",
        "nonsense": "розкажи анекдот",
        "deadlines": "коли платити за собаку",
        "verify": "хочу пройти верифікацію",
        "pay": "сплатити",
        "subscribe": "хочу нагадування через смс",
        "unsubscribe": "вимкни нагадування смс",
        "handoff": "хочу поговорити з людиною",
        "language": "змінити мову",
    },
}


@pytest.mark.parametrize("language", ["pl", "en", "uk"])
async def test_every_action_answers_in_the_residents_language(
    store: Store, aiohttp_client: ClientMaker, language: str
) -> None:
    await add_phone(store, await add_resident(store, language=language))
    async with store.sessions() as session:
        code = await issue_activation_code(session, TAXPAYER_REF, NOW)
        await session.commit()
    figures = await gmina_balance_json(store)
    due_now = [row(figures, "PT-2027-1"), row(figures, "DOG-2027")]
    lines = TOUR[language]

    def say(key: str, **values: Any) -> str:
        return said(key, language, **values)

    chat = Chat(await aiohttp_client(new_app(store)))
    await chat.verify_dialog(
        [
            (lines["help"], [say("utter_help")]),
            (lines["thanks"], [say("utter_thanks")]),
            (lines["nonsense"], [say("utter_out_of_scope")]),
            (
                lines["deadlines"],
                [
                    say(
                        "utter_deadlines_general",
                        lines=[
                            {
                                "response": "utter_deadline_rule_line",
                                "kind": "dog_fee",
                                "dates": ["2028-03-31"],
                            }
                        ],
                    )
                ],
            ),
            (lines["verify"], [say("utter_ask_identifier")]),
            (PESEL, [say("utter_ask_activation_code")]),
            (code, [say("utter_verified", name="Anna Nowak")]),
        ]
    )
    details, link, note = await chat.texts(lines["pay"])
    assert details == say(
        "utter_pay_details",
        recipient=OFFICE,
        account="22105012141000000012345678",
        title="T-1001 PT-2027-1 DOG-2027",
        amount=str(sum(Decimal(r["total"]) for r in due_now)),
    )
    assert link == pay_link_said(link, language)
    assert note == say("utter_pay_overdue_note", date="2027-05-10")
    await chat.verify_dialog(
        [
            (lines["subscribe"], [say("utter_subscribed", category="reminders", channel="sms")]),
            (
                lines["unsubscribe"],
                [say("utter_unsubscribed", category="reminders", channel="sms")],
            ),
            (lines["language"], [say("utter_ask_language")]),
        ]
    )
    other = "en" if language != "en" else "uk"
    await chat.verify_dialog(
        [
            (f'/change_language{{"language":"{other}"}}', [said("utter_language_changed", other)]),
            # A language chosen stays chosen: the hand-off answers in it.
            (
                lines["handoff"],
                [
                    said("utter_handoff", other, ticket_ref="ZG-2027-000001"),
                    office_contact(other),
                ],
            ),
            (lines["thanks"], [said("utter_handoff_passed", other, ticket_ref="ZG-2027-000001")]),
        ]
    )
