"""Telegram, inbound: one python-telegram-bot `Application` on our aiohttp loop.

    webhook mode   `POST /webhooks/telegram`: the secret header compared in constant time (403
                   otherwise), the body parsed (400 when it is no update), the update processed
                   before the answer, so its replies are in the outbox when Telegram hears 200
                   (a failed turn answers 503, and Telegram delivers the update again)
    polling mode   deleteWebhook, then getUpdates in a loop inside `gmina run`; an update is
                   confirmed (the next offset) only once its replies are in the outbox
    both           `Application.process_update` runs the handlers below, on the same `Bot` the
                   outbox's sender uses (one client in the process)

Handlers, first match wins:
    group, supergroup or channel   one sentence ("I work in private chats only"), nothing else:
                                   no turn, no binding, no personal data
    a pressed button               its callback data is a short key (`notifier.senders.telegram`);
                                   the payload is read from the outbox row the message came from,
                                   the query is answered, the keyboard removed, and the payload
                                   enters the dialogue as the message (under a reminder, with
                                   that reminder's key: bot.channels.reminder_replies)
    a text (commands too)          a turn: `/start TOKEN` binds, `/start` greets, `/pomoc`,
                                   `/saldo` … become the intents' payloads; `language_code` is the
                                   hint for a new conversation
    anything else                  edited messages, photos, stickers, voice: "I read text only"

Every update's replies are keyed by its `update_id` (the engine's answered messages and the outbox
keys, both in the store): the same update twice, also after a restart, is handled once.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiohttp import web
from telegram import Bot, BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.channels.base import Rendered
from bot.channels.outbound import Outbound
from bot.channels.reminder_replies import answering, reply_window_start
from bot.dialogue import InboundMessage, OutboundMessage
from bot.outbox import DISPATCHER
from kernel import jsonsafe
from kernel.errors import ConfigurationError
from kernel.i18n import LANGUAGES, normalise_language, render
from kernel.settings import Settings
from kernel.webkeys import SETTINGS
from notifier.senders.telegram import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    TelegramSender,
    parse_callback_key,
)
from storage.outbox_replies import button_payload
from storage.reminder_replies import reminder_of_message

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "edited_message", "channel_post", "callback_query")
# getUpdates waits this long for an update before answering empty.
POLL_TIMEOUT_SECONDS = 30
POLL_BACKOFF_MAX_SECONDS = 60.0

# Commands in every language's names, and the payload each stands for.
COMMANDS = {
    "pomoc": "/help",
    "help": "/help",
    "saldo": "/check_balance",
    "balance": "/check_balance",
    "terminy": "/list_deadlines",
    "deadlines": "/list_deadlines",
    "zaplac": "/pay",
    "pay": "/pay",
    "jezyk": "/change_language",
    "language": "/change_language",
}
# The menu each language sees (setMyCommands); "" is everyone else's. Names must be Latin, so
# Ukrainian readers get the English names with Ukrainian descriptions.
_POLISH_MENU = ("start", "pomoc", "saldo", "terminy", "zaplac", "jezyk")
_ENGLISH_MENU = ("start", "help", "balance", "deadlines", "pay", "language")
MENUS = {"": ("pl", _POLISH_MENU), "pl": ("pl", _POLISH_MENU)} | {
    language: (language, _ENGLISH_MENU) for language in LANGUAGES if language != "pl"
}
# No store column takes a NUL, and no chat needs control characters but tab and line breaks.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DESCRIPTION_KEYS = {"start": "telegram_command_start"} | {
    name: f"telegram_command_{payload.removeprefix('/')}" for name, payload in COMMANDS.items()
}


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Parts of at most `limit` characters, cut at line ends where there are any."""
    parts: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        if len(current) + len(line) > limit:
            parts.append(current)
            current = ""
        current += line
    if current or not parts:
        parts.append(current)
    return [part.rstrip("\n") or part for part in parts]


class TelegramChannel:
    """Replies as Telegram shows them: parts within its length, buttons under the last part, an
    image as a photo (with the text as its caption when that fits)."""

    name = CHANNEL

    def render(self, reply: OutboundMessage) -> list[Rendered]:
        if reply.image and len(reply.text) <= CAPTION_LIMIT:
            return [Rendered(reply.text, reply.buttons, reply.image)]
        photo = [Rendered("", (), reply.image)] if reply.image else []
        parts = split_text(reply.text)
        return photo + [
            Rendered(part, reply.buttons if number == len(parts) - 1 else ())
            for number, part in enumerate(parts)
        ]


TELEGRAM = TelegramChannel()


def command_payload(text: str) -> str:
    """`/pomoc` or `/saldo@ruda_bot` → the intent's payload; any other text as it is."""
    if not text.startswith("/"):
        return text
    name = text[1:].split(maxsplit=1)[0].partition("@")[0].lower()
    return COMMANDS.get(name, text)


def _language_code(update: Update) -> str | None:
    user = update.effective_user
    return user.language_code if user is not None else None


