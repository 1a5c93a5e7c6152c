"""`gmina import …` and `gmina demo-data` as the operator runs them."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from bot.cli import main
from kernel.clock import SystemClock
from storage.conversations import redeem_link_token
from storage.models import Base, Obligation, Payment, Taxpayer
from tests.conftest import Store
from tests.storage.test_import_races import taxpayer_rows
from tests.storage.test_imports import (
    OBLIGATIONS,
    OBLIGATIONS_HEADER,
    TAXPAYERS,
    TAXPAYERS_HEADER,
    write,
)


async def gmina(store: Store, *args: str) -> Result:
    env = {"GMINA__DATABASE__URL": store.url, "GMINA__LOGGING__LEVEL": "INFO"}
    # The command runs its own event loop, so it gets a thread of its own.
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def count(store: Store, model: type[Base]) -> int:
    async with store.sessions() as session:
        query = sa.select(sa.func.count()).select_from(model)
        return int((await session.execute(query)).scalar_one())


async def test_good_files_exit_0_with_a_summary(store: Store, tmp_path: Path) -> None:
    taxpayers = write(tmp_path, "taxpayers.csv", TAXPAYERS_HEADER, TAXPAYERS)
    result = await gmina(store, "import", "taxpayers", str(taxpayers))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{taxpayers}: 3 taxpayers rows: 3 inserted, 0 updated, 0 unchanged\n"
    obligations = write(tmp_path, "obligations.csv", OBLIGATIONS_HEADER, OBLIGATIONS)
    result = await gmina(store, "import", "obligations", str(obligations))
    assert result.exit_code == 0, result.output
    again = await gmina(store, "import", "obligations", str(obligations))
    assert again.stdout.endswith("0 inserted, 0 updated, 4 unchanged\n")
    assert await count(store, Obligation) == 4


async def test_bad_rows_exit_1_one_line_each_and_nothing_written(
    store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "taxpayers.csv",
        TAXPAYERS_HEADER,
        [
            TAXPAYERS[0].replace("80051402471", "80051402472"),
            TAXPAYERS[1],
            TAXPAYERS[2].replace("56105012146410000000000103", "56105012146410000000000104"),
        ],
    )
    result = await gmina(store, "import", "taxpayers", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:2: pesel: invalid PESEL checksum",
        f"{path}:4: account_number: not a valid Polish account number (NRB): wrong check digits",
    ]
    assert await count(store, Taxpayer) == 0


async def test_errors_name_the_file_as_typed(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = "O1,T404,dog_fee,2026,1,2026-03-31,62.50,,"
    write(tmp_path, "obligations.csv", OBLIGATIONS_HEADER, [row])
    monkeypatch.chdir(tmp_path)
    result = await gmina(store, "import", "obligations", "./obligations.csv")
    assert result.exit_code == 1
    assert result.stderr == "./obligations.csv:2: taxpayer_ref: unknown taxpayer_ref 'T404'\n"


async def test_dry_run_writes_nothing(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "taxpayers.csv", TAXPAYERS_HEADER, TAXPAYERS)
    result = await gmina(store, "import", "taxpayers", str(path), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run" in result.stdout
    assert await count(store, Taxpayer) == 0


async def test_demo_data_loads_and_names_a_taxpayer_to_try(store: Store) -> None:
    result = await gmina(store, "demo-data", "--taxpayers", "25", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "try: gmina balance T0000" in result.stdout
    assert await count(store, Taxpayer) == 25
    payments = await count(store, Payment)
    again = await gmina(store, "demo-data", "--if-empty")
    assert again.exit_code == 0
    first_line, token_line = again.stdout.splitlines()
    assert first_line == "the store already has 25 taxpayers: demo data not loaded"
    assert await count(store, Payment) == payments
    # Each start prints a fresh link token for the demo taxpayer, and it binds a chat.
    token = token_line.split("/start ", 1)[1].split()[0]
    assert token not in result.stdout
    async with store.sessions() as session:
        now = SystemClock().now()
        assert await redeem_link_token(session, token, "rest", "s" * 36, now) is not None
        await session.commit()


async def test_demo_token_is_only_printed_for_the_demo_city(store: Store, tmp_path: Path) -> None:
    await gmina(store, "demo-data", "--taxpayers", "5", "--csv-dir", str(tmp_path))
    for kind in ("taxpayers", "obligations", "payments"):
        await gmina(store, "import", kind, str(tmp_path / f"{kind}.csv"))
    again = await gmina(store, "demo-data", "--if-empty")
    assert again.stdout == "the store already has 5 taxpayers: demo data not loaded\n"


async def test_demo_data_writes_csv_that_import_accepts(store: Store, tmp_path: Path) -> None:
    result = await gmina(store, "demo-data", "--taxpayers", "20", "--csv-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert await count(store, Taxpayer) == 0
    for kind in ("taxpayers", "obligations", "payments"):
        imported = await gmina(store, "import", kind, str(tmp_path / f"{kind}.csv"))
        assert imported.exit_code == 0, imported.output
    assert await count(store, Taxpayer) == 20


async def test_two_concurrent_imports_of_one_kind_never_print_a_traceback(
    store: Store, tmp_path: Path
) -> None:
    """Two operators (or a cron job and an operator) import overlapping taxpayers at once:
    one waits for the other, or is refused with one line; never a traceback, never a PESEL."""
    rows = {
        "a": taxpayer_rows(range(0, 20_000)),
        "b": taxpayer_rows(range(15_000, 35_000)),
    }
    paths = {name: write(tmp_path / name, "taxpayers.csv", TAXPAYERS_HEADER, rows[name])
             for name in rows}  # fmt: skip
    env = {**os.environ, "GMINA__DATABASE__URL": store.url, "GMINA__LOGGING__LEVEL": "INFO"}
    gmina_command = str(Path(sys.executable).with_name("gmina"))

    async def import_taxpayers(path: Path) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            gmina_command, "import", "taxpayers", str(path), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    outcomes = await asyncio.gather(*(import_taxpayers(path) for path in paths.values()))
    for code, out, err in outcomes:
        assert "Traceback" not in err
        for row in (*rows["a"][:50], *rows["b"][-50:]):
            pesel, last_name = row.split(",")[1], row.split(",")[4]
            assert pesel not in err
            assert last_name not in err
        if code == 0:
            assert out.endswith("unchanged\n"), out
        else:
            assert out == ""
            assert len(err.splitlines()) == 1, err
            assert "nothing imported" in err
    assert [code for code, _, _ in outcomes].count(0) >= 1
    assert await count(store, Taxpayer) in (20_000, 35_000)
