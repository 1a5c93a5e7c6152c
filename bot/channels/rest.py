"""Rasa's REST channel: `POST /webhooks/rest/webhook`.

Body `{"sender": ID, "message": TEXT}` with optional `"metadata": {...}`; the answer is a JSON list
of `{"recipient_id", "text"}` with `"buttons": [{"title", "payload"}]` and `"image"` when there are
any, and `"metadata": {"language": "pl"|"en"|"uk"}`, the language the text is in. A body that is
not that gets 400 and `{"error": "..."}`: not UTF-8 JSON, nested deeper than
`kernel.jsonsafe.MAX_DEPTH`, a lone surrogate anywhere, a control character in the sender or one
other than tab and line breaks in the message. More than `web.rate_limit.webhook` requests from
one address get 429 with `Retry-After`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from bot.channels.base import Rendered
from bot.channels.typedefs import DIALOGUE
from bot.dialogue import InboundMessage, OutboundMessage
from kernel import jsonsafe
from kernel.ratelimit import rate_limited

WEBHOOK_PATH = "/webhooks/rest/webhook"
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


def parse_body(body: Any) -> InboundMessage | str:
    """The message in a webhook body, or why there is none."""
    if not isinstance(body, dict):
        return "the body must be a JSON object"
    sender, text, metadata = body.get("sender"), body.get("message"), body.get("metadata")
    if isinstance(sender, int) and not isinstance(sender, bool):
        sender = str(sender)
    if not isinstance(sender, str) or not sender.strip():
        return "sender: a non-empty string is required"
    if len(sender) > MAX_SENDER_LENGTH:
        return f"sender: at most {MAX_SENDER_LENGTH} characters"
    if _SENDER_CONTROL.search(sender):
        return "sender: control characters are not allowed"
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


def add_routes(app: web.Application) -> None:
    app.router.add_post(WEBHOOK_PATH, webhook)
