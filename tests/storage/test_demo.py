"""`storage.demo`: the synthetic Ruda Śląska, deterministic, valid, and taken by the importer."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import phonenumbers
import pytest
import sqlalchemy as sa
from schwifty import IBAN
from stdnum.pl import nip, pesel

from kernel.clock import FrozenClock
from kernel.settings import LedgerSettings
from storage.balances import taxpayer_balance
from storage.demo import (
    DISTRICTS,
    EN_FEMALE_NAMES,
    FEMALE_NAMES,
    FILES,
    OBLIGATION_HEADER,
    PAYMENT_HEADER,
    TAXPAYER_HEADER,
    UK_FEMALE_NAMES,
    load_demo,
    write_demo_csv,
)
from storage.identifiers import normalise_nrb
from storage.ledger import LedgerPolicy
from storage.models import Allocation, Base, Obligation, ObligationKind, Payment, Taxpayer
from tests.conftest import Store

TODAY = date(2026, 11, 26)
CLOCK = FrozenClock(datetime(2026, 11, 26, 11, 0, tzinfo=UTC))
SIZE = 400
LAND_TAXES = {"property_tax", "agricultural_tax", "forest_tax"}


def read(folder: Path, name: str) -> list[dict[str, str]]:
    with (folder / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    write_demo_csv(folder, SIZE, 2027, TODAY, LedgerSettings())
    return folder


def test_the_same_seed_writes_the_same_bytes(city: Path, tmp_path: Path) -> None:
    write_demo_csv(tmp_path / "again", SIZE, 2027, TODAY, LedgerSettings())
    write_demo_csv(tmp_path / "other", SIZE, 2028, TODAY, LedgerSettings())
    for name in FILES.values():
        assert (tmp_path / "again" / name).read_bytes() == (city / name).read_bytes()
    assert (tmp_path / "other" / "taxpayers.csv").read_bytes() != (
        city / "taxpayers.csv"
    ).read_bytes()


def test_files_are_in_the_export_format(city: Path) -> None:
    for name, header in (
        ("taxpayers.csv", TAXPAYER_HEADER),
        ("obligations.csv", OBLIGATION_HEADER),
        ("payments.csv", PAYMENT_HEADER),
    ):
        with (city / name).open(encoding="utf-8", newline="") as handle:
            assert tuple(next(csv.reader(handle))) == header


def test_identifiers_are_valid(city: Path) -> None:
    taxpayers = read(city, "taxpayers.csv")
    assert len(taxpayers) == SIZE
    accounts = set()
    companies = 0
    for row in taxpayers:
        if row["pesel"]:
            assert pesel.is_valid(row["pesel"]), row
            born = pesel.get_birth_date(row["pesel"])
            assert 18 <= (TODAY - born).days / 365.25 <= 91
            female = row["first_name"] in FEMALE_NAMES + UK_FEMALE_NAMES + EN_FEMALE_NAMES
            assert pesel.get_gender(row["pesel"]) == ("F" if female else "M"), row
            if female and row["last_name"].endswith(("ski", "cki")):
                pytest.fail(f"a woman with a masculine surname: {row}")
        else:
            companies += 1
            assert row["first_name"] == ""
            assert nip.is_valid(row["nip"]), row
        if row["nip"]:
            assert nip.is_valid(row["nip"]), row
        nrb = normalise_nrb(row["account_number"])
        iban = IBAN("PL" + nrb, validate_bban=True)
        assert iban.bank_code == "10501214"
        accounts.add(nrb)
        if row["phone"]:
            number = phonenumbers.parse(row["phone"], "PL")
            assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE
        assert row["postal_code"] in {f"41-{code}" for code in range(700, 711)}
        assert row["district"] in DISTRICTS
        assert row["city"] == "Ruda Śląska"
    assert len(accounts) == SIZE
    assert companies > 0
    assert {row["language"] for row in taxpayers} == {"pl", "uk", "en"}
    assert any(pesel.get_birth_date(row["pesel"]).year >= 2000 for row in taxpayers if row["pesel"])
    assert {row["notify_consent"] for row in taxpayers} == {"", "sms", "email", "sms+email"}


def test_obligations_cover_every_kind_on_its_statutory_dates(city: Path) -> None:
    obligations = read(city, "obligations.csv")
    companies = {row["taxpayer_ref"] for row in read(city, "taxpayers.csv") if not row["pesel"]}
    assert {row["kind"] for row in obligations} == {kind.value for kind in ObligationKind}
    assert {int(row["year"]) for row in obligations} == {TODAY.year - 1, TODAY.year}
    assert 3 <= len(obligations) / SIZE <= 5
    ledger = LedgerSettings()
    yearly: dict[tuple[str, str, str], list[dict[str, str]]] = defaultdict(list)
    for row in obligations:
        yearly[(row["taxpayer_ref"], row["kind"], row["year"])].append(row)
        day = row["due_date"][5:]
        kind = row["kind"]
        if kind in LAND_TAXES and row["taxpayer_ref"] not in companies:
            assert day in {"03-15", "05-15", "09-15", "11-15"}
        elif kind == "vehicle_tax":
            assert day in {"02-15", "09-15"}
        elif kind == "dog_fee":
            assert day == ledger.dog_fee_due_date
        elif kind == "waste_fee":
            assert day in ledger.waste_fee_due_dates
        elif kind == "perpetual_usufruct":
            assert day == "03-31"
        if kind in LAND_TAXES | {"vehicle_tax"}:
            assert row["amount"].endswith(".00"), row  # taxes in whole złoty
    for (ref, kind, _), rows in yearly.items():
        if kind in LAND_TAXES and ref not in companies:
            total = sum(Decimal(row["amount"]) for row in rows)
            # upol art. 6 ust. 7: up to 100 zł in one sum by 15 March.
            assert len(rows) == (1 if total <= 100 else 4), rows
        if kind == "property_tax" and ref in companies:
            assert len(rows) == 12  # legal persons pay monthly


def test_payments_are_varied_and_never_in_the_future(city: Path) -> None:
    obligations = {row["obligation_ref"]: row for row in read(city, "obligations.csv")}
    payments = read(city, "payments.csv")
    assert max(date.fromisoformat(row["paid_on"]) for row in payments) <= TODAY
    assert any(row["obligation_ref"] == "" for row in payments)
    paid: dict[str, Decimal] = defaultdict(Decimal)
    late = 0
    for row in payments:
        if row["obligation_ref"]:
            obligation = obligations[row["obligation_ref"]]
            assert obligation["taxpayer_ref"] == row["taxpayer_ref"]
            paid[row["obligation_ref"]] += Decimal(row["amount"])
            late += row["paid_on"] > obligation["due_date"]
    amounts = {ref: Decimal(row["amount"]) for ref, row in obligations.items()}
    assert late > 0
    assert any(paid[ref] == amount for ref, amount in amounts.items())
    assert any(0 < paid[ref] < amount for ref, amount in amounts.items())
    assert any(paid[ref] > amount for ref, amount in amounts.items())
    past_due = [ref for ref, row in obligations.items() if row["due_date"] < "2026-11-01"]
    assert any(ref not in paid for ref in past_due)


async def test_the_demo_city_passes_the_importer(store: Store) -> None:
    async with store.sessions() as session:
        summary = await load_demo(
            session, taxpayers=60, seed=5, clock=CLOCK, ledger=LedgerSettings()
        )
    assert [result.ok for result in summary.imports] == [True, True, True]
    async with store.sessions() as session:

        async def count(model: type[Base]) -> int:
            query = sa.select(sa.func.count()).select_from(model)
            return int((await session.execute(query)).scalar_one())

        assert await count(Taxpayer) == summary.taxpayers == 60
        assert await count(Obligation) == summary.obligations
        assert await count(Payment) == summary.payments
        assert await count(Allocation) > 0
        kinds = set((await session.execute(sa.select(Obligation.kind).distinct())).scalars())
        assert kinds == {kind.value for kind in ObligationKind}
        policy = LedgerPolicy.from_settings(LedgerSettings())
        balance = await taxpayer_balance(session, summary.sample_ref, TODAY, policy)
    assert balance is not None
    assert balance.overdue > 0


def test_council_dates_come_from_the_settings(tmp_path: Path) -> None:
    ledger = LedgerSettings(waste_fee_due_dates=["01-31", "07-31"], dog_fee_due_date="04-30")
    write_demo_csv(tmp_path, 100, 1, TODAY, ledger)
    days = defaultdict(set)
    for row in read(tmp_path, "obligations.csv"):
        days[row["kind"]].add(row["due_date"][5:])
    assert days["waste_fee"] == {"01-31", "07-31"}
    assert days["dog_fee"] == {"04-30"}
