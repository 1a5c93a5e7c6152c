"""The dialogue engine: one channel-independent turn from a message in to the answers out.

    load the conversation (tracker, version, the store's binding → `taxpayer_id`)
    "/start TOKEN" → redeem the link token; "/start" → greet
    else NLU (or a button's `/intent{...}` payload) → slots from entities → policy:
        an active form: cancel, or fill the slot it asked for (validate_<form>), ask the next,
        confirm and submit; a request that is not an answer runs and the form asks again
        a pending "Did you mean…?": "yes" runs the first intent offered
        otherwise the rule for the intent, or "Did you mean…?" when the NLU was unsure
    → actions run in process by rasa-sdk's ActionExecutor, on the JSON a Rasa server sends
    → their events applied (SlotSet, ActiveLoop, FollowupAction, Restarted, …)
    → responses rendered by kernel.i18n in the conversation's language
    save the conversation with its version check, releasing the lease

Turns of one sender are serialised within a process by a lock, and across processes by a short
lease on the conversation's row (claimed with a conditional UPDATE; a turn in another process
waits, holding no connection, until it is released or expires). A turn may still run twice: its
lease expired, or the database dropped its connection and the turn is retried once. So every side
effect an action writes is idempotent under the turn's key (the provider's message id, else the
conversation's id and version at load), which actions read as Rasa's
`tracker.latest_message["message_id"]`; and a provider's message answered before (a webhook
redelivered) gets its first replies again without a turn. The store is read and written in short
sessions: none is held while an action runs.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import orjson
import rasa_sdk
from rasa_sdk.events import ActionExecuted, ActiveLoop, BotUttered, SlotSet, UserUttered
from rasa_sdk.executor import ActionExecutor
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actions.common import (
    LANGUAGE_CHOSEN_SLOT,
    LANGUAGE_SLOT,
    REMINDER_METADATA,
    START_COMMAND,
    TAXPAYER_SLOT,
    can_bind,
)
from actions.verification import LINK_FORM
from bot.dialogue import policy
from bot.dialogue.domain import REQUESTED_SLOT, Domain
from bot.dialogue.messages import Button, InboundMessage, OutboundMessage
from bot.dialogue.render import render_message
from bot.dialogue.slots import extract_slots
from bot.dialogue.state import DialogueState, Event
from kernel import jsonsafe
from kernel.clock import Clock
from kernel.i18n import LANGUAGES
from kernel.redact import mask_pesel_everywhere, mask_secrets
from storage.bindings import bound_taxpayer, redeem_link_token
from storage.conversation_state import (
    AnsweredMessage,
    ConversationConflict,
    ConversationState,
    claim_conversation,
    earlier_replies,
    release_conversation,
    save_conversation,
)
from storage.handoffs import add_resident_message

log = logging.getLogger(__name__)

SAVE_ATTEMPTS = 3
# A turn whose connection the database dropped runs once more.
DISCONNECT_RETRIES = 1
# Waiting for another process's turn of the same sender: first pause and longest, in seconds.
LEASE_POLL_FIRST = 0.005
LEASE_POLL_MAX = 0.1
# Followups one message may chain (an action → a form → its submission …).
MAX_ACTIONS_PER_TURN = 10
# A button's payload, Rasa style: /intent or /intent{"entity": "value"}.
_PAYLOAD = re.compile(r"^/(\w+)(\{.*\})?$", re.DOTALL)
REDACTED = "***"
# A verification form not answered for this long is closed at the next message.
ABANDONED_AFTER_SECONDS = 15 * 60


class Understanding(Protocol):
    """The NLU, as `intents.NLU` provides it."""

    def parse(self, text: str, language_hint: str | None = None) -> Mapping[str, Any]: ...


def action_call(
    domain: Domain,
    name: str,
    state: DialogueState,
    sender: str,
    channel: str,
    extra_events: list[Event] | None = None,
) -> dict[str, Any]:
    """The request a Rasa server sends an action server to run `name`."""
    tracker = state.as_tracker(sender, channel, extra_events or [])
    return {
        "next_action": name,
        "sender_id": sender,
        # A copy through JSON: what an action server would get, and safe from its changes.
        "tracker": orjson.loads(orjson.dumps(tracker, option=orjson.OPT_NON_STR_KEYS)),
        "domain": domain.data,
        "version": rasa_sdk.__version__,
    }


def build_executor() -> ActionExecutor:
    """rasa-sdk's executor with every action of `actions/`, as `gmina actions` serves them."""
    executor = ActionExecutor()
    executor.register_package("actions")
    return executor


