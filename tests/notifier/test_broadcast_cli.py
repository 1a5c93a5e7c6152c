"""`gmina broadcast …` end to end on both engines: the command line is a thin layer."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import main
from tests.conftest import Store
from tests.notifier.broadcast_city import add_team, build_city

TEXT_PL = "Jutro ulica Główna będzie zamknięta."
TEXT_EN = "Tomorrow Główna street is closed."


def _created(result: Result) -> str:
    """The new broadcast's id (PostgreSQL's sequences run on across tests)."""
    assert result.exit_code == 0, result.output
    match = re.fullmatch(r"broadcast (\d+) created as a draft\n", result.stdout)
    assert match is not None, result.stdout
    return match.group(1)


async def _gmina(store: Store, *args: str) -> Result:
    env = {"GMINA__DATABASE__URL": store.url}
    # The command runs its own event loop, so it gets a thread of its own.
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


@pytest.fixture
async def texts(store: Store, tmp_path: Path) -> tuple[str, str]:
    async with store.sessions() as session:
        await build_city(session)
        await add_team(session)
        await session.commit()
    pl, en = tmp_path / "pl.txt", tmp_path / "en.txt"
    pl.write_text(TEXT_PL + "\n", encoding="utf-8")
    en.write_text(TEXT_EN, encoding="utf-8")
    return str(pl), str(en)


async def test_draft_preview_approve_send_status_cancel(
    store: Store, texts: tuple[str, str]
) -> None:
    pl, en = texts
    made = await _gmina(
        store, "broadcast", "create", "--segment", "district:Bielszowice", "--text-file", pl,
        "--as", "kasia",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    number = _created(made)
    edited = await _gmina(
        store, "broadcast", "edit", number, "--lang", "en", "--text-file", en, "--as", "kasia"
    )
    assert edited.stdout == (
        f"broadcast {number}: draft, segment district:Bielszowice, texts en, pl, by kasia\n"
    )
    preview = await _gmina(store, "broadcast", "preview", number)
    assert preview.exit_code == 0, preview.output
    assert preview.stdout.splitlines() == [
        f"broadcast {number}: draft, segment district:Bielszowice, texts en, pl, by kasia",
        "sms\t1",
        "telegram\t1",
        "total\t2",
        "--- sample 1: telegram, pl",
        TEXT_PL,
        "--- sample 2: sms, en",
        TEXT_EN,
    ]
    own = await _gmina(store, "broadcast", "approve", number, "--as", "kasia")
    assert own.exit_code == 1
    assert own.stderr == "Error: staff member 'kasia' is a clerk; this needs admin or approver\n"
    approved = await _gmina(store, "broadcast", "approve", number, "--as", "anna")
    assert approved.exit_code == 0, approved.output
    assert approved.stdout.endswith(", approved by anna\n")
    sent = await _gmina(store, "broadcast", "send", number)
    assert sent.exit_code == 0, sent.output
    assert sent.stdout == f"broadcast {number}: 2 recipients queued (2 by this run)\n"
    again = await _gmina(store, "broadcast", "send", number)
    assert again.exit_code == 1
    assert again.stderr == f"Error: broadcast {number} is sent: it cannot be sent\n"
    status = await _gmina(store, "broadcast", "status", number)
    assert status.stdout.splitlines()[1:] == ["sms\tcreated\t1", "telegram\tcreated\t1"]
    cancelled = await _gmina(store, "broadcast", "cancel", number, "--as", "ewa")
    assert cancelled.stdout == f"broadcast {number} cancelled: 2 queued messages withdrawn\n"
    status = await _gmina(store, "broadcast", "status", number)
    assert status.stdout.splitlines()[1:] == ["sms\twithdrawn\t1", "telegram\twithdrawn\t1"]
    listed = await _gmina(store, "broadcast", "list")
    assert listed.stdout.startswith(f"broadcast {number}: cancelled, segment district:Bielszowice")


async def test_self_approval_and_bad_input_are_refused_in_one_line(
    store: Store, texts: tuple[str, str], tmp_path: Path
) -> None:
    pl, _ = texts
    bad = await _gmina(
        store, "broadcast", "create", "--segment", "district:Halemba,colour:red", "--text-file", pl
    )
    assert bad.exit_code == 1
    assert bad.stderr == (
        "Error: segment 'district:Halemba,colour:red', column 18: unknown condition 'colour' "
        "(known: all, district:, street:, kind:, overdue, language:, channel:)\n"
    )
    latin2 = tmp_path / "latin2.txt"
    latin2.write_bytes("Zamknięta".encode("iso-8859-2"))
    undecodable = await _gmina(
        store, "broadcast", "create", "--segment", "all", "--text-file", str(latin2)
    )
    assert undecodable.stderr == f"Error: {latin2}: not UTF-8 text (byte 7)\n"
    made = await _gmina(
        store, "broadcast", "create", "--segment", "all", "--text-file", pl, "--as", "anna"
    )
    number = _created(made)
    own = await _gmina(store, "broadcast", "approve", number, "--as", "anna")
    assert own.exit_code == 1
    assert own.stderr == f"Error: anna wrote broadcast {number}: another approver must approve it\n"
    unapproved = await _gmina(store, "broadcast", "send", number)
    assert unapproved.stderr == f"Error: broadcast {number} is draft: it cannot be sent\n"
    missing = await _gmina(store, "broadcast", "status", "0")
    assert missing.stderr == "Error: no broadcast 0\n"
    nobody = await _gmina(
        store, "broadcast", "create", "--segment", "all", "--text-file", pl, "--as", "zbyszek"
    )
    assert nobody.stderr == "Error: no staff member named 'zbyszek'\n"
