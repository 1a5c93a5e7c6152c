"""The export's `notify_consent` column: validated, recorded as consent with source `import`
in the preference history, re-imported without a change, and a chat opt-out left standing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from kernel.clock import FrozenClock
from storage.models import Taxpayer
from storage.preferences import delivery_channels, opt_out, preference_history
from tests.conftest import Store
from tests.storage.test_imports import NRB_1, PESEL_1, T0, TAXPAYERS_HEADER, run, write

HEADER = TAXPAYERS_HEADER + ",notify_consent"
PHONE = "+48601234567"
EMAIL = "jan@example.pl"


def _row(consent: str) -> str:
    return (
        f"T1,{PESEL_1},,Jan,Kowalski,Niedurnego,12,3,41-709,Ruda Śląska,Nowy Bytom,"
        f"601 234 567,{EMAIL},pl,{NRB_1},{consent}"
    )


async def _taxpayer_id(store: Store) -> int:
    async with store.sessions() as session:
        found: int = await session.scalar(sa.select(Taxpayer.id).where(Taxpayer.ref == "T1"))
    return found


async def _state(store: Store, taxpayer_id: int) -> tuple[list[tuple[str, str]], list[str]]:
    async with store.sessions() as session:
        channels = (await delivery_channels(session, [taxpayer_id], "reminders")).get(
            taxpayer_id, []
        )
        history = await preference_history(session, taxpayer_id)
    return channels, [f"{c.change} {c.channel} {c.source}" for c in history]


async def test_imported_consent_its_history_and_a_changed_value(
    store: Store, tmp_path: Path
) -> None:
    result = await run(
        store, "taxpayers", write(tmp_path / "a", "taxpayers.csv", HEADER, [_row("sms")])
    )
    assert result.ok, result.errors
    taxpayer_id = await _taxpayer_id(store)
    assert await _state(store, taxpayer_id) == ([("sms", PHONE)], ["consent sms import"])

    # The same file again: nothing changes, nothing is added to the history.
    again = await run(
        store, "taxpayers", write(tmp_path / "a", "taxpayers.csv", HEADER, [_row("sms")])
    )
    assert again.unchanged == 1
    assert (await _state(store, taxpayer_id))[1] == ["consent sms import"]

    later = FrozenClock(T0 + timedelta(days=30))
    changed = write(tmp_path / "b", "taxpayers.csv", HEADER, [_row("email")])
    assert (await run(store, "taxpayers", changed, clock=later)).updated == 1
    channels, history = await _state(store, taxpayer_id)
    assert channels == [("email", EMAIL)]
    assert history[0] == "consent sms import"
    assert sorted(history[1:]) == ["consent email import", "withdrawal sms import"]
    async with store.sessions() as session:
        assert (await preference_history(session, taxpayer_id))[-1].at == later.now()


async def test_an_opt_out_in_the_chat_outlives_a_re_import(store: Store, tmp_path: Path) -> None:
    await run(
        store, "taxpayers", write(tmp_path / "a", "taxpayers.csv", HEADER, [_row("sms+email")])
    )
    taxpayer_id = await _taxpayer_id(store)
    async with store.sessions() as session:
        await opt_out(session, taxpayer_id, "sms", "chat", T0, ("reminders",))
        await session.commit()
    # The office's record changes elsewhere in the row: the row is written again.
    moved = _row("sms+email").replace("Niedurnego,12", "Niedurnego,14")
    assert (
        await run(store, "taxpayers", write(tmp_path / "b", "taxpayers.csv", HEADER, [moved]))
    ).updated == 1
    assert (await _state(store, taxpayer_id))[0] == [("email", EMAIL)]


async def test_a_bad_consent_value_names_file_line_and_column(store: Store, tmp_path: Path) -> None:
    result = await run(
        store, "taxpayers", write(tmp_path, "taxpayers.csv", HEADER, [_row("telegram")])
    )
    path = tmp_path / "taxpayers.csv"
    assert [str(error) for error in result.errors] == [
        f"{path}:2: notify_consent: unknown consent 'telegram'; expected sms, email, sms+email"
    ]
