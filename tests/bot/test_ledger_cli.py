"""`gmina balance` and `gmina rates` through click, against the test store on both engines."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

from bot.cli import main
from kernel.clock import FrozenClock
from storage.balances import load_rate_tables, refresh_allocations
from storage.migrate import head_revision
from storage.models import Allocation
from tests.conftest import Store
from tests.storage.test_balances import POLICY, SCENARIOS, Scenario, load_scenario, scenario_named


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    # The CLI configures logging with force=True onto CliRunner's streams; undo that afterwards.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def env(store: Store, tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config.yml"
    config.write_text("", encoding="utf-8")
    return {
        "GMINA_CONFIG": str(config),
        "GMINA__DATABASE__URL": store.url,
        "GMINA__LOGGING__LEVEL": "INFO",
    }


async def gmina(args: list[str], env: dict[str, str], **extra: Any) -> Result:
    # The command runs its own event loop, so it runs beside this one, in a thread.
    return await asyncio.to_thread(CliRunner().invoke, main, args, env=env, **extra)


async def loaded(store: Store, *scenarios: Scenario) -> None:
    async with store.sessions() as session:
        for scenario in scenarios:
            await load_scenario(session, scenario)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_balance_json_reproduces_the_hand_worked_example(
    store: Store, env: dict[str, str], scenario: Scenario
) -> None:
    await loaded(store, scenario)
    args = ["balance", scenario.taxpayer_ref, "--on", scenario.as_of.isoformat(), "--json"]
    result = await gmina(args, env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == scenario.expected


async def test_balance_table_for_people(store: Store, env: dict[str, str]) -> None:
    await loaded(store, scenario_named("named"))
    result = await gmina(["balance", "T-named", "--on", "2024-06-14"], env)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "taxpayer T-named, as of 2024-06-14",
        "obligation  kind          due         effective due  principal  interest    total",
        "named-1     property_tax  2024-03-15  2024-03-15        528.96     19.04   548.00",
        "named-3     property_tax  2024-09-15  2024-09-16       1000.00      0.00  1000.00",
        "total        1548.00",
        "overdue       548.00",
        "overpayment     0.00",
    ]


async def test_balance_says_when_nothing_is_outstanding(store: Store, env: dict[str, str]) -> None:
    await loaded(store, scenario_named("overpaid"))
    result = await gmina(["balance", "T-overpaid", "--on", "2025-04-15"], env)
    assert result.exit_code == 0, result.output
    assert "nothing outstanding" in result.stdout
    assert "overpayment  30.00" in result.stdout


async def test_balance_defaults_to_today_in_warsaw(store: Store, env: dict[str, str]) -> None:
    scenario = scenario_named("saturday")
    await loaded(store, scenario)
    # 23:30 UTC on 19 Mar is 00:30 on 20 Mar in Warsaw (CET).
    clock = FrozenClock(datetime(2025, 3, 19, 23, 30, tzinfo=UTC))
    result = await gmina(["balance", scenario.taxpayer_ref, "--json"], env, obj={"clock": clock})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == scenario.expected


async def test_an_unknown_taxpayer_is_an_error(store: Store, env: dict[str, str]) -> None:
    result = await gmina(["balance", "T-nobody", "--json"], env)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no taxpayer with reference 'T-nobody'" in result.stderr


async def test_a_balance_look_up_is_logged_without_amounts(
    store: Store, env: dict[str, str]
) -> None:
    await loaded(store, scenario_named("partial"))
    result = await gmina(["balance", "T-partial", "--on", "2024-06-13", "--json"], env)
    assert result.exit_code == 0, result.output
    log_lines = [line for line in result.stderr.splitlines() if " INFO " in line]
    assert any("staff balance look-up for taxpayer T-partial" in line for line in log_lines)
    assert not any(re.search(r"\d\.\d\d", line) for line in log_lines)


async def test_rates_set_adds_a_rate_and_reallocates_payments(
    store: Store, env: dict[str, str]
) -> None:
    async with store.sessions() as session:
        taxpayer_id = await load_scenario(session, scenario_named("partial"))
        await refresh_allocations(session, [taxpayer_id], POLICY, await load_rate_tables(session))
        await session.commit()

    result = await gmina(
        ["rates", "set", "--table", "tax", "--from", "2024-04-01", "--rate", "29"], env
    )
    assert result.exit_code == 0, result.output
    assert (
        "tax rate from 2024-04-01: 29%; allocations recomputed for 1 taxpayer(s)" in result.stdout
    )

    listed = await gmina(["rates", "list", "--table", "tax"], env)
    assert "tax    2024-04-01  29\n" in listed.stdout
    assert "tax    2023-10-05  14.5\n" in listed.stdout
    assert "civil" not in listed.stdout
    # The payment of 1000.00 on 14 May 2024, against 2000.00 due 15 Mar 2024, now sees
    # 16–31 Mar at 14.5% and 1 Apr–14 May (44 days) at 29%:
    # 2000 × (16 × 14.5 + 44 × 29) / 36500 = 2000 × 1508 / 36500 = 82.63 → 83;
    # interest part 1000 × 83 / 2083 = 39.846 → 39.85, principal 960.15.
    async with store.sessions() as session:
        rows = (await session.execute(sa.select(Allocation.principal, Allocation.interest))).all()
    assert [(str(p), str(i)) for p, i in rows] == [("960.15", "39.85")]


async def test_rates_set_corrects_a_rate_in_place(store: Store, env: dict[str, str]) -> None:
    for rate in ("10.5", "10.25"):
        args = ["rates", "set", "--table", "civil", "--from", "2026-01-08", "--rate", rate]
        assert (await gmina(args, env)).exit_code == 0
    listed = (await gmina(["rates", "list"], env)).stdout.splitlines()
    assert [line for line in listed if "2026-01-08" in line] == ["civil  2026-01-08  10.25"]


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        (["--table", "tax", "--from", "2026-01-01", "--rate", "ten"], 2, "is not a number"),
        (["--table", "lombard", "--from", "2026-01-01", "--rate", "10"], 2, "'lombard'"),
        (["--table", "tax", "--from", "2026-13-01", "--rate", "10"], 2, "not a date"),
        (["--table", "tax", "--from", "2026-01-01", "--rate", "150"], 1, "not between 0 and 100"),
    ],
)
async def test_rates_set_refuses_bad_input(
    store: Store, env: dict[str, str], args: list[str], exit_code: int, message: str
) -> None:
    result = await gmina(["rates", "set", *args], env)
    assert result.exit_code == exit_code
    assert message in result.stderr
    async with store.sessions() as session:
        count = await session.scalar(
            sa.text("SELECT count(*) FROM interest_rates WHERE effective_from >= :day"),
            {"day": date(2026, 1, 1)},
        )
    assert count == 0


def test_a_store_not_migrated_or_not_reachable_is_named_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.yml"
    config.write_text("", encoding="utf-8")
    # A folder that does not exist yet, as var/ on a fresh checkout.
    url = f"sqlite:///{tmp_path}/var/gmina.db"
    empty = {"GMINA_CONFIG": str(config), "GMINA__DATABASE__URL": url}
    for args in (["run", "--port", "0"], ["balance", "T-1"]):
        result = CliRunner().invoke(main, args, env=empty)
        assert result.exit_code == 1
        assert result.output.strip().splitlines()[-1] == (
            f"Error: the store at {url} is at migration none, this version "
            f"needs {head_revision(url)}: run `gmina db upgrade`"
        )
    gone = {**empty, "GMINA__DATABASE__URL": "postgresql://postgres:secret@127.0.0.1:9/none"}
    result = CliRunner().invoke(main, ["balance", "T-1"], env=gone)
    assert result.exit_code == 1
    assert "Error: cannot reach the store at postgresql://postgres:***@127.0.0.1:9/none: " in (
        result.output
    )
    assert "secret" not in result.output
