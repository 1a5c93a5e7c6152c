"""The English source of every resident-facing message, by key.

Keys are Rasa response names (`utter_…`) and labels (`label_<group>_<value>`); the key is the
gettext context (msgctxt) and the English text the msgid, so two keys may share a text and a
translator always sees which message they are translating. `N_` and `NP_` only mark strings for
`pybabel extract -k N_:1c,2 -k NP_:1c,2,3`; `kernel.i18n` renders them in pl, en and uk.

Placeholders are `str.format` names; `kernel.i18n.render` formats a value by its name (money,
dates, labels, nested lines), and `count` chooses the plural form.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plural:
    singular: str
    plural: str


Entry = tuple[str, "str | Plural"]


def N_(key: str, text: str) -> Entry:
    """gettext_noop with a context: marks `text` for extraction under `key`."""
    return key, text


def NP_(key: str, singular: str, plural: str) -> Entry:
    return key, Plural(singular, plural)


_SMALL_TALK = [
    N_(
        "utter_greet",
        "Hello! This is the local taxes and fees assistant of {office}. I can tell you what you "
        "owe and by when, give you the transfer details, help you submit a form and follow your "
        "cases. What can I do for you?",
    ),
    N_("utter_greet_verified", "Hello, {name}! What can I do for you today?"),
    N_("utter_goodbye", "Goodbye! Write to me whenever you need."),
    N_("utter_thanks", "You're welcome! Is there anything else I can do for you?"),
    N_("utter_anything_else", "All right. What else can I do for you?"),
    N_(
        "utter_help",
        "Here is what I can do:\n"
        "• what you owe: “how much do I owe?”\n"
        "• deadlines: “when do I pay?”\n"
        "• transfer details: “pay”\n"
        "• forms: a change of the waste declaration, a certificate of no tax arrears, "
        "instalments\n"
        "• the status of your cases\n"
        "• reminders by SMS, Telegram or e-mail\n"
        "• a person at the tax office: “talk to a person”\n"
        "Write “change language” to switch to Polish or Ukrainian.",
    ),
    N_(
        "utter_out_of_scope",
        "Sorry, I did not understand. I help with local taxes and fees: what you owe and by "
        "when, how to pay, forms and cases. Write “help” to see everything.",
    ),
    N_(
        "utter_error",
        "Sorry, something went wrong on my side. Please try again in a moment.",
    ),
    N_("utter_clarify", "I am not sure I understood. Did you mean one of these?"),
    N_("utter_ask_language", "Which language shall I write in?"),
    N_("utter_language_changed", "From now on I will write in English."),
]

_VERIFICATION = [
    N_(
        "utter_verify_offer",
        "For this I must first confirm who you are, because tax information is confidential. "
        "You can open the chat link from the city's e-services after signing in with "
        "login.gov.pl, or verify here with your PESEL (or NIP) and the activation code printed "
        "on your tax decision.",
    ),
    N_(
        "utter_ask_identifier", "Please write your PESEL number (or NIP, if you pay as a business)."
    ),
    N_(
        "utter_identifier_invalid",
        "This is not a valid PESEL or NIP. Please check it and write it again, or write “cancel”.",
    ),
    N_(
        "utter_ask_activation_code",
        "Now write the activation code printed on your tax decision (8 characters, e.g. "
        "ABCD-EFGH).",
    ),
    N_(
        "utter_activation_code_invalid",
        "An activation code has 8 letters and digits, e.g. ABCD-EFGH. Please write it again.",
    ),
    N_(
        "utter_verified",
        "Thank you, {name}. This chat is now linked to your tax account: ask me what you owe, by "
        "when, and how to pay.",
    ),
    N_(
        "utter_verify_rejected",
        "I could not confirm your identity with these details. Check the number and the code and "
        "try again: write “verify”.",
    ),
    N_(
        "utter_verify_locked",
        "For your security, verifying with these details is locked until {time}: there were too "
        "many wrong tries ({sender_limit} in one chat, or {taxpayer_limit} for one taxpayer from "
        "any chats, within an hour). To get in now, open the chat link from the city's "
        "e-services after signing in with login.gov.pl, or ask the tax office for a link.",
    ),
    N_("utter_already_verified", "This chat is already linked to the tax account of {name}."),
    N_(
        "utter_link_token_refused",
        "This link is no longer valid: it has been used or it has expired. Please get a new one "
        "from the city's e-services.",
    ),
    N_(
        "utter_chat_not_private",
        "This chat cannot be linked to a tax account because its address is not private. Please "
        "use the city's web chat or Telegram.",
    ),
]

_BALANCE = [
    N_("utter_balance", "Your balance as of {date}:\n{lines}\nTotal to pay: {total_amount}."),
    NP_(
        "utter_balance_kind_line",
        "• {kind}: {amount} ({count} instalment, due {due_date})",
        "• {kind}: {amount} ({count} instalments, due from {due_date})",
    ),
    N_("utter_balance_instalment_line", "• due {due_date}: {amount}"),
    N_("utter_balance_interest_line", "  including interest on arrears: {interest_amount}"),
    N_(
        "utter_balance_overdue",
        "Of this, {overdue_amount} is past due; interest on arrears grows every day until you pay.",
    ),
    N_(
        "utter_balance_overpayment",
        "You also have an overpayment of {overpayment_amount}; the office will refund it or set "
        "it against your next payments.",
    ),
    N_("utter_balance_nothing_due", "As of {date} you owe nothing. Thank you!"),
    N_("utter_balance_kind_nothing_due", "As of {date} you owe nothing for: {kind}."),
]

_DEADLINES = [
    N_("utter_deadlines", "Your next payments:\n{lines}"),
    N_("utter_deadline_line", "• {due_date}: {kind}, {amount}"),
    N_("utter_deadline_line_moved", "• {due_date} (moved from {statutory_date}): {kind}, {amount}"),
    N_("utter_deadlines_none", "You have no unpaid instalments: nothing to pay for now."),
    N_(
        "utter_deadlines_general",
        "Payment dates of local taxes and fees:\n{lines}\nWhen a date falls on a Saturday, "
        "Sunday or public holiday, you pay by the next working day (the dates above already allow "
        "for it). Your own instalments are on your tax decision; once you verify, I can show them "
        "here.",
    ),
    N_("utter_deadline_rule_line", "• {kind}: {dates}"),
]

_PAY = [
    N_(
        "utter_pay_details",
        "Transfer details:\nRecipient: {recipient}\nAccount: {account}\nTitle: {title}\n"
        "Amount: {amount}",
    ),
    N_(
        "utter_pay_overdue_note",
        "This is what is past due, with interest as of {date}; interest grows every day until "
        "you pay.",
    ),
    N_("utter_pay_due_note", "Please pay by {due_date}."),
    N_("utter_pay_nothing_due", "You have nothing to pay right now. Thank you!"),
    N_(
        "utter_pay_no_account",
        "I have no individual account number on record for you. Please use the account shown on "
        "your tax decision or ask the tax office.",
    ),
    N_(
        "utter_pay_general",
        "You can pay local taxes and fees by bank transfer to the individual account number "
        "printed on your tax decision, or at the city hall's cash desk. Once you verify, I can "
        "give you the exact amount and transfer details here.",
    ),
    N_(
        "utter_pay_link",
        "Pay online, or see these details with a QR code for your banking app: {url}\n"
        "The link works until {until_date}.",
    ),
    N_(
        "utter_payment_receipt",
        "Thank you! We have received your payment of {amount}, made on {paid_date}, and booked "
        "it to your taxes and fees.",
    ),
]

_FORMS = [
    N_("utter_ask_form_type", "Which matter would you like to deal with?"),
    N_("utter_ask_residents_count", "How many people live at the property now?"),
    N_("utter_residents_count_invalid", "Please write the number of residents in digits, e.g. 3."),
    N_("utter_ask_change_date", "Since what date? (e.g. 1.03.2027)"),
    N_(
        "utter_change_date_invalid",
        "Please write a date as day.month.year, e.g. 1.03.2027, no later than three months from "
        "today.",
    ),
    N_(
        "utter_ask_purpose",
        "What do you need the certificate for, e.g. a bank loan or a public tender?",
    ),
    N_("utter_purpose_invalid", "Please describe the purpose in a few words."),
    N_(
        "utter_ask_installments_obligation",
        "Which payment would you like to spread into instalments? Choose one of yours below, or "
        "write “cancel” to stop.",
    ),
    N_("utter_installments_obligation_invalid", "That is not one of your payments."),
    N_("utter_ask_installments_count", "Into how many instalments (from 2 to 24)?"),
    N_("utter_installments_count_invalid", "Please write a number of instalments from 2 to 24."),
    N_(
        "utter_ask_installments_reason",
        "Briefly, why do you ask for instalments? The office decides with regard to an important "
        "interest of the taxpayer or the public interest.",
    ),
    N_("utter_installments_reason_invalid", "Please write the reason in a few words."),
    NP_(
        "utter_summary_waste_declaration_change",
        "Please check: a change of the waste-fee declaration: from {change_date}, {count} person "
        "lives at the property. A changed declaration is due by {deadline_date}. Shall I submit "
        "it?",
        "Please check: a change of the waste-fee declaration: from {change_date}, {count} people "
        "live at the property. A changed declaration is due by {deadline_date}. Shall I submit "
        "it?",
    ),
    N_(
        "utter_summary_no_arrears_certificate",
        "Please check: a request for a certificate of no tax arrears (ZAS-W), purpose: {purpose}. "
        "The stamp duty is {fee_amount}; the office issues the certificate within 7 days. Shall I "
        "submit it?",
    ),
    NP_(
        "utter_summary_installments",
        "Please check: a request to pay in {count} instalment: {kind}; reason: {reason}. Shall I "
        "submit it?",
        "Please check: a request to pay in {count} instalments: {kind}; reason: {reason}. Shall I "
        "submit it?",
    ),
    N_(
        "utter_form_submitted",
        "Submitted. Your case number is {case_ref}. Ask me about its status any time.",
    ),
    N_("utter_form_cancelled", "Cancelled. Nothing was submitted."),
]

_CASES = [
    NP_("utter_cases", "You have {count} case:\n{lines}", "You have {count} cases:\n{lines}"),
    N_("utter_case_line", "• {case_ref}: {form_type}, submitted {created_date}: {status}"),
    N_(
        "utter_case_status",
        "Case {case_ref}: {form_type}, submitted {created_date}. Status: {status}.",
    ),
    N_(
        "utter_case_status_note",
        "Case {case_ref}: {form_type}, submitted {created_date}. Status: {status}. The office's "
        "note: {note}",
    ),
    N_("utter_cases_none", "You have no cases submitted through this assistant yet."),
    # Told on the resident's channel when the office moves their case (storage.case_moves).
    N_("notice_case_moved", "Your case {case_ref} ({form_type}) has a new status: {status}."),
    N_(
        "notice_case_moved_note",
        "Your case {case_ref} ({form_type}) has a new status: {status}. The office's note: {note}",
    ),
    N_(
        "utter_case_not_found",
        "I cannot find the case {case_ref} among yours. Check the number, or write “my cases” to "
        "see them all.",
    ),
]

_SUBSCRIPTIONS = [
    N_("utter_subscribed", "Done, switched on: {category} ({channel})."),
    N_("utter_unsubscribed", "Done, switched off: {category} ({channel})."),
    N_(
        "utter_unsubscribed_all", "Done, switched off: all reminders and announcements ({channel})."
    ),
    N_("utter_ask_subscription_channel", "By which channel: SMS, e-mail or Telegram?"),
]

_HANDOFF = [
    N_(
        "utter_handoff",
        "I have passed our conversation to the tax office staff (ticket {ticket_ref}). Someone "
        "will answer you here as soon as possible.",
    ),
    # While the ticket is open the assistant stays quiet; it says this once, at the first message.
    N_(
        "utter_handoff_passed",
        "I have passed your message to the tax office staff (ticket {ticket_ref}). They will "
        "answer you here; until then I will not answer myself.",
    ),
    # A clerk's answer from the staff panel (bot/panel/handoffs.py), as the resident gets it.
    N_("handoff_staff_answer", "The tax office (ticket {ticket_ref}):\n{text}"),
    N_(
        "handoff_closed",
        "The tax office has closed ticket {ticket_ref}. From now on the assistant answers you "
        "again; write “I want to talk to a person” if you need the staff again.",
    ),
]

_LABELS = [
    N_("label_kind_property_tax", "property tax"),
    N_("label_kind_agricultural_tax", "agricultural tax"),
    N_("label_kind_forest_tax", "forest tax"),
    N_("label_kind_vehicle_tax", "tax on means of transport"),
    N_("label_kind_waste_fee", "waste collection fee"),
    N_("label_kind_dog_fee", "dog fee"),
    N_("label_kind_perpetual_usufruct", "perpetual usufruct fee"),
    N_("label_kind_other_fee", "other fee"),
    N_("label_form_type_waste_declaration_change", "change of the waste declaration"),
    N_("label_form_type_no_arrears_certificate", "certificate of no tax arrears"),
    N_("label_form_type_installments", "instalments or deferral"),
    N_("label_category_reminders", "payment reminders"),
    N_("label_category_announcements", "city announcements"),
    N_("label_channel_sms", "SMS"),
    N_("label_channel_email", "e-mail"),
    N_("label_channel_telegram", "Telegram"),
    N_("label_channel_rest", "web chat"),
    N_("label_channel_console", "this chat"),
    N_("label_status_submitted", "submitted, waiting to be reviewed"),
    N_("label_status_in_review", "being reviewed"),
    N_("label_status_decided", "decided"),
    N_("label_status_rejected", "rejected"),
    N_("label_intent_check_balance", "What I owe"),
    N_("label_intent_list_deadlines", "Payment dates"),
    N_("label_intent_pay", "How to pay"),
    N_("label_intent_start_form", "Submit a form"),
    N_("label_intent_case_status", "My cases"),
    N_("label_intent_link_account", "Verify"),
    N_("label_intent_subscribe_reminders", "Reminders"),
    N_("label_intent_unsubscribe", "Stop messages"),
    N_("label_intent_human_handoff", "Talk to a person"),
    N_("label_intent_change_language", "Change language"),
    N_("label_intent_help", "Help"),
    N_("label_intent_greet", "Hello"),
    N_("label_intent_goodbye", "Goodbye"),
    N_("label_intent_thanks", "Thanks"),
    N_("label_yes", "Yes"),
    N_("label_no", "No"),
    N_("label_verify_now", "Verify now"),
    # Each language's name in itself: the same in every catalogue.
    N_("label_language_pl", "Polski"),
    N_("label_language_en", "English"),
    N_("label_language_uk", "Українська"),
]

# Issue 6: a conversation that holds on every path.
_HOLDS = [
    N_(
        "utter_form_not_submitted",
        "Nothing was submitted: I no longer have the form's answers. Please start it again.",
    ),
    N_(
        "utter_declaration_late",
        "The time to declare this change has passed: it was due by {deadline_date}. Submit it "
        "now all the same: the fee follows the change from the month it happened, and without a "
        "declaration the office sets the fee itself in a decision.",
    ),
    N_("utter_installments_kind_not_owed", "You owe nothing for: {kind}."),
    N_(
        "utter_balance_kind",
        "Your balance for {kind} as of {date}:\n{lines}\nTotal for {kind}: {total_amount}.",
    ),
    N_(
        "utter_explain_activation_code",
        "The activation code is 8 letters and digits (e.g. ABCD-EFGH) printed on your tax "
        "decision. With it and your PESEL (or NIP) you can verify here: write “verify”. No "
        "decision at hand? The tax office gives you a new code, or open the chat link from the "
        "city's e-services after signing in with login.gov.pl.",
    ),
    NP_(
        "utter_pay_transfers",
        "To pay {total_amount}, make {count} transfer as below: each title names what it pays, so "
        "the office books every instalment.",
        "To pay {total_amount}, make {count} transfers as below: each title names what it pays, "
        "so the office books every instalment.",
    ),
    N_("utter_deadlines_no_upcoming", "You have no instalments coming due."),
    NP_(
        "utter_deadlines_overdue",
        "Past due: {count} instalment, {overdue_amount} as of {date}:\n{lines}",
        "Past due: {count} instalments, {overdue_amount} as of {date}:\n{lines}",
    ),
    N_(
        "utter_deadlines_interest",
        "Of this, {interest_amount} is interest on arrears, which grows every day until you pay.",
    ),
    NP_(
        "utter_deadlines_more",
        "… and {count} more instalment, {total_amount} in all.",
        "… and {count} more instalments, {total_amount} in all.",
    ),
    N_("label_show_all", "Show all"),
    N_(
        "utter_handoff_joined",
        "Your conversation is already with the tax office staff (ticket {ticket_ref}); I have "
        "added your latest messages to it. Someone will answer you here as soon as possible.",
    ),
    N_(
        "utter_form_repeated",
        "You have already submitted this very application: case {case_ref}. Answer “yes” only "
        "if you want to submit it again.",
    ),
    N_(
        "utter_office_contact",
        "The tax office: {office}, {address}. Opening hours: {office_hours}. Phone: "
        "{office_phone}.",
    ),
    N_(
        "utter_matter_dog_registration",
        "I cannot register a dog in the chat. Register it with the tax office on its form, in "
        "person or through ePUAP; the council sets the dog fee and the date to pay it.",
    ),
    N_(
        "utter_matter_property_information",
        "I cannot file a property information (IN-1) in the chat. Submit it to the tax office "
        "within 14 days of buying, building or selling, in person or through ePUAP; there is "
        "no fee.",
    ),
    N_(
        "utter_matter_vehicle_tax_return",
        "I cannot file a tax return for means of transport (DT-1) in the chat. Submit it to the "
        "tax office by 15 February, or within 14 days of registering a vehicle, in person or "
        "through ePUAP; there is no fee.",
    ),
    N_(
        "utter_matter_declaration_correction",
        "I cannot correct a tax declaration in the chat. Submit the correction with a short "
        "explanation to the tax office at any time, in person or through ePUAP; there is no "
        "fee.",
    ),
    N_(
        "utter_matter_arrears_write_off",
        "I cannot file a request to write off arrears in the chat. Send the tax office a "
        "request with your reasons and your household's situation, in person or through ePUAP; "
        "it usually decides within a month, and there is no fee.",
    ),
    N_(
        "utter_matter_overpayment_refund",
        "I cannot file a refund of an overpayment in the chat. Ask the tax office in writing, "
        "in person or through ePUAP, giving the account for the refund; it is paid within 30 "
        "days, and there is no fee.",
    ),
    N_(
        "utter_matter_tax_certificate",
        "I cannot request this certificate in the chat. Ask the tax office in person or "
        "through ePUAP; it is issued within 7 days, and the stamp duty is {fee_amount}.",
    ),
    N_(
        "utter_matter_power_of_attorney",
        "I cannot file a power of attorney in the chat. Submit form PPS-1 (or PPD-1) to the "
        "tax office in person or through ePUAP; the stamp duty is {fee_amount} (close family "
        "is exempt).",
    ),
    N_(
        "utter_matter_farm_fuel_refund",
        "I cannot file a refund of the excise on farm diesel in the chat. Apply to the mayor "
        "with your fuel invoices in the application windows (in 2026: 2 February–2 March and "
        "3–31 August), in person or through ePUAP.",
    ),
]

MESSAGES: dict[str, str | Plural] = dict(
    _SMALL_TALK
    + _VERIFICATION
    + _BALANCE
    + _DEADLINES
    + _PAY
    + _FORMS
    + _CASES
    + _SUBSCRIPTIONS
    + _HANDOFF
    + _LABELS
    + _HOLDS
)

# --- The web chat page's own words (bot/static/chat.*), served to the page by bot.webchat. ---
# `{city}`, `{length}` and `{limit}` are filled in by the page's script, not by kernel.i18n.
_WEB_CHAT = [
    N_("web_page_title", "{city} – local taxes and fees assistant"),
    N_("web_heading", "Local taxes and fees assistant"),
    N_("web_skip_to_message", "Skip to the message box"),
    N_("web_intro_heading", "How can I see what I owe?"),
    N_(
        "web_intro_text",
        "General questions are answered for everyone. Amounts, deadlines and cases are shown only "
        "after you confirm who you are:",
    ),
    N_(
        "web_intro_token",
        "with a one-time code from the city portal (after signing in with login.gov.pl) or from "
        "the tax office, type:",
    ),
    N_("web_intro_command", "/start CODE"),
    N_(
        "web_intro_code",
        "or give your PESEL (or NIP) and the activation code printed on your tax decision.",
    ),
    N_("web_transcript_label", "Conversation with the assistant"),
    N_("web_message_label", "Your message"),
    N_("web_message_hint", "Enter sends the message, Shift+Enter starts a new line."),
    N_("web_send", "Send"),
    N_("web_you", "You"),
    N_("web_assistant", "Assistant"),
    N_("web_suggestions", "Suggested answers"),
    N_("web_image_alt", "Image from the assistant"),
    N_("web_busy", "The assistant is answering…"),
    N_("web_send_failed", "The message could not be sent. Please try again in a moment."),
    N_(
        "web_too_long",
        "This message is too long to send: {length} characters, and at most {limit} fit. "
        "Please shorten it; nothing has been cut.",
    ),
    N_("web_new_conversation", "New conversation"),
    N_(
        "web_new_conversation_done",
        "A new conversation has started. The previous one is no longer shown in this browser.",
    ),
    N_("web_noscript", "The chat needs JavaScript switched on."),
]

MESSAGES.update(_WEB_CHAT)

# The SMS channel (bot/channels/sms.py) and what every SMS carries (notifier/sms_segments.py).
_SMS = [
    N_("sms_choice", "{number} – {title}"),
    N_("sms_choices", "Reply {choices}"),
    N_("sms_rest_in_web_chat", "The rest in the web chat: {url}"),
    N_(
        "sms_stopped",
        "{office}: you will get no more reminders or announcements by SMS. To get them again, "
        "reply START.",
    ),
    N_(
        "sms_started",
        "{office}: reminders and announcements by SMS are on again. To stop them, reply STOP.",
    ),
    N_(
        "sms_help",
        "{office}: the local taxes and fees assistant. Ask what you owe, about deadlines and "
        "payments. Reply STOP to get no reminders or announcements by SMS. The office's phone: "
        "{phone}.",
    ),
]

MESSAGES.update(_SMS)

# --- Telegram's own words (bot/channels/telegram.py): answers without a turn, the command menu. ---
_TELEGRAM = [
    N_(
        "telegram_private_only",
        "I work in private chats only, so that nobody else sees your matters. Please write to me "
        "directly.",
    ),
    N_(
        "telegram_text_only",
        "I can read text messages only. Please write your question in words.",
    ),
    N_("telegram_button_expired", "This button no longer works. Please write your question."),
    N_("telegram_command_start", "Start, or link your tax account"),
    N_("telegram_command_help", "What I can do"),
    N_("telegram_command_check_balance", "How much I owe"),
    N_("telegram_command_list_deadlines", "When to pay"),
    N_("telegram_command_pay", "Transfer details"),
    N_("telegram_command_change_language", "Change the language"),
]

MESSAGES.update(_TELEGRAM)
# Issue 9: reminders (notifier.reminders) and the answers about them in the chat.
_REMINDERS = [
    N_(
        "utter_subscribe_no_address",
        "The tax office has no {channel} address of yours on record, so I cannot remind you "
        "there. Give it to the office, or choose another channel.",
    ),
    N_(
        "utter_pay_reminder_paid",
        "Everything in the reminder of {date} is paid already. Thank you!",
    ),
    N_("reminder_intro", "{office} reminds you of your local taxes and fees:\n{lines}"),
    N_("reminder_line_due", "• {kind}: {amount}, due {due_date}"),
    N_("reminder_line_late", "• {kind}: {amount}, was due {due_date}"),
    N_("reminder_transfer", "Transfer {amount} to {recipient}, account {account}, title: {title}"),
    N_("reminder_reply", "Reply “PAY” to get the way to pay, as it stands then."),
    N_("reminder_sms_full", "{office}: {total_amount} to pay ({kinds}), due {dates}. Reply PAY."),
    N_("reminder_sms_no_amount", "{office}: a reminder of {kinds}, due {dates}. Reply PAY."),
    # After `reminder_sms_full`, on its own line: the link to pay exactly what it lists.
    N_("reminder_sms_link", "Pay: {url}"),
    N_("reminder_sms_minimal", "{office}: a reminder of a payment. Reply PAY for the details."),
    N_("label_pay_button", "Pay"),
]

MESSAGES.update(_REMINDERS)

# --- E-mail (notifier/templates/email/) and its unsubscribe page (notifier/unsubscribe.py). ---
_EMAIL = [
    N_("email_subject_reminder", "Payment reminder – {office}"),
    N_("email_subject_announcement", "Announcement – {office}"),
    N_("email_subject_receipt", "Payment received – {office}"),
    N_("email_subject_handoff_reply", "Reply from the tax office – {office}"),
    N_("email_subject_verification", "Your code – {office}"),
    N_("email_subject_chat_reply", "Message from the assistant – {office}"),
    N_("email_subject_case_update", "Your case – {office}"),
    N_("email_greeting", "Good day,"),
    N_("email_signature", "Kind regards,"),
    N_(
        "email_automatic",
        "This message was sent automatically; replies to it are not read. Questions: {phone} "
        "({hours}).",
    ),
    N_("email_why_reminders", "You get payment reminders by e-mail because you agreed to."),
    N_("email_why_announcements", "You get city announcements by e-mail because you agreed to."),
    N_("email_unsubscribe_link", "Unsubscribe from these e-mails"),
    N_("email_unsubscribe_text", "To stop receiving them, open: {url}"),
    N_("unsubscribe_title", "Unsubscribe – {office}"),
    N_("unsubscribe_question", "Stop receiving {category} by e-mail?"),
    N_("unsubscribe_button", "Unsubscribe"),
    N_(
        "unsubscribe_done",
        "Done: you will no longer receive {category} by e-mail. You can turn them back on in the "
        "chat with the assistant or at the tax office.",
    ),
    N_(
        "unsubscribe_invalid",
        "This unsubscribe link is not valid. Please use the link from the latest e-mail, or tell "
        "the assistant or the tax office.",
    ),
]

MESSAGES.update(_EMAIL)
# --- The payment page (payments/templates/), rendered by payments.page in the link's language. ---
_PAYMENT_PAGE = [
    N_("paypage_title", "Payment – {office}"),
    N_("paypage_heading", "Payment of local taxes and fees"),
    N_("paypage_payer", "Payer: {initials}"),
    N_("paypage_what", "What you pay"),
    N_("paypage_obligation", "Obligation"),
    N_("paypage_due", "Due"),
    N_("paypage_principal", "Principal"),
    N_("paypage_interest", "Interest"),
    N_("paypage_total", "Total"),
    N_("paypage_total_to_pay", "Total to pay"),
    N_(
        "paypage_interest_note",
        "Interest on arrears as of {date}; it grows every day until you pay.",
    ),
    N_("paypage_pay_online", "Pay online"),
    N_("paypage_by_transfer", "Or pay by bank transfer"),
    N_("paypage_recipient", "Recipient"),
    N_("paypage_account", "Account number"),
    N_("paypage_transfer_title", "Title"),
    N_("paypage_amount", "Amount"),
    N_("paypage_qr_caption", "Scan this code in your banking app: it fills in the transfer."),
    N_(
        "paypage_qr_too_much",
        "No QR code for this transfer: the bank QR code carries amounts below {limit_amount} "
        "only. Please type in the details above.",
    ),
    N_("paypage_nothing_due", "There is nothing left to pay under this link. Thank you!"),
    N_("paypage_not_found_title", "This payment link does not work"),
    N_(
        "paypage_not_found_text",
        "This payment link is unknown or has expired. For a new one, write “pay” to the "
        "assistant: in the web chat, on Telegram or by SMS.",
    ),
    N_("paypage_open_chat", "Open the chat"),
    N_("paypage_returned_title", "Thank you"),
    N_(
        "paypage_returned_text",
        "The payment operator is confirming your payment. Once it has, you get a receipt and "
        "the payment shows in your balance.",
    ),
    N_(
        "paypage_start_failed",
        "The online payment could not be started just now. Please try again in a moment, or "
        "pay by bank transfer.",
    ),
    N_("demo_gateway_heading", "Demo payment operator"),
    N_(
        "demo_gateway_text",
        "No money moves here: this page stands in for a payment operator. Amount: {amount}.",
    ),
    N_("demo_gateway_approve", "Approve the payment"),
    N_("demo_gateway_decline", "Decline"),
]

MESSAGES.update(_PAYMENT_PAGE)
