"""One module per provider behind the `Sender` protocol; provider errors become `kernel.errors`."""

from notifier.senders.base import Sender

__all__ = ["Sender"]
