"""The one exception tree: every public error class of ours hangs from `GminaError`."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from kernel.errors import (
    ConfigurationError,
    GminaError,
    InputError,
    PermanentError,
    RetryableError,
    RetryAfter,
    TimedOut,
)
from storage.ledger import LedgerError

PACKAGES = ("kernel", "storage", "intents", "payments", "notifier", "actions", "bot")
# Owned by the conversation-store split under way (issue 7); they join the tree with it.
NOT_YET_IN_THE_TREE = {
    "storage.conversations.ConversationConflict",
    "storage.conversations.UnknownTaxpayer",
    "actions.services.NotConfigured",
}


def _our_exception_classes() -> list[str]:
    found: list[str] = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if ".migrations" in info.name:
                continue
            module = importlib.import_module(info.name)
            for name, value in vars(module).items():
                if (
                    inspect.isclass(value)
                    and issubclass(value, BaseException)
                    and value.__module__ == module.__name__
                    and not name.startswith("_")
                ):
                    found.append(f"{module.__name__}.{name}")
    return found


def test_every_public_error_of_ours_derives_from_gmina_error() -> None:
    outside = []
    for qualified in _our_exception_classes():
        module_name, _, name = qualified.rpartition(".")
        cls = getattr(importlib.import_module(module_name), name)
        if not issubclass(cls, GminaError) and qualified not in NOT_YET_IN_THE_TREE:
            outside.append(qualified)
    assert outside == []


def test_input_errors_stay_value_errors_for_callers_that_catch_those() -> None:
    with pytest.raises(ValueError, match="negative"):
        raise LedgerError("negative amount")
    assert issubclass(LedgerError, InputError)
    assert not issubclass(ConfigurationError, InputError)


def test_retry_after_carries_its_delay_and_is_retryable() -> None:
    error = RetryAfter(12.5)
    assert error.retry_after == 12.5
    assert str(error) == "retry after 12.5 s"
    assert isinstance(error, RetryableError)
    assert issubclass(TimedOut, RetryableError)
    assert not issubclass(PermanentError, RetryableError)
