"""Bank statements that book themselves: two Polish MT940 `:86:` layouts and camt.053, each
credit booked once by the bank's reference, unmatched ones kept for staff, bad files refused
whole with one `FILE:LINE` line per problem; on both engines, through `gmina` as run."""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from payments.statements import read_statement
from payments.statements.details86 import read_details
from storage.balances import taxpayer_balance
from storage.booking_models import UnmatchedCredit
from storage.conversation_models import AuditEntry
from storage.models import Obligation, Payment, Taxpayer
from tests.bot.test_import_cli import count, gmina
from tests.conftest import Store
from tests.storage.test_balances import POLICY

FIXTURES = Path(__file__).parent.parent / "fixtures" / "statements"
ACCOUNT_T1 = "24105012141000009012340001"
ACCOUNT_T2 = "94105012141000009012340002"
ACCOUNT_NOBODY = "02105012141000009012340009"
AS_OF = date(2026, 11, 30)
HEAD = ", 5 entries: 4 credits, 1 debits and reversals ignored, 1 repeated in the file"
MT940_HEAD = "MT940" + HEAD


async def _city(store: Store) -> None:
    """T1 and T2, each with an individual account and 500.00 due on 15 Nov 2026."""
    async with store.sessions() as session:
        for ref, account in (("T1", ACCOUNT_T1), ("T2", ACCOUNT_T2)):
            taxpayer = Taxpayer(ref=ref, last_name="Nowak", account_number=account, row_hash=ref)
            session.add(taxpayer)
            await session.flush()
            session.add(
                Obligation(
                    ref=f"{ref}-O1", taxpayer_id=taxpayer.id, kind="property_tax", year=2026,
                    due_date=date(2026, 11, 15), amount=Decimal("500.00"), row_hash="h",
                )
            )  # fmt: skip
        await session.commit()


async def _payments(store: Store) -> dict[str, tuple[str, Decimal]]:
    async with store.sessions() as session:
        result = await session.execute(
            sa.select(Payment.ref, Taxpayer.ref, Payment.amount).join(
                Taxpayer, Taxpayer.id == Payment.taxpayer_id
            )
        )
        return {ref: (taxpayer_ref, amount) for ref, taxpayer_ref, amount in result}


async def _outstanding(store: Store, taxpayer_ref: str) -> Decimal:
    async with store.sessions() as session:
        balance = await taxpayer_balance(session, taxpayer_ref, AS_OF, POLICY)
    assert balance is not None
    return sum((row.principal for row in balance.obligations), Decimal(0))


def _fixture(tmp_path: Path, name: str) -> Path:
    return Path(shutil.copy(FIXTURES / name, tmp_path / name))


STATEMENTS = [
    pytest.param(
        "mt940_angle_utf8.sta",
        MT940_HEAD,
        {
            "bank:BR26110200001": ("T1", Decimal("120.00")),
            "bank:BR26110200002": ("T2", Decimal("50.00")),
        },
        [
            ("BR26110200004", "30.00", ACCOUNT_NOBODY, "ZBIGNIEW NIEZNANY 41-700 RUDA ŚLĄSKA",
             "PODATEK"),
        ],
        id="mt940-angle-utf8",
    ),
    pytest.param(
        "mt940_caret_cp852.sta",
        MT940_HEAD,
        {
            "bank:WB2611030007": ("T1", Decimal("80.00")),
            "bank:WB2611030010": ("T2", Decimal("99.99")),
        },
        [("WB2611030009", "15.50", ACCOUNT_NOBODY, "KRZYSZTOF WĄSIK", "OPŁATA ZA PSA")],
        id="mt940-caret-cp852",
    ),
    pytest.param(
        "camt053_v08.xml",
        "camt.053.001.08" + HEAD,
        {
            "bank:C26110400001": ("T1", Decimal("200.00")),
            "bank:C26110400004": ("T2", Decimal("40.00")),
        },
        [("C26110400005", "30.00", ACCOUNT_NOBODY, "Zbigniew Nieznany", "podatek")],
        id="camt053-v08",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "head", "booked", "unmatched"), STATEMENTS)
async def test_a_statement_books_its_credits_once_and_keeps_the_unmatched(
    store: Store,
    tmp_path: Path,
    name: str,
    head: str,
    booked: dict[str, tuple[str, Decimal]],
    unmatched: list[tuple[str, ...]],
) -> None:
    await _city(store)
    path = _fixture(tmp_path, name)
    dry = await gmina(store, "import", "bank-statement", "--dry-run", str(path))
    assert dry.exit_code == 0, dry.output
    assert dry.stdout == (
        f"{path}: {head}; dry run, would be: 2 booked, 0 booked before, 1 kept unmatched, "
        "0 kept before; nothing written\n"
    )
    assert await count(store, Payment) == 0
    first = await gmina(store, "import", "bank-statement", str(path))
    assert first.exit_code == 0, first.output
    assert first.stdout == (
        f"{path}: {head}; 2 booked, 0 booked before, 1 kept unmatched, 0 kept before\n"
    )
    again = await gmina(store, "import", "bank-statement", str(path))
    assert again.exit_code == 0, again.output
    assert again.stdout == (
        f"{path}: {head}; 0 booked, 2 booked before, 0 kept unmatched, 1 kept before\n"
    )
    assert await _payments(store) == booked
    for taxpayer_ref in ("T1", "T2"):
        paid = sum(amount for owner, amount in booked.values() if owner == taxpayer_ref)
        assert await _outstanding(store, taxpayer_ref) == Decimal("500.00") - paid
    listed = await gmina(store, "payments", "unmatched", "--json")
    assert listed.exit_code == 0, listed.output
    assert [
        (row["bank_ref"], row["amount"], row["account"], row["payer"], row["title"])
        for row in json.loads(listed.stdout)
    ] == unmatched
    assert await count(store, UnmatchedCredit) == 1


