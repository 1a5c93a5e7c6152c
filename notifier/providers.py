"""The senders and limits this configuration allows: one client per provider in the process.

A channel without credentials has no sender; its messages stay queued (and `gmina outbox status`
shows them) until it is configured.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kernel.clock import Clock, SystemClock
from kernel.settings import Settings
from notifier.dispatcher import ChannelLimits, Dispatcher
from notifier.ratelimit import KeyedLimiter, SlidingWindowLimiter
from notifier.reminders import Policy
from notifier.senders.base import Sender
from notifier.senders.email import build_email_sender
from notifier.senders.rest import RestCallbackSender
from notifier.senders.telegram import TelegramSender, build_bot
from notifier.senders.twilio import TwilioSender, build_client


def build_senders(settings: Settings) -> dict[str, Sender]:
    senders: dict[str, Sender] = {}
    telegram = settings.telegram
    if telegram.token:
        senders["telegram"] = TelegramSender(build_bot(telegram.token, telegram.api_base_url))
    sms = settings.sms
    if sms.twilio.account_sid and sms.twilio.auth_token:
        if sms.twilio.from_number or sms.twilio.messaging_service_sid:
            senders["sms"] = TwilioSender(sms, settings.web.public_base_url, build_client(sms))
    if settings.email.smtp_host and settings.email.from_address:
        senders["email"] = build_email_sender(settings, SystemClock())
    if settings.rest.callback_url:
        senders["rest"] = RestCallbackSender(settings.rest, SystemClock())
    return senders


def channel_limits(settings: Settings) -> dict[str, ChannelLimits]:
    telegram = settings.telegram
    return {
        "telegram": ChannelLimits(
            SlidingWindowLimiter(telegram.rate_per_second),
            KeyedLimiter(telegram.rate_per_chat_per_second),
        ),
        "sms": ChannelLimits(SlidingWindowLimiter(settings.sms.rate_per_second)),
        "email": ChannelLimits(SlidingWindowLimiter(settings.email.rate_per_second)),
    }


def build_dispatcher(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Clock,
    senders: Mapping[str, Sender],
) -> Dispatcher:
    return Dispatcher(
        sessions,
        senders,
        clock,
        settings.outbox,
        limits=channel_limits(settings),
        reminders=Policy.from_settings(settings),
    )


async def close_senders(senders: Mapping[str, Sender]) -> None:
    for sender in senders.values():
        await sender.close()
