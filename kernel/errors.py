"""One exception tree for the whole house, so that a caller can tell what to do with a failure
(tell the operator, answer 400, retry later, give up) by the class it catches.

    GminaError
    ├── ConfigurationError      configuration that cannot be used; one line naming the key
    ├── InputError              data from a person, a file or a request that we cannot use
    │                           (also a ValueError)
    ├── StoreError              the obligations store failed or refused
    │   ├── ConflictError       another writer got there first; reload and try again
    │   ├── NotFoundError       no such record (also a LookupError)
    │   └── UnavailableError    the store cannot be reached now
    ├── ProviderError           an outside service (Telegram, Twilio, SMTP, a gateway) failed
    │   ├── RetryableError      the same request may succeed later
    │   │   ├── TimedOut        no answer in time
    │   │   └── RetryAfter      the provider said when: `retry_after` seconds
    │   └── PermanentError      the same request will fail again: do not retry
    │       └── RecipientUnreachable   the recipient blocked us or is unknown on the channel
    └── InternalError           a bug of ours, never the operator's (also a RuntimeError)

Transport and driver errors are turned into these at the module that talks to the outside
(`raise TimedOut(...) from exc`), so the cause stays on `__cause__` for the log.
"""

from __future__ import annotations


class GminaError(Exception):
    """The root of every error this project raises on purpose."""


class ConfigurationError(GminaError):
    """Configuration that cannot be used; the message is one line that names the key."""


class InputError(GminaError, ValueError):
    """Data given to us (a row, a request body, a file) that cannot be used as it is."""


class StoreError(GminaError):
    """The obligations store failed or refused an operation."""


class ConflictError(StoreError):
    """A concurrent writer changed the record first; reload it and decide again."""


class NotFoundError(StoreError, LookupError):
    """No record answers to the key given."""


class UnavailableError(StoreError):
    """The store cannot be reached now; the same operation may succeed later."""


class ProviderError(GminaError):
    """An outside service failed; the subclass says whether to try again."""


class RetryableError(ProviderError):
    """The same request may succeed later."""


class TimedOut(RetryableError):
    """The provider did not answer in time."""


class RetryAfter(RetryableError):
    """The provider asked us to wait `retry_after` seconds before the next request."""

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message or f"retry after {retry_after:g} s")


class PermanentError(ProviderError):
    """The same request will fail again (a bad number, a blocked bot): do not retry."""


class RecipientUnreachable(PermanentError):
    """The recipient cannot be reached on this channel (a blocked bot, an unknown chat); later
    messages to them take their next channel."""


class InternalError(GminaError, RuntimeError):
    """Something that cannot happen unless our own code is wrong."""
