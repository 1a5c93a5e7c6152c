import asyncio
import re

from click.testing import CliRunner, Result

from bot.cli import main
from kernel.clock import SystemClock
from storage.bindings import bound_taxpayer, redeem_link_token, verify_with_activation_code
from tests.conftest import Store
from tests.resident_helpers import PESEL, add_taxpayer


async def _gmina(store: Store, *args: str, bot_username: str = "") -> Result:
    env = {"GMINA__DATABASE__URL": store.url, "GMINA__TELEGRAM__BOT_USERNAME": bot_username}
    # The command runs its own event loop, so it gets a thread of its own.
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)


async def _with_taxpayer(store: Store) -> int:
    async with store.sessions() as session:
        taxpayer_id = await add_taxpayer(session, "T-0001")
        await session.commit()
    return taxpayer_id


async def test_link_token_prints_a_token_that_binds(store: Store) -> None:
    taxpayer_id = await _with_taxpayer(store)
    result = await _gmina(store, "residents", "link-token", "T-0001", "--ttl-minutes", "5")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    async with store.sessions() as session:
        now = SystemClock().now()
        assert await redeem_link_token(session, lines[0], "rest", "w", now) == taxpayer_id


async def test_link_token_prints_the_telegram_link_when_the_bot_is_named(store: Store) -> None:
    await _with_taxpayer(store)
    result = await _gmina(store, "residents", "link-token", "T-0001", bot_username="ruda_bot")
    assert result.exit_code == 0, result.output
    token, link = result.stdout.splitlines()
    assert link == f"https://t.me/ruda_bot?start={token}"


async def test_an_unknown_ref_exits_1(store: Store) -> None:
    result = await _gmina(store, "residents", "link-token", "NOPE")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "unknown taxpayer: NOPE" in result.stderr


async def test_activation_code_prints_a_code_that_verifies(store: Store) -> None:
    taxpayer_id = await _with_taxpayer(store)
    result = await _gmina(store, "residents", "activation-code", "T-0001")
    assert result.exit_code == 0, result.output
    code = result.stdout.strip()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    async with store.sessions() as session:
        now = SystemClock().now()
        outcome = await verify_with_activation_code(session, PESEL, code, "rest", "w", now)
        assert outcome.taxpayer_id == taxpayer_id
        assert await bound_taxpayer(session, "rest", "w") == taxpayer_id