class TelegramInbound:
    """Updates in, through the Application's handlers, to the shared reply path."""

    def __init__(self, outbound: Outbound, bot: Bot, settings: Settings) -> None:
        self.outbound = outbound
        self.bot = bot
        self.settings = settings
        # No Updater (updates come from our route or our poller) and no job queue (the
        # scheduler of `gmina run` is APScheduler's own, should it be installed).
        self.application = Application.builder().bot(bot).updater(None).job_queue(None).build()
        # A failed handler's error, by update id: PTB hands errors to error handlers, and the
        # webhook must answer 503 (and polling not confirm) so that Telegram tries again.
        self._failures: dict[int, BaseException] = {}
        self.application.add_error_handler(self._failed)
        # Set once the bot is known and the webhook registered: updates are taken from then on.
        self.started = asyncio.Event()
        elsewhere = ~filters.ChatType.PRIVATE & (
            filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
        )
        text = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & filters.TEXT
        self.application.add_handlers(
            [
                MessageHandler(elsewhere, self._not_private),
                CallbackQueryHandler(self._button),
                MessageHandler(text, self._text),
                MessageHandler(filters.ChatType.PRIVATE, self._not_text),
            ]
        )

    async def start(self, settings: Settings) -> None:
        """getMe, the menu in each language, and the webhook set (or deleted, for polling)."""
        await self.application.initialize()
        for language, (menu_language, names) in MENUS.items():
            commands = [
                BotCommand(name, render(_DESCRIPTION_KEYS[name], menu_language)) for name in names
            ]
            await self.bot.set_my_commands(commands, language_code=language or None)
        telegram = settings.telegram
        if telegram.mode == "webhook":
            await self.bot.set_webhook(
                url=settings.web.public_base_url + WEBHOOK_PATH,
                secret_token=telegram.webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("telegram: webhook at %s%s", settings.web.public_base_url, WEBHOOK_PATH)
        else:
            await self.bot.delete_webhook()
            log.info("telegram: polling for updates")
        self.started.set()

    async def process(self, update: Update) -> None:
        """Handle one update; raises what a handler failed with (nothing was confirmed)."""
        await self.application.process_update(update)
        error = self._failures.pop(update.update_id, None)
        if error is not None:
            raise error

    async def _failed(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        if isinstance(update, Update) and context.error is not None:
            self._failures[update.update_id] = context.error

    # --- handlers ---------------------------------------------------------------------------------

    async def _text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.text is not None:  # always, by the handler's filter
            text = _CONTROL.sub("", command_payload(message.text))
            await self.outbound.reply(TELEGRAM, self._inbound(update, text))

    async def _button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None  # the handler's kind
        chat = update.effective_chat
        key = parse_callback_key(query.data or "")
        payload, reminder = None, None
        if chat is not None and chat.type == chat.PRIVATE and key is not None:
            since = reply_window_start(self.settings, self.outbound.clock.now())
            async with self.outbound.sessions() as session:
                payload = await button_payload(session, CHANNEL, str(chat.id), *key)
                if payload is not None:
                    reminder = await reminder_of_message(session, key[0], since)
        expired = payload is None and chat is not None and chat.type == chat.PRIVATE
        notice = render("telegram_button_expired", self._language(update)) if expired else None
        await self._call(query.answer(text=notice))
        if query.message is not None and chat is not None:
            await self._call(
                self.bot.edit_message_reply_markup(
                    chat_id=chat.id, message_id=query.message.message_id, reply_markup=None
                )
            )
        if payload is not None:
            # A button under a reminder answers that reminder (bot.channels.reminder_replies).
            metadata = answering(reminder) if reminder is not None else {}
            await self.outbound.reply(TELEGRAM, self._inbound(update, payload, metadata))

    async def _not_private(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._say(update, "telegram_private_only")

    async def _not_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._say(update, "telegram_text_only")

    # --- helpers ----------------------------------------------------------------------------------

    def _inbound(
        self, update: Update, text: str, metadata: dict[str, str] | None = None
    ) -> InboundMessage:
        chat = update.effective_chat
        assert chat is not None  # messages and callback queries from a chat have one
        hint = _language_code(update)
        metadata = ({"language": hint} if hint else {}) | (metadata or {})
        return InboundMessage(CHANNEL, str(chat.id), text, metadata, str(update.update_id))

    def _language(self, update: Update) -> str:
        return normalise_language(_language_code(update))

    async def _say(self, update: Update, key: str) -> None:
        """A channel's own answer (no turn), queued under the update's key like any reply."""
        language = self._language(update)
        message = self._inbound(update, "")
        reply = OutboundMessage(message.sender_id, render(key, language), language=language)
        await self.outbound.queue(TELEGRAM, message, [reply])

    async def _call(self, request: Any) -> None:
        """answerCallbackQuery and editMessageReplyMarkup: best effort. A redelivered update
        repeats them, and Telegram refuses an old query or an unchanged keyboard."""
        try:
            await request
        except TelegramError as exc:
            log.info("telegram: a button's acknowledgement was refused: %s", exc.message)


# --- wiring ---------------------------------------------------------------------------------------

TELEGRAM_INBOUND = web.AppKey("telegram_inbound", TelegramInbound)


async def webhook(request: web.Request) -> web.Response:
    inbound = request.app.get(TELEGRAM_INBOUND)
    expected = request.app[SETTINGS].telegram.webhook_secret or ""
    given = request.headers.get(SECRET_HEADER, "").encode()
    if inbound is None or not expected or not hmac.compare_digest(given, expected.encode()):
        return web.json_response({"error": "forbidden"}, status=403)
    if not inbound.started.is_set():
        return web.json_response({"error": "starting; try again later"}, status=503)
    update = parse_update(await request.read(), inbound.bot)
    if isinstance(update, str):
        return web.json_response({"error": update}, status=400)
    try:
        await inbound.process(update)
    except Exception:
        log.warning(
            "telegram: update %s failed; Telegram will deliver it again",
            update.update_id,
            exc_info=True,
        )
        return web.json_response({"error": "try again later"}, status=503)
    return web.json_response({})


def parse_update(body: bytes, bot: Bot) -> Update | str:
    """The update in a webhook body, or why there is none."""
    try:
        data = jsonsafe.loads(body)
    except jsonsafe.InvalidJSON:
        return "the body must be JSON"
    if not isinstance(data, dict):
        return "the body must be a JSON object"
    update_id = data.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool) or update_id < 0:
        return "update_id: a non-negative integer is required"
    try:
        update = Update.de_json(data, bot)
    except Exception:  # noqa: BLE001 - whatever PTB cannot read is a malformed update
        return "not a Telegram update"
    return update


async def run_channel(inbound: TelegramInbound, settings: Settings, stop: asyncio.Event) -> None:
    """Start the channel, trying again while Telegram cannot be reached (the server serves
    meanwhile); then, in polling mode, poll until stopped."""
    failures = 0
    while not stop.is_set() and not inbound.started.is_set():
        try:
            await inbound.start(settings)
        except Exception:
            failures += 1
            log.warning("telegram: could not start the channel; trying again", exc_info=True)
            await _sleep_unless(stop, _backoff(failures))
    if settings.telegram.mode == "polling":
        await poll(inbound, stop)


async def poll(inbound: TelegramInbound, stop: asyncio.Event) -> None:
    """getUpdates until stopped; an update is confirmed once processed, or tried again."""
    offset: int | None = None
    failures = 0
    while not stop.is_set():
        try:
            updates = await inbound.bot.get_updates(
                offset=offset, timeout=POLL_TIMEOUT_SECONDS, allowed_updates=ALLOWED_UPDATES
            )
            await _process_in_order(inbound, updates)
        except Exception:
            failures += 1
            log.warning("telegram: polling failed; trying again", exc_info=True)
            await _sleep_unless(stop, _backoff(failures))
            continue
        failures = 0
        if updates:
            offset = updates[-1].update_id + 1


def _backoff(failures: int) -> float:
    return float(min(POLL_BACKOFF_MAX_SECONDS, 2.0**failures))


async def _process_in_order(inbound: TelegramInbound, updates: Sequence[Update]) -> None:
    """Chats side by side, each chat's updates in their order."""
    chats: dict[int | None, list[Update]] = {}
    for update in updates:
        chat = update.effective_chat
        chats.setdefault(chat.id if chat is not None else None, []).append(update)

    async def one_chat(updates: list[Update]) -> None:
        for update in updates:
            await inbound.process(update)

    # Every chat runs to its end (or its first failure) before the batch counts as failed.
    outcomes = await asyncio.gather(*(one_chat(c) for c in chats.values()), return_exceptions=True)
    failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
    if failure is not None:
        raise failure


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def telegram_ctx(app: web.Application) -> AsyncIterator[None]:
    """The channel on the outbox sender's `Bot`, started (and polling) in a task of its own."""
    dispatcher = app.get(DISPATCHER)
    sender = dispatcher.senders.get(CHANNEL) if dispatcher is not None else None
    if not isinstance(sender, TelegramSender):
        yield
        return
    inbound = TelegramInbound(Outbound.of(app), sender.bot, app[SETTINGS])
    app[TELEGRAM_INBOUND] = inbound
    stop = asyncio.Event()
    task = asyncio.create_task(run_channel(inbound, app[SETTINGS], stop), name="telegram")
    yield
    stop.set()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def setup_telegram(app: web.Application) -> None:
    """Call after the outbox's context is registered: the channel uses its sender's `Bot`."""
    telegram = app[SETTINGS].telegram
    if not telegram.token:
        return
    if telegram.mode == "webhook" and not telegram.webhook_secret:
        # Without it anyone could post updates in a resident's name.
        raise ConfigurationError(
            "telegram.webhook_secret: required in webhook mode (GMINA__TELEGRAM__WEBHOOK_SECRET)"
        )
    if telegram.mode == "polling" and app[SETTINGS].web.workers > 1:
        # Telegram answers a second getUpdates at once with 409 Conflict.
        raise ConfigurationError("telegram.mode: polling needs web.workers: 1")
    app.cleanup_ctx.append(telegram_ctx)
    if telegram.mode == "webhook":
        app.router.add_post(WEBHOOK_PATH, webhook)
