"""Rasa's REST channel: `POST /webhooks/rest/webhook`, and `POST /webhooks/rest/waiting` for the
messages queued for a sender between its turns.

Body `{"sender": ID, "message": TEXT}` with optional `"metadata": {...}`; the answer is a JSON list
of `{"recipient_id", "text"}` with `"buttons": [{"title", "payload"}]` and `"image"` when there are
any, and `"metadata": {"language": "pl"|"en"|"uk"}`, the language the text is in. A body that is
not that gets 400 and `{"error": "..."}`: not UTF-8 JSON, nested deeper than
`kernel.jsonsafe.MAX_DEPTH`, a lone surrogate anywhere, a control character in the sender or one
other than tab and line breaks in the message. More than `web.rate_limit.webhook` requests from
one address get 429 with `Retry-After`.

A message queued in the outbox for a REST sender (a receipt, a staff reply) goes to
`rest.callback_url` when the city set one (notifier.senders.rest); the built-in web chat page
collects the rest itself: `POST /webhooks/rest/waiting` with `{"sender": ID}` answers the messages
waiting for that sender in the webhook's answer format, oldest first, each handed out once (it
is marked delivered as it is answered), and `[]` when there are none.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from bot.channels.base import Rendered
from bot.channels.typedefs import DIALOGUE
from bot.dialogue import InboundMessage, OutboundMessage
from bot.dialogue.messages import Button
from kernel import jsonsafe
from kernel.errors import InputError
from kernel.ratelimit import rate_limited
from kernel.webkeys import CLOCK, SESSIONS
from storage.outbox_replies import take_waiting

WEBHOOK_PATH = "/webhooks/rest/webhook"
# Messages queued for a sender outside its turns (notifier.senders.rest when no callback is set).
WAITING_PATH = "/webhooks/rest/waiting"
CHANNEL = "rest"
# The store keeps sender ids up to this length; messages longer than any chat would send are
# refused rather than parsed.
MAX_SENDER_LENGTH = 128
MAX_MESSAGE_LENGTH = 4096
# No database column takes a NUL, and no chat sends control characters but tab and line breaks.
_SENDER_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MESSAGE_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _utf8_json(value: object) -> str:
    # Residents' languages as they are, not \u escapes: smaller, and readable in logs and tools.
    return json.dumps(value, ensure_ascii=False)


def _bad_request(reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=400)


class RestChannel:
    """The channel protocol's REST side: a reply is one JSON object, buttons as Rasa has them."""

    name = CHANNEL

    def render(self, reply: OutboundMessage) -> list[Rendered]:
        return [Rendered(reply.text, reply.buttons, reply.image)]


REST = RestChannel()


def to_json(reply: OutboundMessage) -> list[dict[str, Any]]:
    """The JSON objects of one reply, as the REST channel renders it."""
    bodies: list[dict[str, Any]] = []
    for part in REST.render(reply):
        body: dict[str, Any] = {"recipient_id": reply.recipient_id, "text": part.text}
        if part.buttons:
            body["buttons"] = [{"title": b.title, "payload": b.payload} for b in part.buttons]
        if part.image:
            body["image"] = part.image
        if reply.language:
            body["metadata"] = {"language": reply.language}
        bodies.append(body)
    return bodies


def parse_sender(body: Any) -> str:
    """The sender id of a body `{"sender": ID, ...}`; InputError says what is wrong."""
    if not isinstance(body, dict):
        raise InputError("the body must be a JSON object")
    sender = body.get("sender")
    if isinstance(sender, int) and not isinstance(sender, bool):
        sender = str(sender)
    if not isinstance(sender, str) or not sender.strip():
        raise InputError("sender: a non-empty string is required")
    if len(sender) > MAX_SENDER_LENGTH:
        raise InputError(f"sender: at most {MAX_SENDER_LENGTH} characters")
    if _SENDER_CONTROL.search(sender):
        raise InputError("sender: control characters are not allowed")
    return sender


def parse_body(body: Any) -> InboundMessage | str:
    """The message in a webhook body, or why there is none."""
    try:
        sender = parse_sender(body)
    except InputError as exc:
        return str(exc)
    text, metadata = body.get("message"), body.get("metadata")
    if not isinstance(text, str):
        return "message: a string is required"
    if len(text) > MAX_MESSAGE_LENGTH:
        return f"message: at most {MAX_MESSAGE_LENGTH} characters"
    if _MESSAGE_CONTROL.search(text):
        return "message: control characters other than tab and line breaks are not allowed"
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        return "metadata: an object is required"
    return InboundMessage(CHANNEL, sender, text, metadata)


@rate_limited("webhook")
async def webhook(request: web.Request) -> web.Response:
    try:
        body = jsonsafe.loads(await request.read())
    except jsonsafe.InvalidJSON:
        return _bad_request("the body must be JSON")
    message = parse_body(body)
    if isinstance(message, str):
        return _bad_request(message)
    replies = await request.app[DIALOGUE].handle(message)
    bodies = [body for reply in replies for body in to_json(reply)]
    return web.json_response(bodies, dumps=_utf8_json)


@rate_limited("webhook")
async def waiting(request: web.Request) -> web.Response:
    """What was queued for this web-chat sender since it last asked (a receipt, a staff reply),
    in the webhook's answer format; each message is handed out once."""
    try:
        body = jsonsafe.loads(await request.read())
    except jsonsafe.InvalidJSON:
        return _bad_request("the body must be JSON")
    try:
        sender = parse_sender(body)
    except InputError as exc:
        return _bad_request(str(exc))
    async with request.app[SESSIONS]() as session:
        taken = await take_waiting(session, CHANNEL, sender, request.app[CLOCK].now())
        await session.commit()
    bodies = [
        body for language, content in taken for body in to_json(_queued(sender, language, content))
    ]
    return web.json_response(bodies, dumps=_utf8_json)


def _queued(sender: str, language: str, content: dict[str, Any]) -> OutboundMessage:
    buttons = tuple(
        Button(str(b.get("title", "")), str(b.get("payload", "")))
        for b in content.get("buttons") or []
    )
    image = content.get("image")
    return OutboundMessage(sender, str(content.get("text") or ""), buttons, image or None, language)


def add_routes(app: web.Application) -> None:
    app.router.add_post(WEBHOOK_PATH, webhook)
    app.router.add_post(WAITING_PATH, waiting)
