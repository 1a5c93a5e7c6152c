"""Telegram, outbound: python-telegram-bot's `Bot`, the one client of the process.

The bot's token is part of every Bot API URL, so the libraries that could log a URL are kept
below the level at which they would (`quiet_library_loggers`). Texts are sent in HTML parse mode
with everything escaped: what residents typed and what the store holds is never markup.

A button's callback data is a short key, `<outbox id>.<button number>` (`callback_key`), never its
payload: Telegram's callback data holds 64 bytes and some payloads are longer. The payload stays in
the outbox row, where the Telegram channel reads it back when the button is pressed. A message
with an image is a photo with the text as its caption (when the caption fits Telegram's limit).
"""

from __future__ import annotations

import html
import logging
import os
from datetime import timedelta

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import MessageLimit, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    TelegramError,
)
from telegram.error import RetryAfter as TelegramRetryAfter

from kernel.errors import PermanentError, RecipientUnreachable, RetryableError, RetryAfter
from notifier.senders.telegram_request import AiohttpRequest
from storage.outbox import Claimed

# PTB 22 moves time periods from int to timedelta and warns on every int it hands out (a 429's
# RetryAfter included); we take the timedeltas now. PTB reads this at each such call.
os.environ.setdefault("PTB_TIMEDELTA", "true")

CHANNEL = "telegram"
TEXT_LIMIT = int(MessageLimit.MAX_TEXT_LENGTH)
CAPTION_LIMIT = int(MessageLimit.CAPTION_LENGTH)
# Loggers that name request URLs (which hold the token) at DEBUG or INFO: PTB's own (its Bot logs
# its API URL at DEBUG), and httpx's, which PTB may still use for a request of its own.
_URL_LOGGERS = {"telegram": logging.INFO, "httpx": logging.WARNING, "httpcore": logging.WARNING}


def quiet_library_loggers() -> None:
    """No log record at any level may carry the token: keep URL-naming loggers above it."""
    for name, floor in _URL_LOGGERS.items():
        logger = logging.getLogger(name)
        logger.setLevel(max(floor, logger.getEffectiveLevel()))


def build_bot(token: str, api_base_url: str, *, pool_size: int = 64, timeout: float = 10.0) -> Bot:
    """The `Bot` for `telegram.api_base_url` (`<root>/bot<token>/<method>`), on aiohttp."""
    quiet_library_loggers()
    return Bot(
        token,
        base_url=f"{api_base_url.rstrip('/')}/bot",
        request=AiohttpRequest(pool_size=pool_size, timeout=timeout),
        get_updates_request=AiohttpRequest(pool_size=1, timeout=timeout),
    )


def callback_key(message_id: int, index: int) -> str:
    """The callback data of button `index` of outbox message `message_id` (at most 24 bytes)."""
    return f"{message_id}.{index}"


def parse_callback_key(data: str) -> tuple[int, int] | None:
    """`(outbox message id, button number)` of a callback key; None for anything else."""
    message_id, dot, index = data.partition(".")
    if not (dot and message_id.isascii() and message_id.isdigit() and index.isascii()):
        return None
    if not index.isdigit() or len(message_id) > 18 or len(index) > 3:
        return None
    return int(message_id), int(index)


def _keyboard(message: Claimed) -> InlineKeyboardMarkup | None:
    buttons = message.buttons
    if not buttons:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(button["title"], callback_data=callback_key(message.id, index))]
            for index, button in enumerate(buttons)
        ]
    )


class TelegramSender:
    channel = CHANNEL

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def close(self) -> None:
        await self.bot.shutdown()

    async def send(self, message: Claimed) -> str:
        if len(message.text) > TEXT_LIMIT:
            raise PermanentError("the text is longer than one Telegram message")
        try:
            # Opens the HTTP client and asks getMe the first time (PTB requires it); then a no-op.
            await self.bot.initialize()
            sent = await self._send(message)
        except TelegramRetryAfter as exc:
            delay = exc.retry_after
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            raise RetryAfter(seconds) from exc
        except Forbidden as exc:
            raise RecipientUnreachable(f"telegram: {exc.message}") from exc
        except (BadRequest, ChatMigrated) as exc:
            raise PermanentError(f"telegram: {exc.message}") from exc
        except InvalidToken as exc:
            # Every message would fail alike: keep them queued until the token is mended.
            raise RetryableError("telegram: the bot token was refused") from exc
        except (NetworkError, TelegramError) as exc:
            raise RetryableError(f"telegram: {exc.message}") from exc
        return str(sent.message_id)

    async def _send(self, message: Claimed) -> Message:
        text = html.escape(message.text, quote=False)
        image = message.content.get("image")
        if image and len(message.text) <= CAPTION_LIMIT:
            return await self.bot.send_photo(
                chat_id=int(message.recipient),
                photo=str(image),
                caption=text or None,
                parse_mode=ParseMode.HTML,
                reply_markup=_keyboard(message),
            )
        return await self.bot.send_message(
            chat_id=int(message.recipient),
            text=text,
            parse_mode=ParseMode.HTML,
            reply_markup=_keyboard(message),
        )
