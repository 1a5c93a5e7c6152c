"""What the dispatcher needs of a provider: send one claimed message, or raise one of ours.

A sender returns the provider's id for the message (Telegram's message id, Twilio's SID), which
status callbacks later name. It raises `kernel.errors.RetryableError` (a `RetryAfter` when the
provider named the delay) for what may work later, `PermanentError` for what never will, and
`RecipientUnreachable` when the recipient blocked us. Anything else is a bug of ours, recorded
as a technical failure.
"""

from __future__ import annotations

from typing import Protocol

from storage.outbox import Claimed


class Sender(Protocol):
    @property
    def channel(self) -> str: ...

    async def send(self, message: Claimed) -> str: ...

    async def close(self) -> None:
        """Release the client's connections; the process is stopping."""
        ...
