"""A local peer that speaks the part of the Telegram Bot API we call, for python-telegram-bot.

Methods are answered at `/bot<token>/<method>` as Telegram answers them (`{"ok": true,
"result": ...}`); the real `Bot` reaches it through `telegram.api_base_url`:

    getMe, setMyCommands            the bot and its menu, per language
    setWebhook, deleteWebhook       the webhook's URL, secret and update kinds are kept; while one
                                    is set, getUpdates answers 409 Conflict as Telegram does
    getUpdates                      long polling over updates `push`ed, confirmed by `offset`
    sendMessage, sendPhoto          recorded in `sent` (faults below apply to these)
    answerCallbackQuery, editMessageReplyMarkup   recorded; a keyboard removed stays removed

Residents are played by the test: `text_update`, `button_update`, … build updates as Telegram
sends them, `push` queues one for getUpdates, `deliver` posts one to the webhook with the secret
the bot registered. Faults are switched on per test: scripted error answers (429 with
`retry_after`, 5xx), a hang, chats that blocked the bot (403), an outage until a moment, a
redirect loop.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

BOT_USER = {"id": 7000001, "is_bot": True, "first_name": "Ruda Śląska", "username": "ruda_bot"}
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_SENDS = frozenset({"sendMessage", "sendPhoto"})


@dataclass
class SentMessage:
    chat_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    at: float
    message_id: int = 0
    photo: str | None = None

    @property
    def buttons(self) -> list[dict[str, str]]:
        """The inline keyboard's buttons, row after row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]