class DialogueEngine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        nlu: Understanding,
        clock: Clock,
        *,
        domain: Domain | None = None,
        executor: ActionExecutor | None = None,
    ) -> None:
        self.sessions = sessions
        self.nlu = nlu
        self.clock = clock
        self.domain = domain or Domain.load()
        self.executor = executor or build_executor()
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def handle(self, message: InboundMessage) -> list[OutboundMessage]:
        key = (message.channel, message.sender_id)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        async with lock:
            owner = uuid.uuid4().hex
            conflicts = dropped = 0
            while True:
                try:
                    return await self._attempt(message, owner)
                except ConversationConflict:
                    # Only when a turn outlived its lease and another process took it over.
                    conflicts += 1
                    if conflicts == SAVE_ATTEMPTS:
                        raise
                    log.warning("conversation on %s saved meanwhile; turn redone", message.channel)
                except DBAPIError as exc:
                    # The database dropped the connection (it restarted, or an administrator
                    # ended it): the pool renews its connections, and the turn runs once more;
                    # its side effects are idempotent under the turn's key.
                    if not exc.connection_invalidated or dropped == DISCONNECT_RETRIES:
                        raise
                    dropped += 1
                    log.warning("the store dropped a connection; turn on %s redone", key[0])

    async def _attempt(self, message: InboundMessage, owner: str) -> list[OutboundMessage]:
        conversation = await self._claim(message.channel, message.sender_id, owner)
        try:
            if message.message_id is not None:
                async with self.sessions() as session:
                    earlier = await earlier_replies(session, conversation, message.message_id)
                if earlier is not None:
                    await self._release(conversation)
                    return [_outbound(message.sender_id, reply) for reply in earlier]
            turn = Turn(self, message, conversation)
            replies = await turn.run()
            # No PESEL at rest, wherever a turn put one (an entity, a slot, a text).
            conversation.state = mask_pesel_everywhere(turn.state.dump())
            conversation.language = turn.state.language
            answered = (
                AnsweredMessage(message.message_id, [_reply_json(reply) for reply in replies])
                if message.message_id is not None
                else None
            )
            async with self.sessions() as session:
                await save_conversation(session, conversation, self.clock.now(), answered)
                await session.commit()
            return replies
        except BaseException:
            await self._release(conversation)
            raise

    async def _claim(self, channel: str, sender_id: str, owner: str) -> ConversationState:
        """The conversation, leased to this turn; waits while a turn in another process has it.

        No connection is held while waiting: each try is its own short transaction.
        """
        delay = LEASE_POLL_FIRST
        while True:
            async with self.sessions() as session:
                claimed = await claim_conversation(
                    session, channel, sender_id, owner, self.clock.now()
                )
                await session.commit()
            if claimed is not None:
                return claimed
            await asyncio.sleep(delay)
            delay = min(delay * 2, LEASE_POLL_MAX)

    async def _release(self, conversation: ConversationState) -> None:
        """Give the lease back after a failed turn; when even that fails, it expires."""
        try:
            async with self.sessions() as session:
                await release_conversation(session, conversation)
                await session.commit()
        except DBAPIError:
            log.warning("could not release a conversation's lease; it expires by itself")

    def can_bind(self, channel: str, sender_id: str) -> bool:
        return can_bind(channel, sender_id)


