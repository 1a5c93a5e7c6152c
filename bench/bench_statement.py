"""A bank statement at city scale: 100,000 credits read, matched and booked on the
150,000-taxpayer city, through `gmina import bank-statement` as the operator runs it.

The city (taxpayers, obligations and their payments from `gmina demo-data`) is imported into a
store of this benchmark's own (bench/data/statement.db, database gmina_statement), since the
statement changes it. The statement pays 95% of its credits to taxpayers' individual accounts
(each taxpayer at most once) and 5% to accounts nobody has (kept unmatched), dated the day after
the city's newest payment, as the next day's statement would be. Measured: the first
import (rows/s, peak RSS of the process), the same statement again (books nothing), and a
camt.053.001.08 statement of as many new credits on top.

    python -m bench.bench_statement [--taxpayers N] [--credits N] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import csv
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from schwifty import IBAN

from bench.city import DATA, IMPORT_KINDS, csv_city, fresh_store, gmina, store_env
from bench.common import write_results
from storage.identifiers import normalise_nrb

GOAL_S = 30.0
UNMATCHED_SHARE = 0.05


def _accounts(folder: Path) -> list[str]:
    with (folder / "taxpayers.csv").open(encoding="utf-8", newline="") as handle:
        rows = csv.DictReader(handle)
        return [normalise_nrb(row["account_number"]) for row in rows if row["account_number"]]


def _credits(accounts: list[str], count: int, prefix: str, seed: int) -> list[tuple[str, str, str]]:
    """(bank ref, account paid to, amount "123,45") per credit."""
    rng = random.Random(seed)
    unmatched = int(count * UNMATCHED_SHARE)
    paid_to = rng.sample(accounts, count - unmatched)
    paid_to += [
        IBAN.generate("PL", bank_code="10501214", account_code=f"{9_000_000_000 + n:016d}").compact[
            2:
        ]
        for n in range(unmatched)
    ]
    rng.shuffle(paid_to)
    return [
        (f"{prefix}{n:010d}", account, f"{Decimal(rng.randrange(1_000, 100_000)) / 100:.2f}")
        for n, account in enumerate(paid_to)
    ]


def _last_payment_day(folder: Path) -> date:
    """The city's newest payment: its statements are of the days after."""
    with (folder / "payments.csv").open(encoding="utf-8", newline="") as handle:
        return max(date.fromisoformat(row["paid_on"]) for row in csv.DictReader(handle))


def write_mt940(path: Path, credits: list[tuple[str, str, str]], day: date) -> None:
    """One statement in the `<`-separated Polish `:86:` layout, with a bank fee per 1,000."""
    value = day.strftime("%y%m%d")
    entry = day.strftime("%m%d")
    lines = [":20:BENCH1", ":25:/PL76105012141000000000000001", ":28C:1", f":60F:C{value}PLN0,00"]
    for n, (ref, account, amount) in enumerate(credits):
        lines.append(f":61:{value}{entry}CN{amount.replace('.', ',')}N525NONREF//{ref}")
        lines.append(
            f":86:020<00PRZELEW PRZYCHODZĄCY<20PODATEK OD NIERUCHOMOŚCI<21RATA 4 2026"
            f"<27JAN KOWALSKI<28UL. DŁUGA {n % 200 + 1}\n<2941-700 RUDA ŚLĄSKA"
            f"<3010901014<310000000123456789<38PL{account}"
        )
        if n % 1000 == 999:
            lines.append(f":61:{value}{entry}DN1,00N073NONREF//{ref}F")
            lines.append(":86:073<00OPŁATA<20PROWIZJA")
    lines += [f":62F:C{value}PLN0,00", "-"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_camt053(path: Path, credits: list[tuple[str, str, str]], day: date) -> None:
    entries = "".join(
        f'<Ntry><Amt Ccy="PLN">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>'
        f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
        f"<AcctSvcrRef>{ref}</AcctSvcrRef><NtryDtls><TxDtls><Refs><AcctSvcrRef>{ref}</AcctSvcrRef>"
        f"</Refs><RltdPties><Dbtr><Pty><Nm>Jan Kowalski</Nm></Pty></Dbtr><CdtrAcct><Id>"
        f"<IBAN>PL{account}</IBAN></Id></CdtrAcct></RltdPties><RmtInf><Ustrd>Podatek od "
        f"nieruchomości</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>\n"
        for ref, account, amount in credits
    )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>BENCH</MsgId><CreDtTm>{day}T06:00:00</CreDtTm></GrpHdr><Stmt>"
        "<Id>BENCH</Id><Acct><Id><IBAN>PL76105012141000000000000001</IBAN></Id></Acct>\n"
        f"{entries}</Stmt></BkToCstmrStmt></Document>\n",
        encoding="utf-8",
    )


def _measure(label: str, path: Path, credits: int, env: dict[str, str]) -> dict[str, Any]:
    seconds, peak_mib = gmina(["import", "bank-statement", str(path)], env)
    print(f"  {label}: {credits} credits in {seconds:.1f} s, peak {peak_mib} MiB", flush=True)
    return {
        "credits": credits,
        "file_mib": round(path.stat().st_size / 2**20, 1),
        "seconds": round(seconds, 2),
        "rows_per_second": round(credits / seconds),
        "peak_rss_mib": peak_mib,
        "goal_seconds": GOAL_S,
        "goal_met": seconds <= GOAL_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--taxpayers", type=int, default=150_000)
    parser.add_argument("--credits", type=int, default=100_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()

    folder = csv_city(args.taxpayers)
    accounts = _accounts(folder)
    mt940_path = DATA / f"statement-{args.credits}.sta"
    camt_path = DATA / f"statement-{args.credits}.xml"
    mt940_credits = _credits(accounts, args.credits, "BR", seed=1)
    camt_credits = _credits(accounts, args.credits, "CT", seed=2)
    last = _last_payment_day(folder)
    write_mt940(mt940_path, mt940_credits, last + timedelta(days=1))
    write_camt053(camt_path, camt_credits, last + timedelta(days=2))
    results: dict[str, Any] = {
        "taxpayers": args.taxpayers,
        "credits": args.credits,
        "unmatched_share": UNMATCHED_SHARE,
    }
    for engine_name in args.engines.split(","):
        print(f"engine {engine_name}", flush=True)
        env = store_env(fresh_store(engine_name, "statement"))
        gmina(["db", "upgrade"], env)
        for kind in IMPORT_KINDS:
            gmina(["import", kind, str(folder / f"{kind}.csv")], env)
        first = _measure("MT940", mt940_path, args.credits, env)
        again_s, again_mib = gmina(["import", "bank-statement", str(mt940_path)], env)
        print(f"  MT940 again: {again_s:.1f} s (nothing booked)", flush=True)
        first["again_seconds"] = round(again_s, 2)
        first["again_peak_rss_mib"] = again_mib
        camt = _measure("camt.053", camt_path, args.credits, env)
        results[engine_name] = {"mt940": first, "camt053": camt}
    write_results("statement", results)


if __name__ == "__main__":
    main()
