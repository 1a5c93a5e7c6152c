"""What a verified taxpayer owes, and the transfer details to pay it.

Figures come from `storage.balances.balance_to_json`, the same object `gmina balance --json`
prints, so the chat and the operator see one set of numbers. Sums per kind add those figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import services
from actions.common import (
    KIND_SLOT,
    LANGUAGE_SLOT,
    VERIFY_BUTTON,
    DomainDict,
    Event,
    GminaAction,
    answered_reminder_key,
    consumed,
    intent_button,
    named_kind,
    offer_verification,
    sender,
)
from kernel.clock import WARSAW
from kernel.i18n import normalise_language
from kernel.money import format_plain
from payments.links import hand_out_link
from payments.titles import plan_transfers
from storage.balances import balance_to_json, taxpayer_balance
from storage.bindings import bound_taxpayer_summary
from storage.reminder_plan import Reminded, latest_reminder
from storage.taxpayers import TaxpayerSummary

Row = dict[str, Any]


@dataclass(frozen=True)
class Statement:
    """A verified taxpayer's balance as `gmina balance --json` gives it."""

    taxpayer: TaxpayerSummary
    as_of: date
    data: dict[str, Any]

    @property
    def rows(self) -> list[Row]:
        rows: list[Row] = self.data["obligations"]
        return rows

    def is_overdue(self, row: Row) -> bool:
        return date.fromisoformat(row["effective_due_date"]) < self.as_of


async def load_statement(tracker: Tracker) -> Statement | None:
    """The sender's balance today, or None when the sender is not verified."""
    channel, sender_id = sender(tracker)
    current = services.current()
    today = current.today()
    async with services.session() as session:
        summary = await bound_taxpayer_summary(session, channel, sender_id)
        if summary is None:
            return None
        balance = await taxpayer_balance(
            session,
            summary.ref,
            today,
            current.ledger_policy,
            rates=await current.rate_tables.get(session),
        )
    if balance is None:
        return None
    return Statement(summary, today, balance_to_json(balance))


def total(rows: Iterable[Row], field: str = "total") -> str:
    return format_plain(sum((Decimal(row[field]) for row in rows), Decimal(0)))


