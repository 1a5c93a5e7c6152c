"""`storage.imports`: the finance system's CSV exports, all rows or none, idempotent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from kernel.clock import FrozenClock
from storage.imports import ImportKind, ImportResult, import_file
from storage.models import Allocation, Contact, ImportRun, Obligation, Payment, Taxpayer
from tests.conftest import Store

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)

TAXPAYERS_HEADER = (
    "taxpayer_ref,pesel,nip,first_name,last_name,street,building,flat,postal_code,city,"
    "district,phone,email,language,account_number"
)
OBLIGATIONS_HEADER = (
    "obligation_ref,taxpayer_ref,kind,year,installment,due_date,amount,decision_ref,description"
)
PAYMENTS_HEADER = "payment_ref,taxpayer_ref,obligation_ref,paid_on,amount,source"

# Valid identifiers: PESELs of 14 May 1980 (male) and 13 Jan 2002 (female, month + 20), a NIP,
# and individual accounts at ING Bank Śląski (10501214).
PESEL_1, PESEL_2 = "80051402471", "02211301545"
# Of 1 Jan 1990: for taxpayers added beside the three above.
PESEL_NEW = "90010100078"
NIP = "8567346215"
NRB_1, NRB_2, NRB_3 = (
    "13105012146410000000000101",
    "83105012146410000000000102",
    "56105012146410000000000103",
)

TAXPAYERS = [
    f"T1,{PESEL_1},,Jan,Kowalski,Niedurnego,12,3,41-709,Ruda Śląska,Nowy Bytom,"
    f"+48601234567,jan.kowalski@example.pl,pl,{NRB_1}",
    f"T2,{PESEL_2},,Anna,Kowalska,Kokota,5,,41-705,Ruda Śląska,Bielszowice,,,uk,{NRB_2}",
    f"T3,,{NIP},,Piekarnia Wirek Sp. z o.o.,Górnośląska,7,,41-706,Ruda Śląska,Wirek,,,pl,{NRB_3}",
]
OBLIGATIONS = [
    "O1,T1,property_tax,2026,1,2026-03-15,120.00,FN.3120.1.2026,rata 1",
    "O2,T1,property_tax,2026,2,2026-05-15,120.00,FN.3120.1.2026,rata 2",
    "O3,T2,dog_fee,2026,1,2026-03-31,62.50,,",
    "O4,T3,vehicle_tax,2026,1,2026-02-15,1500.00,DT-1/2026/3,",
]
PAYMENTS = [
    "P1,T1,O1,2026-03-10,120.00,bank",
    "P2,T2,,2026-03-30,62.50,",
]


def write(folder: Path, name: str, header: str, rows: list[str], *, bom: bool = False) -> Path:
    path = folder / name
    folder.mkdir(parents=True, exist_ok=True)
    text = "\n".join([header, *rows]) + "\n"
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


async def run(
    store: Store,
    kind: str,
    path: Path,
    *,
    clock: FrozenClock | None = None,
    dry_run: bool = False,
    display_name: str | None = None,
) -> ImportResult:
    async with store.sessions() as session:
        return await import_file(
            session,
            kind,
            path,
            clock=clock or FrozenClock(T0),
            dry_run=dry_run,
            display_name=display_name,
        )


async def counts(store: Store) -> dict[str, int]:
    async with store.sessions() as session:
        return {
            model.__tablename__: (
                await session.execute(sa.select(sa.func.count()).select_from(model))
            ).scalar_one()
            for model in (Taxpayer, Contact, Obligation, Payment, Allocation, ImportRun)
        }


async def load_city(store: Store, folder: Path) -> None:
    for kind, header, rows in (
        ("taxpayers", TAXPAYERS_HEADER, TAXPAYERS),
        ("obligations", OBLIGATIONS_HEADER, OBLIGATIONS),
        ("payments", PAYMENTS_HEADER, PAYMENTS),
    ):
        result = await run(store, kind, write(folder, f"{kind}.csv", header, rows))
        assert result.ok, [str(error) for error in result.errors]


async def test_taxpayers_are_normalised_and_consent_recorded(store: Store, tmp_path: Path) -> None:
    grouped = " ".join([NRB_1[:2], *(NRB_1[i : i + 4] for i in range(2, 26, 4))])
    path = write(
        tmp_path,
        "taxpayers.csv",
        TAXPAYERS_HEADER + ",notify_consent",
        [
            f"T1,{PESEL_1},,Jan,Kowalski,Niedurnego,12,3,41-709,Ruda Śląska,Nowy Bytom,"
            f"601 234 567,Jan.Kowalski@Example.PL,,PL{grouped},sms",
            f"T2,{PESEL_2},,Anna,Kowalska,Kokota,5,,41-705,Ruda Śląska,Bielszowice,"
            f"+48 602 000 111,anna@example.pl,EN,{NRB_2},sms+email",
            f"T3,,{NIP},,Piekarnia Wirek Sp. z o.o.,Górnośląska,7,,41-706,Ruda Śląska,Wirek,"
            f",biuro@example.pl,pl,{NRB_3},",
        ],
        bom=True,
    )
    result = await run(store, "taxpayers", path)
    assert result.ok, result.errors
    assert (result.inserted, result.updated, result.unchanged) == (3, 0, 0)
    async with store.sessions() as session:
        jan = (await session.execute(sa.select(Taxpayer).where(Taxpayer.ref == "T1"))).scalar_one()
        assert jan.account_number == NRB_1
        assert jan.postal_code == "41-709"
        assert jan.language == "pl"
        anna = (await session.execute(sa.select(Taxpayer).where(Taxpayer.ref == "T2"))).scalar_one()
        assert anna.language == "en"
        company = (
            await session.execute(sa.select(Taxpayer).where(Taxpayer.ref == "T3"))
        ).scalar_one()
        assert (company.pesel, company.nip) == (None, NIP)
        contacts = {
            (c.taxpayer_id, c.kind): c
            for c in (await session.execute(sa.select(Contact))).scalars()
        }
    phone = contacts[(jan.id, "phone")]
    assert phone.value == "+48601234567"
    assert (phone.notify_consent, phone.consent_source, phone.source) == (True, "import", "import")
    assert phone.consent_at == T0
    email = contacts[(jan.id, "email")]
    assert email.value == "jan.kowalski@example.pl"
    assert (email.notify_consent, email.consent_source) == (False, None)
    assert contacts[(anna.id, "phone")].value == "+48602000111"
    assert contacts[(anna.id, "phone")].notify_consent
    assert contacts[(anna.id, "email")].notify_consent
    assert not contacts[(company.id, "email")].notify_consent


BAD_ROWS = [
    pytest.param(
        "taxpayers",
        TAXPAYERS_HEADER,
        f"T9,80051402472,,Jan,Nowak,Wolności,1,,41-709,Ruda Śląska,Ruda,,,pl,{NRB_3}",
        "taxpayers.csv:2: pesel: invalid PESEL checksum",
        id="pesel-checksum",
    ),
    pytest.param(
        "taxpayers",
        TAXPAYERS_HEADER,
        f"T9,{PESEL_NEW},,Jan,Nowak,Wolności,1,,41-709,Ruda Śląska,Ruda,,,pl,"
        "14105012146410000000000101",
        "taxpayers.csv:2: account_number: not a valid Polish account number (NRB): "
        "wrong check digits",
        id="nrb-check-digits",
    ),
    pytest.param(
        "taxpayers",
        TAXPAYERS_HEADER,
        f"T9,{PESEL_NEW},,Jan,Nowak,Wolności,1,,41-709,Ruda Śląska,Ruda,,,pl,"
        "1310501214641000000000",
        "taxpayers.csv:2: account_number: not a valid Polish account number (NRB): "
        "expected 26 digits",
        id="nrb-length",
    ),
    pytest.param(
        "obligations",
        OBLIGATIONS_HEADER,
        "O9,T1,poll_tax,2026,1,2026-03-15,10.00,,",
        "obligations.csv:2: kind: unknown kind 'poll_tax'; expected one of property_tax, "
        "agricultural_tax, forest_tax, vehicle_tax, waste_fee, dog_fee, perpetual_usufruct, "
        "other_fee",
        id="unknown-kind",
    ),
    pytest.param(
        "obligations",
        OBLIGATIONS_HEADER,
        "O9,T9,property_tax,2026,1,2026-03-15,10.00,,",
        "obligations.csv:2: taxpayer_ref: unknown taxpayer_ref 'T9'",
        id="unknown-taxpayer",
    ),
    pytest.param(
        "obligations",
        OBLIGATIONS_HEADER,
        "O9,T1,property_tax,2026,1,2026-03-15,10.125,,",
        "obligations.csv:2: amount: more than two decimal places: '10.125'",
        id="three-decimals",
    ),
    pytest.param(
        "obligations",
        OBLIGATIONS_HEADER,
        "O9,T1,property_tax,2026,1,2026-03-15,-5.00,,",
        "obligations.csv:2: amount: must be positive: '-5.00'",
        id="negative-amount",
    ),
    pytest.param(
        "obligations",
        OBLIGATIONS_HEADER,
        "O9,T1,property_tax,2027,1,2027-02-30,10.00,,",
        "obligations.csv:2: due_date: not a date (YYYY-MM-DD): no such day '2027-02-30'",
        id="impossible-date",
    ),
    pytest.param(
        "obligations",
        "obligation_ref,taxpayer_ref,kind,year,installment,due_date,decision_ref,description",
        "O9,T1,property_tax,2026,1,2026-03-15,,",
        "obligations.csv:1: amount: missing required column",
        id="missing-column",
    ),
    pytest.param(
        "payments",
        PAYMENTS_HEADER,
        "P9,T2,O1,2026-03-10,10.00,bank",
        "payments.csv:2: obligation_ref: obligation 'O1' belongs to another taxpayer, not 'T2'",
        id="obligation-of-another-taxpayer",
    ),
    pytest.param(
        "payments",
        PAYMENTS_HEADER,
        "P9,T1,O1,10.03.2026,10.00,bank",
        "payments.csv:2: paid_on: not a date (YYYY-MM-DD): '10.03.2026'",
        id="not-iso-date",
    ),
]


@pytest.mark.parametrize(("kind", "header", "row", "expected"), BAD_ROWS)
async def test_a_bad_row_is_reported_and_nothing_is_written(
    store: Store, tmp_path: Path, kind: str, header: str, row: str, expected: str
) -> None:
    await load_city(store, tmp_path / "city")
    before = await counts(store)
    # A good row first: it must not be taken either.
    good = {
        "taxpayers": TAXPAYERS[0]
        .replace("T1,", "T8,", 1)
        .replace(PESEL_1, "90010100085")
        .replace(NRB_1, "")
        .replace("jan.kowalski", "j"),
        "obligations": "O8,T1,waste_fee,2026,1,2026-03-15,109.50,,",
        "payments": "P8,T1,O2,2026-05-10,120.00,bank",
    }[kind]
    path = write(tmp_path, f"{kind}.csv", header, [row, good])
    result = await run(store, kind, path, display_name=f"{kind}.csv")
    assert [str(error) for error in result.errors] == [expected]
    assert await counts(store) == before


async def test_every_bad_row_is_reported_with_its_physical_line(
    store: Store, tmp_path: Path
) -> None:
    await load_city(store, tmp_path / "city")
    before = await counts(store)
    path = write(
        tmp_path,
        "obligations.csv",
        OBLIGATIONS_HEADER,
        [
            'O5,T1,waste_fee,2026,1,2026-03-15,109.50,,"two\nlines"',
            "O6,T1,waste_fee,2026,0,2026-05-15,109.50,,",
            "",
            "O7,T1,waste_fee,2026,3,2026-09-15,1e3,,",
            "O5,T1,waste_fee,2026,4,2026-11-15,109.50,,",
            "O8,T1,waste_fee,2026,4,2026-11-15,109.50,",
        ],
    )
    result = await run(store, "obligations", path, display_name="obligations.csv")
    assert [str(error) for error in result.errors] == [
        "obligations.csv:4: installment: must be between 1 and 999: '0'",
        "obligations.csv:6: amount: write the amount with a dot and digits only: '1e3'",
        "obligations.csv:7: obligation_ref: 'O5' appears twice (first on line 2)",
        "obligations.csv:8: row: expected 9 fields, found 8",
    ]
    assert await counts(store) == before


async def test_reimporting_the_same_files_changes_nothing(store: Store, tmp_path: Path) -> None:
    await load_city(store, tmp_path)

    async def stamps() -> list[tuple[str, datetime]]:
        async with store.sessions() as session:
            rows = await session.execute(
                sa.union_all(
                    sa.select(Taxpayer.ref, Taxpayer.updated_at),
                    sa.select(Obligation.ref, Obligation.updated_at),
                )
            )
            return sorted((ref, stamp) for ref, stamp in rows)

    before, stamped = await counts(store), await stamps()
    later = FrozenClock(T0 + timedelta(hours=1))
    for kind in ImportKind:
        result = await run(store, kind, tmp_path / f"{kind}.csv", clock=later)
        assert result.ok
        assert (result.inserted, result.updated) == (0, 0)
        assert result.unchanged == result.rows > 0
    after = await counts(store)
    assert after.pop("import_runs") == before.pop("import_runs") + 3
    assert after == before
    assert await stamps() == stamped


async def test_a_changed_amount_updates_the_obligation_in_place(
    store: Store, tmp_path: Path
) -> None:
    await load_city(store, tmp_path)
    async with store.sessions() as session:
        o1 = (
            await session.execute(sa.select(Obligation).where(Obligation.ref == "O1"))
        ).scalar_one()
    changed = [OBLIGATIONS[0].replace("120.00", "150.00"), *OBLIGATIONS[1:]]
    later = FrozenClock(T0 + timedelta(hours=1))
    path = write(tmp_path, "o.csv", OBLIGATIONS_HEADER, changed)
    result = await run(store, "obligations", path, clock=later)
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 3)
    async with store.sessions() as session:
        now = (
            await session.execute(sa.select(Obligation).where(Obligation.ref == "O1"))
        ).scalar_one()
        payment = (
            await session.execute(sa.select(Payment).where(Payment.ref == "P1"))
        ).scalar_one()
        allocations = (
            await session.execute(
                sa.select(Allocation.obligation_id, Allocation.principal).where(
                    Allocation.payment_id == payment.id
                )
            )
        ).all()
    assert (now.id, now.amount) == (o1.id, Decimal("150.00"))
    assert (o1.updated_at, now.updated_at, now.created_at) == (T0, later.now(), T0)
    assert payment.obligation_id == o1.id
    assert allocations == [(o1.id, Decimal("120.00"))]


async def test_a_changed_payment_rewrites_the_allocations(store: Store, tmp_path: Path) -> None:
    await load_city(store, tmp_path)
    changed = [PAYMENTS[0].replace(",120.00,", ",130.00,"), PAYMENTS[1]]
    result = await run(store, "payments", write(tmp_path, "p.csv", PAYMENTS_HEADER, changed))
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
    async with store.sessions() as session:
        parts = (
            await session.execute(
                sa.select(Obligation.ref, Allocation.principal)
                .join(Payment, Payment.id == Allocation.payment_id)
                .outerjoin(Obligation, Obligation.id == Allocation.obligation_id)
                .where(Payment.ref == "P1")
                .order_by(Obligation.ref)
            )
        ).all()
    # The named instalment first, then the one due next (OP art. 62 §1).
    assert parts == [("O1", Decimal("120.00")), ("O2", Decimal("10.00"))]


async def test_dry_run_reports_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "taxpayers.csv", TAXPAYERS_HEADER, TAXPAYERS)
    result = await run(store, "taxpayers", path, dry_run=True)
    assert result.ok
    assert result.dry_run
    assert (result.rows, result.inserted) == (3, 3)
    assert (await counts(store))["taxpayers"] == 0


async def test_columns_are_matched_by_name_and_unknown_ones_ignored(
    store: Store, tmp_path: Path
) -> None:
    await load_city(store, tmp_path)
    path = write(
        tmp_path,
        "reordered.csv",
        "amount,comment,due_date,kind,obligation_ref,taxpayer_ref,year,installment,"
        "description,decision_ref",
        # An empty instalment is a levy paid at once: its one instalment.
        ["109.50,ignored,2026-03-15,waste_fee,O9,T2,2026,,,"],
    )
    result = await run(store, "obligations", path)
    assert result.ok
    assert result.inserted == 1
    async with store.sessions() as session:
        row = (
            await session.execute(sa.select(Obligation).where(Obligation.ref == "O9"))
        ).scalar_one()
    assert (row.kind, row.amount, row.due_date.isoformat(), row.installment) == (
        "waste_fee",
        Decimal("109.50"),
        "2026-03-15",
        1,
    )


async def test_the_run_is_recorded(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "taxpayers.csv", TAXPAYERS_HEADER, TAXPAYERS)
    result = await run(store, "taxpayers", path)
    async with store.sessions() as session:
        runs = (await session.execute(sa.select(ImportRun))).scalars().all()
    assert [(r.kind, r.file_name, r.rows, r.inserted, r.sha256) for r in runs] == [
        ("taxpayers", str(path), 3, 3, result.sha256)
    ]
    assert len(result.sha256) == 64


async def test_changed_contacts_follow_the_file(store: Store, tmp_path: Path) -> None:
    header = TAXPAYERS_HEADER + ",notify_consent"
    first = [TAXPAYERS[0] + ",sms+email"]
    assert (await run(store, "taxpayers", write(tmp_path, "a.csv", header, first))).ok
    async with store.sessions() as session:
        taxpayer_id = (
            await session.execute(sa.select(Taxpayer.id).where(Taxpayer.ref == "T1"))
        ).scalar_one()
        # The resident also gave a number in the chat; the import must leave it alone.
        session.add(
            Contact(taxpayer_id=taxpayer_id, kind="phone", value="+48609000000", source="chat")
        )
        await session.commit()
    moved = [TAXPAYERS[0].replace("+48601234567", "+48602111222") + ",email"]
    result = await run(store, "taxpayers", write(tmp_path, "b.csv", header, moved))
    assert result.updated == 1
    async with store.sessions() as session:
        contacts = sorted(
            (c.kind, c.value, c.source, c.notify_consent)
            for c in (await session.execute(sa.select(Contact))).scalars()
        )
    assert contacts == [
        ("email", "jan.kowalski@example.pl", "import", True),
        ("phone", "+48602111222", "import", False),
        ("phone", "+48609000000", "chat", False),
    ]


async def test_an_account_number_cannot_belong_to_two_taxpayers(
    store: Store, tmp_path: Path
) -> None:
    await load_city(store, tmp_path)
    row = f"T4,{PESEL_NEW},,Jan,Nowak,Wolności,1,,41-709,Ruda Śląska,Ruda,,,pl,{NRB_2}"
    result = await run(
        store,
        "taxpayers",
        write(tmp_path, "t.csv", TAXPAYERS_HEADER, [row]),
        display_name="t.csv",
    )
    assert [str(e) for e in result.errors] == [
        "t.csv:2: account_number: already the account of taxpayer 'T2'"
    ]


async def test_an_account_number_may_move_within_one_file(store: Store, tmp_path: Path) -> None:
    await load_city(store, tmp_path)
    swapped = [
        TAXPAYERS[0].replace(NRB_1, NRB_2),
        TAXPAYERS[1].replace(NRB_2, NRB_1),
        TAXPAYERS[2],
    ]
    result = await run(store, "taxpayers", write(tmp_path, "t.csv", TAXPAYERS_HEADER, swapped))
    assert result.ok, result.errors
    assert result.updated == 2
    async with store.sessions() as session:
        accounts = dict(
            (await session.execute(sa.select(Taxpayer.ref, Taxpayer.account_number))).all()
        )
    assert (accounts["T1"], accounts["T2"]) == (NRB_2, NRB_1)


def write_raw(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


async def test_a_file_not_in_utf8_is_refused_at_its_line(store: Store, tmp_path: Path) -> None:
    await load_city(store, tmp_path / "city")
    data = (
        f"{OBLIGATIONS_HEADER}\n{OBLIGATIONS[0]}\nO9,T1,dog_fee,2026,1,2026-03-31,10.00,,opłata\n"
    )
    path = write_raw(tmp_path, "obligations.csv", data.encode("cp1250"))
    result = await run(store, "obligations", path, display_name="obligations.csv")
    assert [str(error) for error in result.errors] == [
        "obligations.csv:3: file: not UTF-8 text; save the export as UTF-8"
    ]


async def test_a_taxpayers_file_needs_pesel_or_nip(store: Store, tmp_path: Path) -> None:
    header = TAXPAYERS_HEADER.replace("pesel,nip,", "")
    row = f"T1,Jan,Kowalski,Niedurnego,12,3,41-709,Ruda Śląska,Nowy Bytom,,,pl,{NRB_1}"
    path = write(tmp_path, "taxpayers.csv", header, [row])
    result = await run(store, "taxpayers", path, display_name="taxpayers.csv")
    assert [str(error) for error in result.errors] == [
        "taxpayers.csv:1: pesel: missing required column (pesel or nip)"
    ]
    only_nip = write(tmp_path, "nip.csv", header + ",nip", [f"{row},{NIP}"])
    assert (await run(store, "taxpayers", only_nip)).ok


# --- issue 6 "Also": every bad column, postal codes, duplicate identifiers, delimiter, NUL ------


async def test_every_bad_column_of_a_row_is_reported(store: Store, tmp_path: Path) -> None:
    row = (
        "T9,80051402472,12345,Jan,Nowak,Wolności,1,,41709,Ruda Śląska,Ruda,12,not-an-email,fr,"
        "14105012146410000000000101"
    )
    path = write(tmp_path, "taxpayers.csv", TAXPAYERS_HEADER, [row])
    result = await run(store, "taxpayers", path, display_name="taxpayers.csv")
    assert [str(error).split(": ")[1] for error in result.errors] == [
        "postal_code",
        "language",
        "pesel",
        "nip",
        "account_number",
        "phone",
        "email",
    ]
    assert (
        str(result.errors[0]) == "taxpayers.csv:2: postal_code: not a postal code (NN-NNN): '41709'"
    )
    obligation = "O9,T404,poll_tax,twenty,0,2026-02-30,1e3,,"
    path = write(tmp_path, "obligations.csv", OBLIGATIONS_HEADER, [obligation])
    result = await run(store, "obligations", path, display_name="obligations.csv")
    assert [str(error).split(": ")[1] for error in result.errors] == [
        "taxpayer_ref",
        "kind",
        "year",
        "installment",
        "due_date",
        "amount",
    ]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [TAXPAYERS[0], TAXPAYERS[1].replace(PESEL_2, PESEL_1)],
            "taxpayers.csv:3: pesel: the same PESEL as taxpayer 'T1' on line 2",
            id="pesel-twice-in-a-file",
        ),
        pytest.param(
            [TAXPAYERS[2], TAXPAYERS[2].replace("T3,", "T4,", 1).replace(NRB_3, "")],
            "taxpayers.csv:3: nip: the same NIP as taxpayer 'T3' on line 2",
            id="nip-twice-in-a-file",
        ),
    ],
)
async def test_one_identifier_for_two_taxpayers_in_a_file_is_refused(
    store: Store, tmp_path: Path, rows: list[str], expected: str
) -> None:
    path = write(tmp_path, "taxpayers.csv", TAXPAYERS_HEADER, rows)
    result = await run(store, "taxpayers", path, display_name="taxpayers.csv")
    assert [str(error) for error in result.errors] == [expected]


async def test_a_new_taxpayer_with_anothers_pesel_or_nip_is_refused(
    store: Store, tmp_path: Path
) -> None:
    await load_city(store, tmp_path / "city")
    rows = [
        f"T8,{PESEL_1},,Jan,Kowalski,Niedurnego,12,3,41-709,Ruda Śląska,Nowy Bytom,,,pl,",
        f"T9,,{NIP},,Piekarnia,Górnośląska,7,,41-706,Ruda Śląska,Wirek,,,pl,",
    ]
    path = write(tmp_path, "taxpayers.csv", TAXPAYERS_HEADER, rows)
    result = await run(store, "taxpayers", path, display_name="taxpayers.csv")
    assert [str(error) for error in result.errors] == [
        "taxpayers.csv:2: pesel: already the PESEL of taxpayer 'T1'",
        "taxpayers.csv:3: nip: already the NIP of taxpayer 'T3'",
    ]
    # The same PESEL may move between taxpayers when the file moves both.
    swapped = [
        TAXPAYERS[0].replace(PESEL_1, PESEL_2),
        TAXPAYERS[1].replace(PESEL_2, PESEL_1),
    ]
    path = write(tmp_path, "swap.csv", TAXPAYERS_HEADER, swapped)
    assert (await run(store, "taxpayers", path)).ok


async def test_a_semicolon_separated_file_gets_a_hint(store: Store, tmp_path: Path) -> None:
    header = OBLIGATIONS_HEADER.replace(",", ";")
    path = write(tmp_path, "obligations.csv", header, ["O9;T1;dog_fee;2026;1;2026-03-31;62.50;;"])
    result = await run(store, "obligations", path, display_name="obligations.csv")
    assert [str(error) for error in result.errors] == [
        "obligations.csv:1: header: the columns are separated by semicolons; "
        "export the file with commas (,)"
    ]


async def test_a_nul_byte_in_any_field_is_refused(store: Store, tmp_path: Path) -> None:
    await load_city(store, tmp_path / "city")
    before = await counts(store)
    path = write(
        tmp_path,
        "obligations.csv",
        OBLIGATIONS_HEADER,
        [
            "O8,T1,dog_fee,2026,1,2026-03-31,62.50,,opis\x00",
            "O9,T1,dog_fee,2026,1,2026-03-31,62.50,A\x00,",
        ],
    )
    result = await run(store, "obligations", path, display_name="obligations.csv")
    assert [str(error) for error in result.errors] == [
        "obligations.csv:2: description: contains a NUL byte",
        "obligations.csv:3: decision_ref: contains a NUL byte",
    ]
    assert await counts(store) == before


@pytest.mark.parametrize(
    ("year", "due_date", "ok"),
    [
        ("2027", "9999-12-31", False),
        ("2027", "2025-12-31", False),
        ("2027", "2029-01-01", False),
        ("2027", "2026-12-01", True),
        ("2027", "2028-12-31", True),
    ],
)
async def test_a_due_date_far_from_its_year_is_refused(
    store: Store, tmp_path: Path, year: str, due_date: str, ok: bool
) -> None:
    await load_city(store, tmp_path / "city")
    row = f"O9,T1,property_tax,{year},1,{due_date},10.00,,"
    path = write(tmp_path, "obligations.csv", OBLIGATIONS_HEADER, [row])
    result = await run(store, "obligations", path, display_name="obligations.csv")
    if ok:
        assert result.ok, result.errors
    else:
        assert [str(error) for error in result.errors] == [
            f"obligations.csv:2: due_date: {due_date} is far from the levy's year {year} "
            f"(a due date falls in {int(year) - 1}–{int(year) + 1})"
        ]