class Turn:
    """One message's work on one conversation."""

    def __init__(
        self, engine: DialogueEngine, message: InboundMessage, conversation: ConversationState
    ) -> None:
        self.engine = engine
        self.domain = engine.domain
        self.message = message
        self.channel = message.channel
        self.sender = f"{message.channel}:{message.sender_id}"
        self.now: datetime = engine.clock.now()
        self.state = DialogueState.restore(conversation.state, self.domain, conversation.language)
        hint = str(message.metadata.get("language") or "")
        if conversation.is_new and hint in LANGUAGES:
            self.state.slots[LANGUAGE_SLOT] = hint
        # The binding in the store, never a slot value from before, says who the sender is.
        self.state.slots[TAXPAYER_SLOT] = conversation.taxpayer_id
        self._close_abandoned_verification()
        self.key = (
            f"{message.channel}:{message.message_id}"
            if message.message_id is not None
            else f"conversation:{conversation.id}:{conversation.version}"
        )
        self.parse: Mapping[str, Any] = {}
        self.replies: list[OutboundMessage] = []

    @property
    def timestamp(self) -> float:
        return self.now.timestamp()

    def _close_abandoned_verification(self) -> None:
        """A verification form left unanswered for a while is closed, its answers forgotten."""
        if self.state.active_loop_name != LINK_FORM or not self.state.events:
            return
        last = self.state.events[-1].get("timestamp")
        if isinstance(last, int | float) and self.timestamp - last < ABANDONED_AFTER_SECONDS:
            return
        self.state.active_loop = {}
        for slot in (*self.domain.required_slots(LINK_FORM), REQUESTED_SLOT):
            self.state.slots[slot] = None

    async def run(self) -> list[OutboundMessage]:
        text = self.message.text.strip()
        start = START_COMMAND.match(text)
        if start:
            await self._start(start.group(1))
        elif not await self._passed_to_office(text):
            self.parse = self._understand(text)
            self._record_user(self.parse)
            await self._respond()
        if self.state.active_loop_name != LINK_FORM:
            for slot in policy.SENSITIVE_SLOTS:
                self.state.slots[slot] = None
        self.state.add(ActionExecuted("action_listen", timestamp=self.timestamp))
        return self.replies

    async def _passed_to_office(self, text: str) -> bool:
        """While a hand-off ticket is open the resident writes to the clerk: the message lands in
        the ticket's thread (once, under the turn's key) and the assistant only says so, once."""
        async with self.engine.sessions() as session:
            landed = await add_resident_message(
                session, self.channel, self.message.sender_id, text, self.key, self.now
            )
            await session.commit()
        if landed is None:
            return False
        self.state.add(
            UserUttered(mask_secrets(text), {"text": mask_secrets(text)}, timestamp=self.timestamp)
        )
        if landed.first and landed.new:
            self.state.add(ActionExecuted("utter_handoff_passed", timestamp=self.timestamp))
            self._emit({"response": "utter_handoff_passed", "ticket_ref": landed.ticket_ref})
        return True

    # --- understanding --------------------------------------------------------------------------

    def _understand(self, text: str) -> Mapping[str, Any]:
        payload = _PAYLOAD.match(text)
        if payload and payload.group(1) in self.domain.intents:
            return self._payload(text, payload.group(1), payload.group(2))
        parse = self.engine.nlu.parse(text, language_hint=self.state.language)
        language = parse.get("language")
        # Answers to a form's questions are fragments too short to tell a language by.
        follows = self.state.slots.get(LANGUAGE_CHOSEN_SLOT) or self.state.active_loop_name
        if language in LANGUAGES and not follows:
            self.state.slots[LANGUAGE_SLOT] = language
        return parse

    def _payload(self, text: str, intent: str, entities_json: str | None) -> dict[str, Any]:
        try:
            entities = jsonsafe.loads(entities_json) if entities_json else {}
        except jsonsafe.InvalidJSON:
            entities = {}
        if not isinstance(entities, dict):
            entities = {}
        return {
            "text": text,
            "language": self.state.language,
            "intent": {"name": intent, "confidence": 1.0},
            "entities": [
                {"entity": name, "value": value, "start": 0, "end": len(text)}
                for name, value in entities.items()
                if name in self.domain.entities
            ],
            "intent_ranking": [{"name": intent, "confidence": 1.0}],
        }

    def _record_user(self, parse: Mapping[str, Any]) -> None:
        secret = (
            self.state.active_loop_name == LINK_FORM
            and self.state.requested_slot in policy.SENSITIVE_SLOTS
        )
        text = parse.get("text")
        latest = {
            "text": REDACTED if secret else mask_secrets(text) if isinstance(text, str) else text,
            "intent": parse.get("intent"),
            "entities": [] if secret else mask_pesel_everywhere(list(parse.get("entities", []))),
            "intent_ranking": list(parse.get("intent_ranking", []))[:5],
            # Rasa's id of the message; here the turn's key, under which side effects happen once.
            "message_id": self.key,
        }
        reminder = self.message.metadata.get(REMINDER_METADATA)
        # A reminder's key (an outbox key: at most 200 characters), from its channel or a client.
        if isinstance(reminder, str) and len(reminder) <= 200:
            # Rasa's metadata of the message, as far as an action reads it.
            latest["metadata"] = {REMINDER_METADATA: reminder}
        self.state.latest_message = latest
        self.state.add(
            UserUttered(
                latest["text"], latest, timestamp=self.timestamp, input_channel=self.channel
            )
        )

    # --- policy ---------------------------------------------------------------------------------

    async def _start(self, token: str | None) -> None:
        self._record_user(
            {"text": "/start", "intent": {"name": "greet", "confidence": 1.0}, "entities": []}
        )
        if token is None:
            await self.run_action("action_greet")
            return
        if not self.engine.can_bind(self.channel, self.message.sender_id):
            self.utter("utter_chat_not_private")
            return
        async with self.engine.sessions() as session:
            taxpayer_id = await redeem_link_token(
                session, token, self.channel, self.message.sender_id, self.now
            )
            await session.commit()
        if taxpayer_id is None:
            self.utter("utter_link_token_refused")
            return
        self.state.slots[TAXPAYER_SLOT] = taxpayer_id
        form = self.state.active_loop_name
        if form == LINK_FORM:
            # Verified by the link: the PESEL-and-code form has nothing left to ask.
            await self._apply([ActiveLoop(None)])
            self._set_slots({name: None for name in self.domain.required_slots(form)})
        await self.run_action("action_link_welcome")
        if form not in (None, LINK_FORM) and self.state.requested_slot is not None:
            await self._ask(self.state.requested_slot)

    async def _respond(self) -> None:
        intent = policy.intent_name(self.parse)
        candidates = extract_slots(self.domain, self.state, self.parse)
        form = self.state.active_loop_name
        if form is not None:
            await self._continue_form(form, intent, candidates)
            return
        self._set_slots(candidates)
        pending = self.state.slots.get(policy.CLARIFY_SLOT)
        if pending:
            self._set_slots({policy.CLARIFY_SLOT: None})
            if intent in ("affirm", "deny"):
                intent = pending[0] if intent == "affirm" else "out_of_scope"
                await self._run_intent(intent)
                return
        choices = policy.clarification(self.parse)
        if choices:
            self._set_slots({policy.CLARIFY_SLOT: choices})
            self.utter(
                "utter_clarify",
                buttons=[
                    {"title": f"label_intent_{name}", "payload": f"/{name}"} for name in choices
                ],
            )
            return
        await self._run_intent(intent)

    async def _run_intent(self, intent: str) -> None:
        if intent == "link_account" and not self.engine.can_bind(
            self.channel, self.message.sender_id
        ):
            self.utter("utter_chat_not_private")
            return
        await self.run_action(policy.RULES.get(intent, "utter_out_of_scope"))

    # --- forms ----------------------------------------------------------------------------------

    async def _continue_form(self, form: str, intent: str, candidates: dict[str, Any]) -> None:
        requested = self.state.requested_slot
        shaped = policy.shaped_answer(self.parse, requested)
        if shaped is not None and requested is not None:
            candidates = {**candidates, requested: shaped}
        if policy.is_cancel(self.parse, requested):
            await self._cancel_form(form)
            return
        required = self.domain.required_slots(form)
        self._set_slots({k: v for k, v in candidates.items() if k not in required})
        answers = {k: v for k, v in candidates.items() if k in required}
        if requested is not None and requested not in answers:
            # Not an answer: a request runs (the unhappy path), or an answer to an earlier question
            # corrects it ("podatek rolny" at the summary); then the question comes again.
            if answers and policy.is_correction(intent):
                await self._validate(form, answers)
                if self.state.active_loop_name == form:
                    # A correction refused leaves its question open again: that comes first.
                    await self._next_or_submit(form)
                return
            if policy.is_request(intent):
                # Not the secret asked for, so its entities ("to English") reach the request.
                self.state.latest_message["entities"] = list(self.parse.get("entities", []))
                await self._run_intent(intent)
            if self.state.active_loop_name == form:
                await self._ask(requested)
            return
        await self._validate(form, answers)
        if self.state.active_loop_name == form:
            await self._next_or_submit(form)

    async def _activate(self, form: str) -> None:
        self.state.add(ActionExecuted(form, timestamp=self.timestamp))
        await self._apply([ActiveLoop(form)])
        required = self.domain.required_slots(form)
        # As Rasa does: slots already filled are validated; we also take this message's entities.
        values = {
            name: self.state.slots[name]
            for name in required
            if self.state.slots.get(name) is not None
        }
        values.update(extract_slots(self.domain, self.state, self.parse, only=required))
        if values:
            await self._validate(form, values)
        if self.state.active_loop_name == form:
            await self._next_or_submit(form)

    async def _validate(self, form: str, values: Mapping[str, Any]) -> None:
        candidates = [
            SlotSet(name, value, timestamp=self.timestamp) for name, value in values.items()
        ]
        validator = f"validate_{form}"
        if validator not in self.engine.executor.actions:
            await self._apply(candidates)
            return
        await self._execute(validator, candidates)

    async def _next_or_submit(self, form: str) -> None:
        missing = next(
            (
                name
                for name in self.domain.required_slots(form)
                if self.state.slots.get(name) is None
            ),
            None,
        )
        if missing is not None:
            self._set_slots({REQUESTED_SLOT: missing})
            await self._ask(missing)
            return
        await self._apply([ActiveLoop(None)])
        await self.run_action(policy.submit_action(form))

    async def _ask(self, slot: str) -> None:
        action = f"action_ask_{slot}"
        if action in self.engine.executor.actions:
            await self.run_action(action)
        else:
            self.utter(f"utter_ask_{slot}")

    async def _cancel_form(self, form: str) -> None:
        await self._apply([ActiveLoop(None)])
        self._set_slots({name: None for name in self.domain.required_slots(form)})
        self.utter("utter_form_cancelled")

    # --- actions and events ---------------------------------------------------------------------

    async def run_action(self, name: str) -> None:
        """Run an action, a form or a response, then the followups they ask for."""
        queue = [name]
        for _ in range(MAX_ACTIONS_PER_TURN):
            if not queue:
                return
            current = queue.pop(0)
            if current.startswith("utter_"):
                self.utter(current)
            elif self.domain.is_form(current):
                await self._activate(current)
            else:
                self.state.add(ActionExecuted(current, timestamp=self.timestamp))
                queue += await self._execute(current)
        log.error(
            "more than %s actions in one turn; stopped before %s", MAX_ACTIONS_PER_TURN, queue
        )

    async def _execute(self, name: str, extra_events: list[Event] | None = None) -> list[str]:
        """Run a custom action in process; returns the followup actions it asked for."""
        extra_events = extra_events or []
        call = action_call(self.domain, name, self.state, self.sender, self.channel, extra_events)
        try:
            result = await self.engine.executor.run(call)
        except Exception as exc:
            if isinstance(exc, DBAPIError) and exc.connection_invalidated:
                raise  # the whole turn is retried
            log.exception("action %s failed", name)
            self.utter("utter_error")
            return []
        if result is None:
            return []
        followups = await self._apply([*extra_events, *result.events])
        for response in result.responses:
            self._emit(response)
        return followups

    async def _apply(self, events: list[Event]) -> list[str]:
        followups: list[str] = []
        rebind = False
        for event in events:
            event = {**event, "timestamp": event.get("timestamp") or self.timestamp}
            kind = event.get("event")
            if kind == "slot" and event.get("name") == TAXPAYER_SLOT:
                # An action may say the sender is now verified; the store's binding decides.
                rebind = True
                continue
            if kind == "slot":
                self.state.slots[event["name"]] = event.get("value")
            elif kind == "active_loop":
                self.state.active_loop = {"name": event["name"]} if event.get("name") else {}
                if not event.get("name"):
                    self.state.slots[REQUESTED_SLOT] = None
            elif kind == "followup":
                followups.append(str(event["name"]))
            elif kind == "restart":
                self.state.restart(self.domain)
            elif kind == "reset_slots":
                self.state.reset_slots(self.domain)
            if kind == "slot" and event["name"] in policy.SENSITIVE_SLOTS and event.get("value"):
                event["value"] = REDACTED
            self.state.add(event)
        if rebind:
            async with self.engine.sessions() as session:
                taxpayer_id = await bound_taxpayer(session, self.channel, self.message.sender_id)
            self.state.slots[TAXPAYER_SLOT] = taxpayer_id
            self.state.add(SlotSet(TAXPAYER_SLOT, taxpayer_id, timestamp=self.timestamp))
        return followups

    def _set_slots(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            if name == TAXPAYER_SLOT or self.state.slots.get(name) == value:
                continue
            self.state.slots[name] = value
            self.state.add(SlotSet(name, value, timestamp=self.timestamp))

    # --- responses ------------------------------------------------------------------------------

    def utter(self, response: str, buttons: list[dict[str, str]] | None = None) -> None:
        """A response of the engine's own, recorded as Rasa records an `utter_…` action."""
        self.state.add(ActionExecuted(response, timestamp=self.timestamp))
        self._emit({"response": response, "buttons": buttons or []})

    def _emit(self, response: Mapping[str, Any]) -> None:
        verified = self.state.slots.get(TAXPAYER_SLOT) is not None
        text, buttons, image, key = render_message(response, self.state.language, verified)
        if not (text or buttons or image):
            return
        self.replies.append(
            OutboundMessage(self.message.sender_id, text, buttons, image, self.state.language)
        )
        self.state.add(
            BotUttered(
                text,
                data={"buttons": [_button_json(b) for b in buttons], "image": image},
                metadata={"utter_action": key},
                timestamp=self.timestamp,
            )
        )


def _button_json(button: Button) -> dict[str, str]:
    return {"title": button.title, "payload": button.payload}


def _reply_json(reply: OutboundMessage) -> dict[str, Any]:
    return {
        "text": reply.text,
        "buttons": [_button_json(button) for button in reply.buttons],
        "image": reply.image,
    }


def _outbound(recipient_id: str, reply: Mapping[str, Any]) -> OutboundMessage:
    buttons = tuple(Button(b["title"], b["payload"]) for b in reply.get("buttons", []))
    return OutboundMessage(recipient_id, reply["text"], buttons, reply.get("image"))