def by_kind(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Rows grouped by kind, kinds in the order of their first due date."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row["kind"], []).append(row)
    return groups


def _interest_line(rows: Sequence[Row]) -> list[dict[str, Any]]:
    interest = total(rows, "interest")
    if Decimal(interest) == 0:
        return []
    return [{"response": "utter_balance_interest_line", "interest_amount": interest}]


class ActionCheckBalance(GminaAction):
    def name(self) -> str:
        return "action_check_balance"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        events = consumed(tracker, KIND_SLOT)
        statement = await load_statement(tracker)
        if statement is None:
            offer_verification(dispatcher)
            return events
        kind = named_kind(tracker)
        if kind is None:
            self._whole(dispatcher, statement)
        else:
            self._one_kind(dispatcher, statement, kind)
        overpayment = statement.data["overpayment"]
        if Decimal(overpayment) > 0:
            dispatcher.utter_message(
                response="utter_balance_overpayment", overpayment_amount=overpayment
            )
        return events

    def _whole(self, dispatcher: CollectingDispatcher, statement: Statement) -> None:
        if not statement.rows:
            dispatcher.utter_message(
                response="utter_balance_nothing_due", date=statement.as_of.isoformat()
            )
            return
        lines: list[dict[str, Any]] = []
        for kind, rows in by_kind(statement.rows).items():
            lines.append(
                {
                    "response": "utter_balance_kind_line",
                    "kind": kind,
                    "amount": total(rows),
                    "count": len(rows),
                    "due_date": rows[0]["effective_due_date"],
                }
            )
            lines += _interest_line(rows)
        self._answer(
            dispatcher, statement, lines, statement.data["total"], statement.data["overdue"]
        )

    def _one_kind(self, dispatcher: CollectingDispatcher, statement: Statement, kind: str) -> None:
        rows = [row for row in statement.rows if row["kind"] == kind]
        if not rows:
            dispatcher.utter_message(
                response="utter_balance_kind_nothing_due",
                date=statement.as_of.isoformat(),
                kind=kind,
            )
            return
        lines: list[dict[str, Any]] = []
        for row in rows:
            lines.append(
                {
                    "response": "utter_balance_instalment_line",
                    "due_date": row["effective_due_date"],
                    "amount": row["total"],
                }
            )
            lines += _interest_line([row])
        overdue = total(row for row in rows if statement.is_overdue(row))
        self._answer(dispatcher, statement, lines, total(rows), overdue, kind)

    def _answer(
        self,
        dispatcher: CollectingDispatcher,
        statement: Statement,
        lines: list[dict[str, Any]],
        total_amount: str,
        overdue_amount: str,
        kind: str | None = None,
    ) -> None:
        """The lines and their total, headed by the levy they cover when it is one levy only."""
        dispatcher.utter_message(
            response="utter_balance" if kind is None else "utter_balance_kind",
            date=statement.as_of.isoformat(),
            lines=lines,
            total_amount=total_amount,
            kind=kind,
            buttons=[intent_button("pay"), intent_button("list_deadlines")],
        )
        if Decimal(overdue_amount) > 0:
            dispatcher.utter_message(
                response="utter_balance_overdue", overdue_amount=overdue_amount
            )


def rows_to_pay(statement: Statement, kind: str | None) -> list[Row]:
    """What "pay" means without a reminder to answer: of the kind asked for or of all, what is
    due by today, or failing that the next instalments due on one day."""
    rows = statement.rows
    if kind is not None:
        rows = [row for row in rows if row["kind"] == kind]
    if not rows:
        return []
    due_now = [
        row for row in rows if date.fromisoformat(row["effective_due_date"]) <= statement.as_of
    ]
    if due_now:
        return due_now
    first = rows[0]["effective_due_date"]
    return [row for row in rows if row["effective_due_date"] == first]


async def answered_reminder(tracker: Tracker, taxpayer_id: int) -> Reminded | None:
    """The reminder a "PAY" answers, within `reminders.reply_window_days`: the one its channel
    named (an SMS reply to an SMS reminder, a Telegram reminder's button), else the newest sent
    to the taxpayer. The "PAY" then pays exactly what it listed (the coverage rows)."""
    current = services.current()
    since = current.now() - timedelta(days=current.settings.reminders.reply_window_days)
    async with services.session() as session:
        return await latest_reminder(session, taxpayer_id, since, answered_reminder_key(tracker))


def _refs(rows: Iterable[Row]) -> list[str]:
    return [row["obligation_ref"] for row in rows]


class ActionPay(GminaAction):
    def name(self) -> str:
        return "action_pay"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[Event]:
        events = consumed(tracker, KIND_SLOT)
        statement = await load_statement(tracker)
        if statement is None:
            dispatcher.utter_message(response="utter_pay_general", buttons=[VERIFY_BUTTON])
            return events
        kind = named_kind(tracker)
        reminded = None if kind else await answered_reminder(tracker, statement.taxpayer.id)
        if reminded is not None:
            # Exactly what the reminder listed, as it stands now.
            rows = [row for row in statement.rows if row["obligation_ref"] in reminded.refs]
            if not rows:
                dispatcher.utter_message(
                    response="utter_pay_reminder_paid", date=reminded.on_date.isoformat()
                )
                return events
        else:
            rows = rows_to_pay(statement, kind)
        if not rows:
            dispatcher.utter_message(response="utter_pay_nothing_due")
            return events
        account = statement.taxpayer.account_number
        if not account:
            dispatcher.utter_message(response="utter_pay_no_account")
            return events
        self._transfers(dispatcher, statement, account, rows)
        await self._link(dispatcher, tracker, statement, rows)
        if any(statement.is_overdue(row) for row in rows):
            dispatcher.utter_message(
                response="utter_pay_overdue_note", date=statement.as_of.isoformat()
            )
        else:
            dispatcher.utter_message(
                response="utter_pay_due_note", due_date=rows[0]["effective_due_date"]
            )
        return events

    def _transfers(
        self, dispatcher: CollectingDispatcher, statement: Statement, account: str, rows: list[Row]
    ) -> None:
        recipient = services.current().settings.city.office_name
        transfers = plan_transfers(statement.taxpayer.ref, rows)
        if len(transfers) > 1:
            dispatcher.utter_message(
                response="utter_pay_transfers", count=len(transfers), total_amount=total(rows)
            )
        for transfer in transfers:
            dispatcher.utter_message(
                response="utter_pay_details",
                recipient=recipient,
                account=account,
                title=transfer.title,
                amount=format_plain(transfer.amount),
            )

    async def _link(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        statement: Statement,
        rows: list[Row],
    ) -> None:
        """The payment link to these obligations: pay online, or the details with a QR code.
        A payment made through it is receipted back in this chat."""
        current = services.current()
        channel, sender_id = sender(tracker)
        language = normalise_language(
            tracker.get_slot(LANGUAGE_SLOT) or statement.taxpayer.language
        )
        async with services.session() as session:
            link = await hand_out_link(
                session,
                current.settings,
                statement.taxpayer.id,
                _refs(rows),
                current.now(),
                language=language,
                source="chat",
                channel=channel,
                recipient=sender_id,
            )
            await session.commit()
        dispatcher.utter_message(
            response="utter_pay_link",
            url=link.url,
            until_date=link.expires_at.astimezone(WARSAW).date().isoformat(),
        )
