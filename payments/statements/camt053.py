"""camt.053 (ISO 20022 bank-to-customer statement), versions 001.02 to 001.08.

Read as a stream (defusedxml's iterparse: no DTD, no entities, no external references), an
entry (`Ntry`) at a time. An entry that carries several transactions (`NtryDtls/TxDtls`, a
batch) gives one credit per transaction, each with its own amount and reference. Problems name
the entry (`FILE: entry N`), or the line of XML that cannot be read at all.

Where things are: the bank's reference is `AcctSvcrRef` (the transaction's, else the entry's);
the account paid to is the creditor's account of the transaction (`RltdPties/CdtrAcct`), else
the statement's own account; the payer is `RltdPties/Dbtr` (`Dbtr/Pty` from version 08); the
title is `RmtInf/Ustrd`; the date is the value date (`ValDt`), else the booking date.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from kernel.errors import InputError
from payments.statements.entries import Entry, Place, Problem, Read

_NAMESPACE = re.compile(r"\{urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.0([2-8])\}Document")
_AMOUNT = re.compile(r"\d{1,15}(\.\d{1,2})?")


class _Bad(InputError):
    """A problem in one entry (caught in this module, turned into a `Problem`)."""


def _find(element: Element, path: str, ns: dict[str, str]) -> Element | None:
    return element.find(path, ns)


def _text(element: Element, path: str, ns: dict[str, str]) -> str:
    found = element.find(path, ns)
    return (found.text or "").strip() if found is not None else ""


def _account(element: Element | None, ns: dict[str, str]) -> str:
    if element is None:
        return ""
    return _text(element, "c:Id/c:IBAN", ns) or _text(element, "c:Id/c:Othr/c:Id", ns)


def _amount(element: Element | None) -> tuple[Decimal, str]:
    if element is None:
        raise _Bad("no amount (Amt)")
    text = (element.text or "").strip()
    if not _AMOUNT.fullmatch(text):
        raise _Bad(f"amount {text!r} is not a positive number with at most 2 decimals")
    try:
        return Decimal(text), element.get("Ccy", "")
    except InvalidOperation:
        raise _Bad(f"amount {text!r} is not a number") from None


def _date(entry: Element, ns: dict[str, str]) -> date:
    for path in ("c:ValDt/c:Dt", "c:ValDt/c:DtTm", "c:BookgDt/c:Dt", "c:BookgDt/c:DtTm"):
        text = _text(entry, path, ns)
        if text:
            try:
                return date.fromisoformat(text[:10])
            except ValueError:
                raise _Bad(f"date {text!r} is not a date") from None
    raise _Bad("no value or booking date (ValDt, BookgDt)")


def _party_name(details: Element, role: str, ns: dict[str, str]) -> str:
    return _text(details, f"c:RltdPties/c:{role}/c:Nm", ns) or _text(
        details, f"c:RltdPties/c:{role}/c:Pty/c:Nm", ns
    )


def _entries(
    entry: Element, statement_account: str, where: Place, ns: dict[str, str]
) -> Iterator[Entry]:
    indicator = _text(entry, "c:CdtDbtInd", ns)
    if indicator not in ("CRDT", "DBIT"):
        raise _Bad(f"CdtDbtInd is {indicator!r}, not CRDT or DBIT")
    status = _text(entry, "c:Sts", ns) or _text(entry, "c:Sts/c:Cd", ns)
    if status and status != "BOOK":
        return  # pending or informational: not money on the account yet
    credit = indicator == "CRDT" and _text(entry, "c:RvslInd", ns).lower() != "true"
    paid_on = _date(entry, ns)
    entry_amount, entry_currency = _amount(_find(entry, "c:Amt", ns))
    transactions = entry.findall("c:NtryDtls/c:TxDtls", ns)
    for details in transactions or [entry]:
        if len(transactions) > 1:
            own = _find(details, "c:Amt", ns)
            if own is None:
                own = _find(details, "c:AmtDtls/c:TxAmt/c:Amt", ns)
            amount, currency = _amount(own)
        else:
            amount, currency = entry_amount, entry_currency
        bank_ref = _text(details, "c:Refs/c:AcctSvcrRef", ns) or _text(entry, "c:AcctSvcrRef", ns)
        if not bank_ref:
            raise _Bad("no bank reference (AcctSvcrRef)")
        yield Entry(
            where=where,
            bank_ref=bank_ref,
            credit=credit,
            paid_on=paid_on,
            amount=amount,
            currency=currency,
            credited_account=_account(_find(details, "c:RltdPties/c:CdtrAcct", ns), ns)
            or statement_account,
            counterparty=_party_name(details, "Dbtr", ns),
            counterparty_account=_account(_find(details, "c:RltdPties/c:DbtrAcct", ns), ns),
            title=" ".join(
                " ".join((u.text or "").split()) for u in details.findall("c:RmtInf/c:Ustrd", ns)
            ).strip(),
        )


def read_camt053(name: str, source: Path | IO[bytes]) -> Read:
    """The entries of every statement (`Stmt`) in a camt.053 file, with the problems found."""
    read = Read("camt.053")
    ns: dict[str, str] = {}
    statement_account = ""
    number = 0
    path: list[str] = []
    try:
        for event, element in safe_xml.iterparse(source, events=("start", "end")):
            if event == "start":
                if not ns:
                    found = _NAMESPACE.fullmatch(element.tag)
                    if found is None:
                        read.problems.append(
                            Problem(
                                Place(1, name), f"not a camt.053.001.02–08 document: {element.tag}"
                            )
                        )
                        return read
                    ns = {"c": element.tag[1:].split("}")[0]}
                    read.format = f"camt.053.001.0{found[1]}"
                path.append(element.tag.split("}")[-1])
                continue
            path.pop()
            local = element.tag.split("}")[-1]
            if local == "Acct" and path[-1:] == ["Stmt"]:
                statement_account = _account(element, ns)
            elif local == "Ntry":
                number += 1
                where = Place(number, name, entry=True)
                try:
                    read.entries.extend(_entries(element, statement_account, where, ns))
                except _Bad as bad:
                    read.problems.append(Problem(where, str(bad)))
                element.clear()
            elif local == "Stmt":
                statement_account = ""
                element.clear()
    except safe_xml.ParseError as exc:
        line, column = exc.position
        # What was read before it is no statement: only the place where the XML breaks.
        read.entries.clear()
        read.problems.clear()
        read.problems.append(
            Problem(Place(line, name), f"column {column + 1}: not well-formed XML")
        )
    except DefusedXmlException as exc:
        read.problems.append(Problem(Place(1, name), f"refused XML: {type(exc).__name__}"))
    if not ns and not read.problems:
        read.problems.append(Problem(Place(1, name), "not a camt.053 document"))
    return read


def looks_like_xml(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")


__all__ = ["looks_like_xml", "read_camt053"]
