"""Fixtures of the NLU room: the packaged model, trained once per test session."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from intents import NLU

FIXTURES = Path(__file__).parent / "fixtures"
# A Thursday; "15 marca" then means 15 March 2027.
TODAY = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@pytest.fixture(scope="session")
def nlu() -> NLU:
    return NLU.default()


@pytest.fixture(scope="session")
def dated_nlu(nlu: NLU) -> NLU:
    """The packaged model with the clock stopped at TODAY."""
    return NLU(nlu.classifier, nlu.extractor, threshold=nlu.threshold, clock=FixedClock(TODAY))
