"""SMS through Twilio, inbound: `POST /webhooks/twilio/sms` and `POST /webhooks/twilio/status`.

Both are refused with 403 unless `X-Twilio-Signature` is twilio's `RequestValidator` signature,
with `sms.twilio.auth_token`, of `web.public_base_url` + the request's path and query and the
form's parameters: the URL Twilio was told, never one built from the Host header a client sends.
A body that is not the form Twilio posts gets 400 `{"error"}`.

    an SMS in   From normalised to E.164 with phonenumbers: the conversation's sender id, which
                identifies a taxpayer when the city's records hold the number for exactly one
                (storage.bindings); MessageSid is the message id, so a request Twilio retries has
                the effect of one
                → a reply to a reminder ("ZAPŁAĆ", "1" …: bot.channels.reminder_replies) is the
                  pay intent for exactly that reminder
                → else a keyword, before any understanding, in any case, without diacritics:
                  STOP / NIE / REZYGNUJĘ: no more reminders or announcements by SMS (recorded with
                  its time), one confirmation; START: back; POMOC / HELP: what the number is for
                  and the office's phone
                → but first: a number answering the choices last offered ("1"), or a choice's
                  title as written ("nie" to "2 – Nie"), is that choice's payload
                → the turn, its replies queued in the outbox (`bot.channels.outbound`)
                → the answer is an empty TwiML `<Response/>`: replies go through the Messages API
    a status    MessageStatus through `storage.outbox.apply_provider_status` (forward only: a late
                or repeated callback changes nothing); a number the carrier says cannot get SMS
                (a landline, unknown) is marked unreachable; a notice reported `failed` or
                `undelivered` goes to the resident's next channel (`notifier.fallback`), once

Replies render as one SMS each: buttons as numbered choices, folded and cut by
`notifier.sms_segments`, whose segment count and encoding each outbox row keeps.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence

from aiohttp import web
from multidict import MultiDictProxy
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from bot.channels.base import Rendered
from bot.channels.outbound import Outbound
from bot.channels.reminder_replies import folded_word, sms_reply
from bot.dialogue import InboundMessage, OutboundMessage
from bot.typedefs import CHANNELS
from kernel.i18n import normalise_language, render
from kernel.settings import Settings
from kernel.webkeys import CLOCK, SESSIONS, SETTINGS
from notifier.fallback import queue_fallbacks
from notifier.reminders import Policy
from notifier.senders.twilio import CHANNEL, STATUS_CALLBACK_PATH, UNREACHABLE_CODES
from notifier.sms_segments import sms_text
from storage import sms_numbers
from storage.conversation_state import load_conversation
from storage.identifiers import normalise_phone
from storage.outbox import Outcome, Status, apply_provider_status, mark_unreachable

WEBHOOK_PATH = "/webhooks/twilio/sms"
STATUS_PATH = STATUS_CALLBACK_PATH
SIGNATURE_HEADER = "X-Twilio-Signature"
FORM = "application/x-www-form-urlencoded"
# Twilio joins a long SMS into one Body of at most 1 600 characters.
MAX_BODY_LENGTH = 1600
_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CHOICE = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")


class Keyword(enum.Enum):
    STOP = "stop"
    START = "start"
    HELP = "help"


# Compared after folding diacritics and upper-casing: "rezygnuję", "Stop!", "pomoc" all count.
KEYWORDS = {
    "STOP": Keyword.STOP,
    "NIE": Keyword.STOP,
    "REZYGNUJE": Keyword.STOP,
    "START": Keyword.START,
    "POMOC": Keyword.HELP,
    "HELP": Keyword.HELP,
}

# Twilio's message statuses that move our outbox row; the others (queued, sending …) do not.
PROVIDER_STATUSES = {
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.PERMANENT_FAILURE,
    "failed": Status.PERMANENT_FAILURE,
    "canceled": Status.PERMANENT_FAILURE,
}
KNOWN_STATUSES = frozenset(PROVIDER_STATUSES) | {
    "accepted",
    "scheduled",
    "queued",
    "sending",
    "receiving",
    "received",
    "partially_delivered",
}


def keyword(text: str) -> str | None:
    """The keyword the text is (`REZYGNUJE` for "Rezygnuję!"), or None."""
    word = folded_word(text)
    return word if word in KEYWORDS else None


class SmsChannel:
    """The channel protocol's SMS side: one SMS per reply, its buttons as numbered choices."""

    name = CHANNEL

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def render(self, reply: OutboundMessage) -> list[Rendered]:
        if not reply.text and not reply.buttons:
            return []  # an image alone: an SMS carries text only
        buttons = [{"title": b.title, "payload": b.payload} for b in reply.buttons]
        # The sender words it the same way when it goes out; measured here for the outbox row.
        measured = sms_text(
            reply.text,
            buttons,
            normalise_language(reply.language),
            self.settings.sms,
            self.settings.web.public_base_url,
        )
        # No image: an SMS carries text.
        return [
            Rendered(reply.text, reply.buttons, None, measured.segments, str(measured.encoding))
        ]