@dataclass
class TelegramPeer:
    token: str
    sent: list[SentMessage] = field(default_factory=list)
    # Every request, as (method, chat_id or None, monotonic time): what the limits are judged by.
    requests: list[tuple[str, int | None, float]] = field(default_factory=list)
    # Answers to give before the normal one, in order: (status, body).
    scripted: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    blocked_chats: set[int] = field(default_factory=set)
    # Until this monotonic time every sendMessage gets a 502.
    down_until: float = 0.0
    # An outage of this many seconds that starts with the first send (sets `down_until` then):
    # however long the sender takes to start, its first try meets the outage.
    down_for: float = 0.0
    hangs: int = 0
    # Every request answered with a redirect to itself (a misconfigured proxy).
    redirect_loop: bool = False
    # setWebhook's parameters while a webhook is set.
    webhook: dict[str, Any] | None = None
    # setMyCommands: language code ("" for the default) → [{"command", "description"}].
    commands: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    # (chat id, message id) of messages whose keyboard was removed.
    keyboards_removed: list[tuple[int, int]] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(900_001))
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _by_chat: dict[int, list[SentMessage]] = field(default_factory=dict)
    # Woken by a new update for getUpdates, and per chat by a message sent to it.
    _changed: asyncio.Condition | None = None
    _chat_changed: dict[int, asyncio.Condition] = field(default_factory=dict)

    def fail_next(self, count: int, status: int = 502, retry_after: int | None = None) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": "Bad Gateway"}
        if retry_after is not None:
            body["description"] = f"Too Many Requests: retry after {retry_after}"
            body["parameters"] = {"retry_after": retry_after}
        self.scripted += [(status, body)] * count

    def texts_to(self, chat_id: int) -> list[str]:
        return [message.text for message in self.messages_to(chat_id)]

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return list(self._by_chat.get(chat_id, ()))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        return app

    # --- residents -------------------------------------------------------------------------------

    def text_update(
        self,
        chat_id: int,
        text: str,
        *,
        chat_type: str = "private",
        language_code: str | None = "pl",
        edited: bool = False,
    ) -> dict[str, Any]:
        message = self._message(chat_id, chat_type, language_code)
        message["text"] = text
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        if edited:
            message["edit_date"] = message["date"]
            return {"update_id": next(self._update_ids), "edited_message": message}
        kind = "channel_post" if chat_type == "channel" else "message"
        return {"update_id": next(self._update_ids), kind: message}

    def media_update(self, chat_id: int, kind: str, *, language_code: str = "pl") -> dict[str, Any]:
        """A photo, sticker or voice message."""
        message = self._message(chat_id, "private", language_code)
        file = {"file_id": f"{kind}-file", "file_unique_id": f"{kind}-unique"}
        if kind == "photo":
            message["photo"] = [{**file, "width": 90, "height": 90}]
        elif kind == "sticker":
            message["sticker"] = {
                **file,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            }
        else:
            message["voice"] = {**file, "duration": 3}
        return {"update_id": next(self._update_ids), "message": message}

    def button_update(
        self, sent: SentMessage, index: int, *, language_code: str = "pl"
    ) -> dict[str, Any]:
        """The resident presses button `index` of a message the bot sent."""
        message = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": sent.chat_id, "type": "private"},
            "from": BOT_USER,
            "text": sent.text,
            "reply_markup": sent.reply_markup,
        }
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": f"cq-{next(self._ids)}",
                "from": _user(sent.chat_id, language_code),
                "chat_instance": f"ci-{sent.chat_id}",
                "message": message,
                "data": sent.buttons[index]["callback_data"],
            },
        }

    def _message(self, chat_id: int, chat_type: str, language_code: str | None) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type != "private":
            chat["title"] = "Sąsiedzi z Wirku"
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": chat,
        }
        if chat_type != "channel":
            message["from"] = _user(chat_id if chat_type == "private" else 4242, language_code)
        return message

    async def push(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates."""
        self._pending.append(update)
        await self._notify()

    async def deliver(
        self,
        update: dict[str, Any],
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> int:
        """Post an update to the webhook as Telegram does; returns the HTTP status. `base_url`
        stands for the registered URL's scheme and host (a test server's address)."""
        if self.webhook is None:
            raise AssertionError("no webhook is set")
        url = self.webhook["url"]
        if base_url is not None:
            url = base_url.rstrip("/") + urlsplit(url).path
        headers = {}
        if self.webhook.get("secret_token"):
            headers[SECRET_HEADER] = self.webhook["secret_token"]
        if session is None:
            async with aiohttp.ClientSession() as own:
                return await self.deliver(update, base_url, own)
        async with session.post(url, json=update, headers=headers) as response:
            await response.read()
            return response.status

    async def wait_for_messages(self, chat_id: int, count: int) -> list[SentMessage]:
        """The chat's messages once there are `count` (the caller bounds the wait)."""
        condition = self._chat_changed.setdefault(chat_id, asyncio.Condition())
        async with condition:
            await condition.wait_for(lambda: len(self._by_chat.get(chat_id, ())) >= count)
        return self.messages_to(chat_id)

    async def wait_for_webhook(self) -> dict[str, Any]:
        """The webhook's parameters once the bot has set one (the caller bounds the wait)."""
        condition = self._condition()
        async with condition:
            await condition.wait_for(lambda: self.webhook is not None)
        assert self.webhook is not None
        return self.webhook

    # --- the Bot API -----------------------------------------------------------------------------

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _notify(self) -> None:
        condition = self._condition()
        async with condition:
            condition.notify_all()

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        if self.redirect_loop:
            raise web.HTTPTemporaryRedirect(request.path)
        method = request.match_info["method"]
        params = await _params(request)
        chat_id = int(params["chat_id"]) if "chat_id" in params else None
        self.requests.append((method, chat_id, time.monotonic()))
        if method in _SENDS:
            return await self._send(method, chat_id, params)
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        response: web.Response = await handler(params)
        return response

    async def _getMe(self, params: dict[str, Any]) -> web.Response:  # noqa: N802 - API name
        return _ok(BOT_USER)

    async def _setWebhook(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        self.webhook = {
            "url": params["url"],
            "secret_token": params.get("secret_token"),
            "allowed_updates": _json(params.get("allowed_updates")),
        }
        await self._notify()
        return _ok(True)

    async def _deleteWebhook(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        self.webhook = None
        return _ok(True)

    async def _setMyCommands(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        self.commands[str(params.get("language_code") or "")] = _json(params["commands"])
        return _ok(True)

    async def _answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        self.callback_answers.append(params)
        return _ok(True)

    async def _editMessageReplyMarkup(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        if (chat_id, message_id) in self.keyboards_removed:
            return _error(400, "Bad Request: message is not modified")
        self.keyboards_removed.append((chat_id, message_id))
        return _ok(True)

    async def _getUpdates(self, params: dict[str, Any]) -> web.Response:  # noqa: N802
        if self.webhook is not None:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset") or 0)
        # Telegram forgets what an offset confirms.
        self._pending = [u for u in self._pending if u["update_id"] >= offset]
        if not self._pending:
            condition = self._condition()
            async with condition:
                try:
                    await asyncio.wait_for(
                        condition.wait_for(lambda: bool(self._pending)),
                        float(params.get("timeout") or 0),
                    )
                except TimeoutError:
                    pass
        return _ok(list(self._pending))

    async def _send(self, method: str, chat_id: int | None, params: dict[str, Any]) -> web.Response:
        if self.hangs:
            self.hangs -= 1
            await asyncio.sleep(3600)
        if self.scripted:
            status, body = self.scripted.pop(0)
            return web.json_response(body, status=status)
        if self.down_for and not self.down_until:
            self.down_until = time.monotonic() + self.down_for
        if time.monotonic() < self.down_until:
            return _error(502, "Bad Gateway")
        assert chat_id is not None
        if chat_id in self.blocked_chats:
            return _error(403, "Forbidden: bot was blocked by the user")
        photo = str(params["photo"]) if method == "sendPhoto" else None
        text = str(params.get("caption") or "") if photo else str(params["text"])
        message = SentMessage(
            chat_id,
            text,
            params.get("parse_mode"),
            _json(params.get("reply_markup")),
            time.monotonic(),
            next(self._ids),
            photo,
        )
        self.sent.append(message)
        self._by_chat.setdefault(chat_id, []).append(message)
        condition = self._chat_changed.get(chat_id)
        if condition is not None:
            async with condition:
                condition.notify_all()
        result: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
        }
        if photo:
            result["photo"] = [
                {"file_id": "sent-photo", "file_unique_id": "sent", "width": 1, "height": 1}
            ]
            result["caption"] = text
        else:
            result["text"] = text
        return _ok(result)


def _user(user_id: int, language_code: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": "Anna"}
    if language_code:
        user["language_code"] = language_code
    return user


def _json(value: Any) -> Any:
    """PTB sends nested values as JSON strings in form fields."""
    return json.loads(value) if isinstance(value, str) else value


async def _params(request: web.Request) -> dict[str, Any]:
    """PTB posts form fields (JSON-encoded values) or a JSON body."""
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    form = await request.post()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": status, "description": description}, status=status
    )
