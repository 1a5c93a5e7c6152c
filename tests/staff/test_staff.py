"""Staff accounts: argon2id hashes, roles, disabling, the audit trail, and `gmina staff`."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from click.testing import CliRunner, Result

from bot.cli import main
from kernel.clock import SystemClock
from storage.conversation_models import AuditEntry
from storage.staff import (
    APPROVERS,
    NotAllowed,
    Role,
    StaffExists,
    UnknownStaff,
    WeakPassword,
    acting_staff,
    add_staff,
    authenticate,
    disable_staff,
    list_staff,
    set_password,
)
from storage.staff_models import StaffMember
from tests.conftest import Store

PASSWORD = "correct horse battery"


async def _gmina(store: Store, *args: str, stdin: str | None = None) -> Result:
    env = {"GMINA__DATABASE__URL": store.url}
    # The command runs its own event loop, so it gets a thread of its own.
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), input=stdin, env=env)


async def _hash_of(store: Store, name: str) -> str:
    async with store.sessions() as session:
        found = await session.scalar(
            sa.select(StaffMember.password_hash).where(StaffMember.name == name)
        )
    assert found is not None
    return found


async def test_a_password_is_kept_as_an_argon2id_hash_that_checks(store: Store) -> None:
    now = SystemClock().now()
    async with store.sessions() as session:
        added = await add_staff(session, "anna", Role.APPROVER, PASSWORD, actor="t", now=now)
        await session.commit()
    assert (added.name, added.role, added.disabled) == ("anna", Role.APPROVER, False)
    stored = await _hash_of(store, "anna")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    async with store.sessions() as session:
        assert await authenticate(session, "anna", PASSWORD, now) == added
        assert await authenticate(session, "anna", PASSWORD + "!", now) is None
        assert await authenticate(session, "nobody", PASSWORD, now) is None


async def test_a_hash_under_older_parameters_is_replaced_at_the_next_login(store: Store) -> None:
    now = SystemClock().now()
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1)
    async with store.sessions() as session:
        await add_staff(session, "olek", Role.CLERK, PASSWORD, actor="t", now=now, hasher=weak)
        await session.commit()
    old = await _hash_of(store, "olek")
    assert "m=8192,t=1,p=1" in old
    async with store.sessions() as session:
        assert await authenticate(session, "olek", PASSWORD, now) is not None
        await session.commit()
    new = await _hash_of(store, "olek")
    assert new != old
    assert not PasswordHasher().check_needs_rehash(new)
    async with store.sessions() as session:
        assert await authenticate(session, "olek", PASSWORD, now) is not None


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("", "at least 12 characters"),
        ("short", "at least 12 characters"),
        ("xx-anna-2026-xx", "contains the staff name"),
        ("aaaaaaaaaaaabbb", "too few characters"),
    ],
)
async def test_weak_passwords_are_refused(store: Store, password: str, reason: str) -> None:
    async with store.sessions() as session:
        with pytest.raises(WeakPassword, match=reason):
            await add_staff(
                session, "anna", Role.CLERK, password, actor="t", now=SystemClock().now()
            )
    async with store.sessions() as session:
        assert await list_staff(session) == []


async def test_names_are_unique_and_changes_are_audited(store: Store) -> None:
    now = SystemClock().now()
    async with store.sessions() as session:
        await add_staff(session, "anna", Role.ADMIN, PASSWORD, actor="staff:cli", now=now)
        await session.commit()
        with pytest.raises(StaffExists):
            await add_staff(session, "anna", Role.CLERK, PASSWORD, actor="staff:cli", now=now)
        await session.rollback()
        await set_password(session, "anna", "another long secret", actor="staff:cli", now=now)
        assert await disable_staff(session, "anna", actor="staff:cli", now=now)
        assert not await disable_staff(session, "anna", actor="staff:cli", now=now)
        with pytest.raises(UnknownStaff):
            await disable_staff(session, "nobody", actor="staff:cli", now=now)
        await session.commit()
        entries = (
            await session.execute(
                sa.select(AuditEntry.action, AuditEntry.details, AuditEntry.actor)
            )
        ).all()
    assert [(action, details) for action, details, _ in entries] == [
        ("staff.add", {"staff": "anna", "role": "admin"}),
        ("staff.passwd", {"staff": "anna"}),
        ("staff.disable", {"staff": "anna"}),
    ]
    assert {actor for _, _, actor in entries} == {"staff:cli"}


async def test_a_disabled_member_can_neither_log_in_nor_act(store: Store) -> None:
    now = SystemClock().now()
    async with store.sessions() as session:
        await add_staff(session, "anna", Role.APPROVER, PASSWORD, actor="t", now=now)
        await add_staff(session, "kasia", Role.CLERK, PASSWORD, actor="t", now=now)
        assert (await acting_staff(session, "anna", APPROVERS)).name == "anna"
        with pytest.raises(NotAllowed, match="'kasia' is a clerk; this needs admin or approver"):
            await acting_staff(session, "kasia", APPROVERS)
        await disable_staff(session, "anna", actor="t", now=now)
        await session.commit()
        with pytest.raises(NotAllowed, match="'anna' is disabled"):
            await acting_staff(session, "anna")
        assert await authenticate(session, "anna", PASSWORD, now) is None


async def test_the_commands_add_change_disable_and_list(store: Store) -> None:
    added = await _gmina(
        store,
        "staff",
        "add",
        "anna",
        "--role",
        "approver",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    assert added.stdout == "added anna (approver)\n"
    assert PASSWORD not in added.output
    clerk = await _gmina(
        store, "staff", "add", "jan", "--role", "clerk", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert clerk.exit_code == 0, clerk.output
    changed = await _gmina(
        store, "staff", "passwd", "jan", "--password-stdin", stdin="a different secret\n"
    )
    assert changed.exit_code == 0, changed.output
    async with store.sessions() as session:
        assert await authenticate(session, "jan", "a different secret", SystemClock().now())
    disabled = await _gmina(store, "staff", "disable", "jan")
    assert disabled.stdout == "jan disabled\n"
    listed = await _gmina(store, "staff", "list")
    assert listed.stdout.splitlines() == [
        "anna\tapprover\tenabled\tno-totp",
        "jan\tclerk\tdisabled\tno-totp",
    ]


async def test_the_commands_refuse_in_one_line(store: Store) -> None:
    weak = await _gmina(
        store, "staff", "add", "anna", "--role", "admin", "--password-stdin", stdin="\n"
    )
    assert weak.exit_code == 1
    assert weak.stderr == "Error: password refused: at least 12 characters\n"
    bad_role = await _gmina(
        store, "staff", "add", "anna", "--role", "boss", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert bad_role.exit_code == 2
    assert "'boss' is not one of 'clerk', 'approver', 'admin'" in bad_role.stderr
    unknown = await _gmina(store, "staff", "disable", "nobody")
    assert unknown.exit_code == 1
    assert unknown.stderr == "Error: no staff member named 'nobody'\n"
    bad_name = await _gmina(
        store,
        "staff",
        "add",
        "Anna Nowak",
        "--role",
        "admin",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert bad_name.exit_code == 1
    assert bad_name.stderr.startswith("Error: staff name 'Anna Nowak': 2 to 64 of a-z")
