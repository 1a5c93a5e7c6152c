"""A local peer that speaks the part of the Telegram Bot API we call, for python-telegram-bot.

Methods are answered at `/bot<token>/<method>` as Telegram answers them (`{"ok": true,
"result": ...}`); the real `Bot` reaches it through `telegram.api_base_url`. Faults are switched
on per test: scripted error answers (429 with `retry_after`, 5xx), a hang, chats that blocked the
bot (403), an outage until a moment.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_USER = {"id": 7000001, "is_bot": True, "first_name": "Ruda Śląska", "username": "ruda_bot"}


@dataclass
class SentMessage:
    chat_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    at: float


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
    hangs: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def fail_next(self, count: int, status: int = 502, retry_after: int | None = None) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": "Bad Gateway"}
        if retry_after is not None:
            body["description"] = f"Too Many Requests: retry after {retry_after}"
            body["parameters"] = {"retry_after": retry_after}
        self.scripted += [(status, body)] * count

    def texts_to(self, chat_id: int) -> list[str]:
        return [message.text for message in self.sent if message.chat_id == chat_id]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        chat_id = int(params["chat_id"]) if "chat_id" in params else None
        self.requests.append((method, chat_id, time.monotonic()))
        if method == "getMe":
            return _ok(BOT_USER)
        if method != "sendMessage":
            return _error(404, "Not Found: method not found")
        if self.hangs:
            self.hangs -= 1
            await asyncio.sleep(3600)
        if self.scripted:
            status, body = self.scripted.pop(0)
            return web.json_response(body, status=status)
        if time.monotonic() < self.down_until:
            return _error(502, "Bad Gateway")
        assert chat_id is not None
        if chat_id in self.blocked_chats:
            return _error(403, "Forbidden: bot was blocked by the user")
        return self._send_message(chat_id, params)

    def _send_message(self, chat_id: int, params: dict[str, Any]) -> web.Response:
        markup = params.get("reply_markup")
        message = SentMessage(
            chat_id,
            str(params["text"]),
            params.get("parse_mode"),
            json.loads(markup) if isinstance(markup, str) else markup,
            time.monotonic(),
        )
        self.sent.append(message)
        return _ok(
            {
                "message_id": next(self._ids),
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"},
                "from": BOT_USER,
                "text": message.text,
            }
        )


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