async def test_an_unmatched_credit_is_assigned_by_staff_once_with_an_audit_entry(
    store: Store, tmp_path: Path
) -> None:
    await _city(store)
    path = _fixture(tmp_path, "camt053_v08.xml")
    assert (await gmina(store, "import", "bank-statement", str(path))).exit_code == 0
    table = await gmina(store, "payments", "unmatched")
    assert table.stdout.splitlines() == [
        "bank ref      paid on     amount  account paid to             payer              title",
        "C26110400005  2026-11-04   30.00  02105012141000009012340009  Zbigniew Nieznany  podatek",
    ]
    assigned = await gmina(store, "payments", "assign", "C26110400005", "T2", "--as", "anna")
    assert assigned.exit_code == 0, assigned.output
    assert (
        assigned.stdout
        == "credit C26110400005 booked as payment bank:C26110400005 of taxpayer T2\n"
    )
    twice = await gmina(store, "payments", "assign", "C26110400005", "T1", "--as", "anna")
    assert twice.exit_code == 1
    assert twice.stderr == "Error: credit bank:C26110400005 was assigned before\n"
    unknown = await gmina(store, "payments", "assign", "C404", "T1")
    assert unknown.exit_code == 1
    assert unknown.stderr == "Error: no unmatched credit bank:C404\n"
    assert await _outstanding(store, "T2") == Decimal("430.00")
    assert (await gmina(store, "payments", "unmatched")).stdout == "no unmatched credits\n"
    everything = json.loads((await gmina(store, "payments", "unmatched", "--all", "--json")).stdout)
    assert [(r["bank_ref"], r["taxpayer_ref"], r["assigned_by"]) for r in everything] == [
        ("C26110400005", "T2", "staff:anna")
    ]
    # The statement again: the assigned credit is neither booked again nor kept again.
    again = await gmina(store, "import", "bank-statement", str(path))
    assert again.stdout.endswith("0 booked, 2 booked before, 0 kept unmatched, 1 kept before\n")
    async with store.sessions() as session:
        audit = (await session.execute(sa.select(AuditEntry.actor, AuditEntry.action))).all()
    assert audit == [("staff:anna", "payment.assign")]
    assert len(await _payments(store)) == 3


BAD_MT940 = """:20:ST1
:25:/PL76105012141000000000000001
:28C:1
:60F:C261101PLN0,00
:61:2611021102CN120,00N525NONREF//BR1
:86:020<20T1 PODATEK<38PL24105012141000009012340001
:61:26110X1102CN1,00N525NONREF//BR2
:86:020<20ZLE
:61:2611021102CN50,00N525NONREF//BR3
:86:020<20T2<38PL94105012141000009012340003
:61:2611021102CN121,00N525NONREF//BR1
:86:020<20T1 PODATEK<38PL24105012141000009012340001
:61:2611021102CN5,00N525NONREF
:86:020<20BEZ REFERENCJI
:61:2611021102CN5,00N525NONREF//BR6
:86:020<20ZLY ODDZIAL<38PL74105012151000009012340009
:62F:C261102PLN0,00
"""


async def test_a_bad_mt940_names_each_line_and_books_nothing(store: Store, tmp_path: Path) -> None:
    await _city(store)
    path = tmp_path / "bad.sta"
    path.write_text(BAD_MT940, encoding="utf-8")
    result = await gmina(store, "import", "bank-statement", str(path))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{path}:7: :61: does not follow the MT940 layout",
        f"{path}:9: the account paid to is not a valid NRB/IBAN: wrong check digits",
        f"{path}:11: bank reference 'BR1' is also at {path}:5 with another amount, date or account",
        f"{path}:13: :61: has no bank reference (after //, or in <10 of :86:)",
        f"{path}:15: the account paid to is not a valid NRB/IBAN: no such bank branch code "
        "10501215",
    ]
    assert await count(store, Payment) == 0
    assert await count(store, UnmatchedCredit) == 0


