"""The web chat page in Chromium, desktop and phone, against the demo city.

Each test talks to the assistant as a resident does: typing in the message box and pressing Enter
or the buttons. Geometry is checked with the elements' boxes: the newest answer whole inside the
conversation's scrolling area, that area between a header and a message box that stay in view,
and a document exactly as tall as the viewport however long the conversation gets.
"""

from __future__ import annotations

from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, FloatRect, Locator, Page

from kernel.i18n import render
from kernel.webkeys import SESSIONS
from storage.outbox import Category, NewMessage, enqueue
from tests.browser.conftest import DESKTOP, LiveServer, PageProblems, Screenshot
from tests.conftest import ENGINES

pytestmark = pytest.mark.asyncio(loop_scope="package")

# Below a pixel of rounding, a box is inside another.
SLACK = 1.0
# What payments.notifications queues after a payment through the chat's link.
BROWSER_RECEIPT = render(
    "utter_payment_receipt", "pl", {"amount": "1650.00", "paid_date": "2027-05-10"}
)


class ChatPage:
    """The chat as the resident sees and uses it."""

    def __init__(self, page: Page, server: LiveServer) -> None:
        self.page = page
        self.server = server
        self.input = page.locator("#message")
        self.send_button = page.locator("#send")
        self.answers = page.locator("#transcript .entry.bot")
        self.entries = page.locator("#transcript .entry")

    async def open(self) -> ChatPage:
        await self.page.goto(self.server.url + "/")
        await self.page.wait_for_load_state("load")
        return self

    async def say(self, text: str) -> str:
        """Types `text`, presses Enter and waits for the answers; their text, one per line."""
        before = await self.answers.count()
        await self.input.fill(text)
        await self.input.press("Enter")
        return await self._answers_after(before)

    async def press(self, button: Locator) -> str:
        before = await self.answers.count()
        await button.press("Enter")
        return await self._answers_after(before)

    async def _answers_after(self, before: int) -> str:
        await self._wait_for_answers(before)
        texts = await self.answers.locator("p").all_inner_texts()
        return "\n".join(texts[before:])

    async def _wait_for_answers(self, before: int) -> None:
        await self.page.wait_for_function(
            "before => document.querySelectorAll('#transcript .entry.bot').length > before"
            " && !document.getElementById('send').disabled",
            arg=before,
        )

    async def verify(self) -> str:
        return await self.say(f"/start {await self.server.link_token()}")

    async def box(self, selector_or_locator: str | Locator) -> FloatRect:
        locator = (
            self.page.locator(selector_or_locator)
            if isinstance(selector_or_locator, str)
            else selector_or_locator
        )
        box = await locator.bounding_box()
        assert box is not None, f"{selector_or_locator} is not shown"
        return box

    async def geometry(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.page.evaluate(
            """() => ({
                innerHeight: window.innerHeight,
                innerWidth: window.innerWidth,
                documentHeight: document.documentElement.scrollHeight,
                documentWidth: document.documentElement.scrollWidth,
                bodyHeight: document.body.scrollHeight,
                windowScrollY: window.scrollY,
            })"""
        )
        return result

    async def assert_newest_answer_whole(self) -> None:
        """The newest answer lies inside the scrolling area, and that inside the viewport."""
        area = await self.box("#scroller")
        answer = await self.box(self.answers.last)
        geometry = await self.geometry()
        assert answer["height"] <= area["height"], "use assert_long_answer_readable for this one"
        assert answer["y"] >= area["y"] - SLACK, (answer, area)
        assert answer["y"] + answer["height"] <= area["y"] + area["height"] + SLACK, (answer, area)
        assert area["y"] >= 0
        assert area["y"] + area["height"] <= geometry["innerHeight"] + SLACK

    async def assert_chrome_in_view(self) -> None:
        """Header at the top, message box at the bottom, and nothing below or beside them."""
        geometry = await self.geometry()
        header = await self.box(".masthead")
        composer = await self.box(".composer-bar")
        assert header["y"] == 0
        assert composer["y"] + composer["height"] == pytest.approx(geometry["innerHeight"], abs=1)
        assert geometry["documentHeight"] == geometry["innerHeight"], geometry
        assert geometry["bodyHeight"] == geometry["innerHeight"], geometry
        assert geometry["documentWidth"] <= geometry["innerWidth"], geometry
        assert geometry["windowScrollY"] == 0
        input_box = await self.box("#message")
        assert input_box["y"] + input_box["height"] <= geometry["innerHeight"]

    async def labels(self) -> dict[str, str]:
        result: dict[str, str] = await self.page.evaluate(
            """() => ({
                lang: document.documentElement.lang,
                title: document.title,
                label: document.querySelector("label[for=message]").textContent,
                send: document.getElementById("send").textContent,
                reset: document.getElementById("reset").textContent,
                speakers: [...document.querySelectorAll(".entry > .visually-hidden")]
                    .map((element) => element.textContent).join("|"),
            })"""
        )
        return result


@pytest_asyncio.fixture(loop_scope="package")
async def chat(page: Page, live_server: LiveServer) -> ChatPage:
    return await ChatPage(page, live_server).open()


@pytest.mark.parametrize("live_server", ENGINES, indirect=True)
async def test_a_verified_resident_sees_the_newest_answer_whole(
    chat: ChatPage, screenshot: Screenshot
) -> None:
    welcome = await chat.verify()
    assert "T000001" not in welcome  # a greeting by name, no reference
    await chat.assert_newest_answer_whole()
    balance = await chat.say("Ile mam do zapłaty?")
    assert "Razem do zapłaty" in balance
    assert "zł" in balance
    await chat.assert_newest_answer_whole()
    await chat.assert_chrome_in_view()
    assert await chat.page.locator("#transcript").get_attribute("aria-live") == "polite"
    await expect_focus(chat.page, "message")
    await screenshot(chat.page, f"verified-balance-{chat.server.engine_name}")


async def test_eight_turns_leave_the_page_as_tall_as_the_viewport(
    chat: ChatPage, screenshot: Screenshot
) -> None:
    await chat.verify()
    for text in (
        "Ile mam do zapłaty?",
        "Jak zapłacić?",
        "Dziękuję",
        "Jakie mam sprawy?",
        "Pomoc",
        "Ile mam do zapłaty?",
        "Cześć",
    ):
        await chat.say(text)
        await chat.assert_chrome_in_view()
        area = await chat.box("#scroller")
        answer = await chat.box(chat.answers.last)
        if answer["height"] <= area["height"]:
            await chat.assert_newest_answer_whole()
        else:
            assert answer["y"] == pytest.approx(area["y"], abs=20), "a long answer shows its start"
    assert await chat.entries.count() >= 16
    await screenshot(chat.page, "eight-turns")


@pytest.mark.parametrize(
    ("question", "language", "label", "send", "you", "assistant"),
    [
        ("Hello! What can you do?", "en", "Your message", "Send", "You", "Assistant"),
        ("Привіт! Що ти вмієш?", "uk", "Ваше повідомлення", "Надіслати", "Ви", "Помічник"),
    ],
    ids=["en", "uk"],
)
async def test_the_page_speaks_the_language_of_the_conversation(
    chat: ChatPage,
    screenshot: Screenshot,
    question: str,
    language: str,
    label: str,
    send: str,
    you: str,
    assistant: str,
) -> None:
    before = await chat.labels()
    assert (before["lang"], before["label"], before["send"]) == ("pl", "Twoja wiadomość", "Wyślij")
    await chat.say(question)
    after = await chat.labels()
    assert after["lang"] == language
    assert (after["label"], after["send"]) == (label, send)
    assert after["speakers"].split("|")[:2] == [you, assistant]
    assert "Ruda Śląska" in after["title"]
    assert after["title"] != before["title"]
    await chat.assert_newest_answer_whole()
    await screenshot(chat.page, f"language-{language}")


async def test_a_reload_restores_the_transcript_and_a_new_conversation_clears_it(
    chat: ChatPage, screenshot: Screenshot
) -> None:
    await chat.verify()
    await chat.say("How much do I owe?")
    shown = await chat.entries.all_inner_texts()
    await chat.page.reload()
    await chat.page.wait_for_load_state("load")
    assert await chat.entries.all_inner_texts() == shown
    assert (await chat.labels())["lang"] == "en"
    await chat.assert_newest_answer_whole()
    await screenshot(chat.page, "after-reload")
    # The server kept the conversation too: still verified, no new /start needed.
    assert "PLN" in await chat.say("How much do I owe?")

    await chat.page.locator("#reset").press("Enter")
    assert await chat.entries.count() == 0
    await expect_focus(chat.page, "message")
    await chat.page.reload()
    await chat.page.wait_for_load_state("load")
    assert await chat.entries.count() == 0
    # A new sender: amounts need verifying again.
    assert "PLN" not in await chat.say("How much do I owe?")


async def test_a_long_answer_can_be_read_to_its_end(chat: ChatPage, screenshot: Screenshot) -> None:
    await chat.verify()
    # All the demo taxpayer's dates: the answer lists five of each and offers this button.
    await chat.say('/list_deadlines{"page":"all"}')
    area = await chat.box("#scroller")
    answer = await chat.box(chat.answers.last)
    assert answer["height"] > area["height"], "the demo taxpayer's dates fill more than a screen"
    # Its beginning is shown first ...
    assert area["y"] - SLACK <= answer["y"] <= area["y"] + 20
    await chat.assert_chrome_in_view()
    await screenshot(chat.page, "long-answer-start")
    # ... and the resident scrolls the conversation (the wheel, over it) to its end.
    await chat.page.mouse.move(area["x"] + area["width"] / 2, area["y"] + area["height"] / 2)
    for _ in range(round(answer["height"] / 200) + 2):
        await chat.page.mouse.wheel(0, 200)
    await chat.page.wait_for_function(
        "() => { const area = document.getElementById('scroller');"
        " return area.scrollTop + area.clientHeight >= area.scrollHeight - 1; }"
    )
    answer = await chat.box(chat.answers.last)
    assert answer["y"] + answer["height"] <= area["y"] + area["height"] + SLACK
    await chat.assert_chrome_in_view()
    await screenshot(chat.page, "long-answer-end")


async def test_an_over_long_message_is_explained_not_cut(
    chat: ChatPage, screenshot: Screenshot
) -> None:
    await chat.input.focus()
    await chat.page.keyboard.insert_text("a" * 5000)
    note = chat.page.locator("#message-note")
    await note.wait_for(state="visible")
    # Polish groups digits from five on: 5000, 12 000.
    assert "5000" in await note.inner_text()
    assert "4096" in await note.inner_text()
    assert len(await chat.input.input_value()) == 5000
    # Screen readers hear it once: the alert keeps its words while the count goes on changing.
    alert = chat.page.locator("#message-alert")
    assert await alert.text_content() == await note.text_content()
    await chat.page.keyboard.insert_text("b")
    assert "5001" in await note.inner_text()
    assert "5000" in (await alert.text_content() or "")
    assert await chat.input.get_attribute("aria-invalid") == "true"
    await chat.assert_chrome_in_view()
    await screenshot(chat.page, "too-long")
    await chat.input.press("Enter")
    assert await chat.entries.count() == 0, "nothing is sent"

    await chat.input.fill("a" * 4096)
    await note.wait_for(state="hidden")
    assert await chat.input.get_attribute("aria-invalid") == "false"


@pytest.mark.parametrize("viewport", [DESKTOP], indirect=True, ids=["desktop"])
async def test_the_favicon_is_served(chat: ChatPage) -> None:
    href = await chat.page.locator("link[rel=icon]").get_attribute("href")
    assert href == "/favicon.svg"
    icon = await chat.page.request.get(chat.server.url + href)
    assert icon.status == 200
    assert icon.headers["content-type"].split(";")[0] == "image/svg+xml"
    assert (await icon.text()).startswith("<svg")
    legacy = await chat.page.request.get(chat.server.url + "/favicon.ico")
    assert legacy.url.endswith("/favicon.svg")
    assert legacy.status == 200


@pytest.mark.parametrize("viewport", [DESKTOP], indirect=True, ids=["desktop"])
async def test_everything_works_from_the_keyboard(chat: ChatPage) -> None:
    await chat.page.keyboard.press("Tab")
    await expect_focus(chat.page, None, "skip-link")
    await chat.page.keyboard.press("Enter")
    await expect_focus(chat.page, "message")

    await chat.page.keyboard.type("Pomoc")
    await chat.page.keyboard.press("Enter")
    await chat._wait_for_answers(0)
    await expect_focus(chat.page, "message")

    # Shift+Enter starts a new line instead of sending.
    await chat.page.keyboard.type("Ile mam")
    await chat.page.keyboard.press("Shift+Enter")
    await chat.page.keyboard.type("do zapłaty?")
    assert await chat.input.input_value() == "Ile mam\ndo zapłaty?"
    assert await chat.page.locator(".entry.user").count() == 1
    await chat.input.fill("")

    await chat.page.keyboard.press("Tab")
    await expect_focus(chat.page, "send")
    await chat.page.keyboard.press("Shift+Tab")
    await expect_focus(chat.page, "message")

    # A suggested answer is a button: reached with Tab, pressed with Enter.
    await chat.page.keyboard.press("Shift+Tab")
    await expect_focus(chat.page, None, "chip")
    chip = chat.page.locator(".chip:focus")
    title = await chip.inner_text()
    await chat.press(chip)
    assert (await chat.page.locator(".entry.user").last.inner_text()).endswith(title)
    await expect_focus(chat.page, "message")

    await chat.page.locator("#reset").focus()
    await chat.page.keyboard.press("Enter")
    assert await chat.entries.count() == 0
    await expect_focus(chat.page, "message")


async def expect_focus(page: Page, element_id: str | None, class_name: str | None = None) -> None:
    focused: dict[str, str] = await page.evaluate(
        "() => ({id: document.activeElement.id, className: document.activeElement.className})"
    )
    if element_id is not None:
        assert focused["id"] == element_id, focused
    if class_name is not None:
        assert class_name in focused["className"].split(), focused


async def test_the_console_guard_notices_errors(browser: Browser, live_server: LiveServer) -> None:
    """Every test's page fails on console errors; this shows the guard sees them."""
    context = await browser.new_context()
    page = await context.new_page()
    problems = PageProblems.watch(page)
    await page.goto(live_server.url + "/")
    await page.evaluate("() => fetch('/no-such-file').then((response) => response.status)")
    await page.evaluate("() => setTimeout(() => { throw new Error('thrown on purpose'); })")
    await page.wait_for_timeout(200)
    await context.close()
    assert any("404" in message for message in problems.messages), problems.messages
    assert any("thrown on purpose" in message for message in problems.messages)


async def test_a_receipt_queued_for_the_chat_shows_when_the_page_next_asks(
    chat: ChatPage, screenshot: Screenshot
) -> None:
    """A payment made through the chat's link is receipted through the outbox to the chat's
    sender; the open page shows it at its next collection, and once."""
    await chat.verify()
    await chat.say("Jak zapłacić?")
    sender = await chat.page.evaluate("() => localStorage.getItem('gmina-chat-sender')")
    before = await chat.answers.count()
    key = f"receipt:browser-{sender}"
    async with chat.server.app[SESSIONS]() as session:
        message = NewMessage(key, "rest", sender, Category.RECEIPT, BROWSER_RECEIPT)
        await enqueue(session, [message], chat.server.clock.now())
        await session.commit()
    # Nothing typed: the page asks every ten seconds while it is shown.
    await chat.page.wait_for_function(
        "before => document.querySelectorAll('#transcript .entry.bot').length > before",
        arg=before,
        timeout=25_000,
    )
    texts = await chat.answers.locator("p").all_inner_texts()
    assert texts[before:] == [BROWSER_RECEIPT]
    await chat.assert_newest_answer_whole()
    await screenshot(chat.page, "receipt-collected")
    # Handed out once: the next answer does not bring it again.
    assert BROWSER_RECEIPT not in await chat.say("dziękuję")
    await chat.page.reload()
    await chat.page.wait_for_load_state("load")
    shown = await chat.answers.locator("p").all_inner_texts()
    assert shown.count(BROWSER_RECEIPT) == 1