SMS = web.AppKey("sms_channel", SmsChannel)
# The reminder policy by which a notice the carrier did not deliver is copied to the next channel.
SMS_FALLBACK = web.AppKey("sms_fallback", Policy)


def _bad_request(reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=400)


def _forbidden() -> web.Response:
    return web.json_response({"error": "the Twilio signature is missing or wrong"}, status=403)


async def signed_form(request: web.Request) -> MultiDictProxy[str] | web.Response:
    """The form Twilio posted, or the answer for a request that is not one: 403, 400."""
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        return _forbidden()
    if request.content_type != FORM:
        return _bad_request(f"the body must be {FORM}")
    try:
        posted = await request.post()
    except ValueError:  # not UTF-8 (UnicodeDecodeError), or not a form
        return _bad_request("the body must be a UTF-8 form")
    if not all(isinstance(value, str) for value in posted.values()):
        return _bad_request("the body must be a form without files")
    form: MultiDictProxy[str] = posted  # type: ignore[assignment]
    settings = request.app[SETTINGS]
    url = settings.web.public_base_url + request.raw_path
    token = settings.sms.twilio.auth_token or ""
    if not RequestValidator(token).validate(url, form, signature):
        return _forbidden()
    return form


def _field(form: MultiDictProxy[str], name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _sid(form: MultiDictProxy[str]) -> str | None:
    sid = _field(form, "MessageSid") or _field(form, "SmsSid") or ""
    return sid if _SID.match(sid) else None


def _number(form: MultiDictProxy[str], name: str) -> str | None:
    try:
        return normalise_phone(_field(form, name) or "")
    except ValueError:
        return None


def twiml() -> web.Response:
    """An empty TwiML answer: the reply goes out through the Messages API."""
    return web.Response(text=str(MessagingResponse()), content_type="text/xml")


async def inbound(request: web.Request) -> web.Response:
    form = await signed_form(request)
    if isinstance(form, web.Response):
        return form
    sid, number, body = _sid(form), _number(form, "From"), _field(form, "Body")
    if sid is None:
        return _bad_request("MessageSid: a Twilio message SID (SM… or MM…) is required")
    if number is None:
        return _bad_request("From: a phone number is required")
    if body is None:
        return _bad_request("Body: required")
    if len(body) > MAX_BODY_LENGTH:
        return _bad_request(f"Body: at most {MAX_BODY_LENGTH} characters")
    if _CONTROL.search(body):
        return _bad_request("Body: control characters other than tab and line breaks")
    async with request.app[SESSIONS]() as session:
        choices = await sms_numbers.offered_choices(session, number)
        now = request.app[CLOCK].now()
        reminded = await sms_reply(session, request.app[SETTINGS], now, number, body)
    chosen = _chosen(body, choices) if reminded is None else None
    text, metadata = reminded or (chosen or body, {})
    message = InboundMessage(CHANNEL, number, text, metadata, message_id=sid)
    channel, outbound = request.app[SMS], Outbound.of(request.app)
    found = keyword(body) if chosen is None and reminded is None else None
    if found is not None:
        reply = await _keyword_reply(request.app, found, message)
        await outbound.queue(channel, message, [reply])
        return twiml()
    replies = await outbound.reply(channel, message)
    await _remember_choices(request.app, number, replies)
    return twiml()


async def _keyword_reply(
    app: web.Application, word: str, message: InboundMessage
) -> OutboundMessage:
    """STOP, START or HELP done; the one answer it gets, in the conversation's language."""
    settings, now = app[SETTINGS], app[CLOCK].now()
    found = KEYWORDS[word]
    number = message.sender_id
    async with app[SESSIONS]() as session:
        conversation = await load_conversation(session, CHANNEL, number)
        if found is Keyword.STOP:
            await sms_numbers.stop(session, number, now)
        elif found is Keyword.START:
            await sms_numbers.start(session, number, now)
        await session.commit()
    # A number new to us is answered in the keyword's language: HELP English, the others Polish.
    language = conversation.language
    if conversation.is_new:
        language = "en" if word == "HELP" else "pl"
    key = {Keyword.STOP: "sms_stopped", Keyword.START: "sms_started", Keyword.HELP: "sms_help"}
    values = {"office": settings.city.office_name, "phone": settings.city.office_phone}
    return OutboundMessage(number, render(key[found], language, values), language=language)


def _chosen(text: str, choices: Sequence[tuple[str, str]]) -> str | None:
    """The payload a reply picks: its number ("1"), or a choice's title as written ("nie" when
    "2 – Nie" was offered, which is then no STOP)."""
    match = _CHOICE.match(text)
    if match is not None:
        number = int(match.group(1))
        return choices[number - 1][1] if 1 <= number <= len(choices) else None
    written = folded_word(text)
    return next((payload for title, payload in choices if folded_word(title) == written), None)


async def _remember_choices(
    app: web.Application, number: str, replies: Sequence[OutboundMessage]
) -> None:
    """The choices the last reply with buttons offers, or none (a plain answer ends them)."""
    offered = [reply for reply in replies if reply.buttons]
    choices = [(b.title, b.payload) for b in offered[-1].buttons] if offered else []
    async with app[SESSIONS]() as session:
        await sms_numbers.remember_choices(session, number, choices, app[CLOCK].now())
        await session.commit()


async def status_callback(request: web.Request) -> web.Response:
    form = await signed_form(request)
    if isinstance(form, web.Response):
        return form
    sid, status = _sid(form), _field(form, "MessageStatus") or _field(form, "SmsStatus")
    if sid is None:
        return _bad_request("MessageSid: a Twilio message SID (SM… or MM…) is required")
    if status not in KNOWN_STATUSES:
        return _bad_request("MessageStatus: not a status of a Twilio message")
    code_text = _field(form, "ErrorCode") or ""
    if code_text and not code_text.isdigit():
        return _bad_request("ErrorCode: a number")
    target = PROVIDER_STATUSES.get(status)
    if target is None:
        return web.Response(status=204)
    code = int(code_text) if code_text else None
    error = f"twilio: {status}, error {code}" if code is not None else None
    now = request.app[CLOCK].now()
    async with request.app[SESSIONS]() as session:
        moved = await apply_provider_status(session, CHANNEL, sid, target, error, now)
        recipient = _number(form, "To")
        if moved is not None and code in UNREACHABLE_CODES and recipient is not None:
            await mark_unreachable(session, CHANNEL, recipient, "the provider refused it", now)
        if moved is not None and target is Status.PERMANENT_FAILURE:
            # Only the callback that moved the message queues its copy; the key keeps it single.
            outcome = Outcome(moved, target, error=error)
            await queue_fallbacks(session, [outcome], now, request.app[SMS_FALLBACK])
        await session.commit()
    return web.Response(status=204)


def setup_sms(app: web.Application) -> None:
    """The SMS routes, when `sms.twilio` is configured (after the channels' states are known)."""
    if app[CHANNELS]["sms"] != "on":
        return
    app[SMS] = SmsChannel(app[SETTINGS])
    app[SMS_FALLBACK] = Policy.from_settings(app[SETTINGS])
    app.router.add_post(WEBHOOK_PATH, inbound)
    app.router.add_post(STATUS_PATH, status_callback)