async def test_a_credit_booked_before_with_other_facts_refuses_the_statement(
    store: Store, tmp_path: Path
) -> None:
    await _city(store)
    path = _fixture(tmp_path, "mt940_angle_utf8.sta")
    assert (await gmina(store, "import", "bank-statement", str(path))).exit_code == 0
    changed = tmp_path / "changed.sta"
    # BR…02 with another amount; BR…04 (kept unmatched before) now as a new credit BR…05.
    text = path.read_text(encoding="utf-8")
    text = text.replace("CN50,00N525NONREF//BR26110200002", "CN55,00N525NONREF//BR26110200002")
    text = text.replace("NONREF//BR26110200004", "NONREF//BR26110200005")
    changed.write_text(text, encoding="utf-8")
    result = await gmina(store, "import", "bank-statement", str(changed))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{changed}:8: bank reference 'BR26110200002' was booked before with another taxpayer, "
        "amount or date"
    ]
    assert await count(store, Payment) == 2
    assert await count(store, UnmatchedCredit) == 1


CAMT_02 = """<?xml version="1.0"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>
<Acct><Id><IBAN>PL24105012141000009012340001</IBAN></Id></Acct>
<Ntry><Amt Ccy="PLN">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-11-05</Dt></BookgDt><AcctSvcrRef>V2-1</AcctSvcrRef>
<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Jan</Nm></Dbtr></RltdPties></TxDtls></NtryDtls></Ntry>
<Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-11-05</Dt></BookgDt><AcctSvcrRef>V2-2</AcctSvcrRef></Ntry>
<Ntry><Amt Ccy="PLN">10,00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-11-05</Dt></BookgDt><AcctSvcrRef>V2-3</AcctSvcrRef></Ntry>
<Ntry><Amt Ccy="PLN">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-11-05</Dt></BookgDt></Ntry>
</Stmt></BkToCstmrStmt></Document>
"""


async def test_camt053_problems_name_the_entry_and_book_nothing(
    store: Store, tmp_path: Path
) -> None:
    await _city(store)
    path = tmp_path / "bad.xml"
    path.write_text(CAMT_02, encoding="utf-8")
    result = await gmina(store, "import", "bank-statement", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}: entry 2: currency EUR: only PLN is booked",
        f"{path}: entry 3: amount '10,00' is not a positive number with at most 2 decimals",
        f"{path}: entry 4: no bank reference (AcctSvcrRef)",
    ]
    path.write_text(CAMT_02.replace("</Stmt>", "</Stmt"), encoding="utf-8")
    broken = await gmina(store, "import", "bank-statement", str(path))
    assert broken.stderr.splitlines() == [f"{path}:13: column 7: not well-formed XML"]
    path.write_text(CAMT_02.replace("camt.053.001.02", "camt.052.001.02"), encoding="utf-8")
    other = await gmina(store, "import", "bank-statement", str(path))
    assert other.stderr.splitlines() == [
        f"{path}:1: not a camt.053.001.02–08 document: "
        "{urn:iso:std:iso:20022:tech:xsd:camt.052.001.02}Document"
    ]
    assert await count(store, Payment) == 0


def test_camt053_version_02_reads_the_statement_account_and_the_plain_names(
    tmp_path: Path,
) -> None:
    path = tmp_path / "v02.xml"
    path.write_text(CAMT_02, encoding="utf-8")
    read = read_statement(path, "v02.xml")
    assert read.format == "camt.053.001.02"
    first = read.entries[0]
    assert (first.bank_ref, first.credited_account, first.counterparty, first.paid_on) == (
        "V2-1", "PL24105012141000009012340001", "Jan", date(2026, 11, 5),
    )  # fmt: skip


def test_an_xml_bomb_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xml"
    path.write_text(
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">&b;</Document>',
        encoding="utf-8",
    )
    read = read_statement(path, "bomb.xml")
    assert [str(p) for p in read.problems] == ["bomb.xml:1: refused XML: EntitiesForbidden"]


@pytest.mark.parametrize(
    ("text", "title", "counterparty", "credited"),
    [
        (
            "020<00PRZELEW<20T1 PODATEK OD NIE<21RUCHOMOSCI<27JAN<28UL. A 1"
            "<38PL24105012141000009012340001",
            "T1 PODATEK OD NIERUCHOMOSCI", "JAN UL. A 1", "PL24105012141000009012340001",
        ),
        (
            "240^00PRZELEW^20OPŁATA\n^21 ZA PSA^27ANNA^2941-700 RUDA",
            "OPŁATA ZA PSA", "ANNA 41-700 RUDA", "",
        ),
        (
            "020+00PRZELEW+20T2 RATA 1+2+27ANNA+38PL94105012141000009012340002",
            "T2 RATA 1+2", "ANNA", "PL94105012141000009012340002",
        ),
        ("PODATEK OD NIERUCHOMOSCI", "PODATEK OD NIERUCHOMOSCI", "", ""),
    ],
    ids=["angle", "caret-broken-line", "plus", "free-text"],
)  # fmt: skip
def test_the_86_reader_splits_each_polish_layout(
    text: str, title: str, counterparty: str, credited: str
) -> None:
    details = read_details(text)
    assert (details.title, details.counterparty, details.credited_account) == (
        title, counterparty, credited,
    )  # fmt: skip
