"""The demo city: a synthetic but realistic Ruda Śląska, the same for the same seed and day.

Taxpayers live in the city's districts and streets with Ruda Śląska postal codes; persons have
Polish (some Ukrainian, a few English) names in their gendered forms and a valid PESEL whose birth
date and sex digit match; some businesses have only a NIP and a company name. Each taxpayer has an
individual account number (NRB) on the city's bank. Obligations cover the current and the
previous year with every kind and its statutory dates (DOMAIN.md); payments are mostly on time,
some late, partial, too large, missing, or without a named obligation, and never after today.

The rows are written in exactly the finance-system export format (CONTRACT.md), and loading the
demo goes through `storage.imports` like any city's files, validation included.
"""

from __future__ import annotations

import csv
import logging
import random
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate
from pathlib import Path
from typing import Final, TypeVar

import sqlalchemy as sa
from schwifty import IBAN
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.pl import nip as stdnum_nip
from stdnum.pl import pesel as stdnum_pesel

from kernel.clock import Clock, today_in_warsaw
from kernel.errors import InternalError
from kernel.money import format_plain, to_grosze
from kernel.settings import LedgerSettings
from storage.imports import ImportKind, ImportResult, import_file
from storage.ledger import LedgerPolicy
from storage.models import ImportRun, ObligationKind, Taxpayer

log = logging.getLogger(__name__)
T = TypeVar("T")

K = ObligationKind
CITY: Final = "Ruda Śląska"
# ING Bank Śląski, the branch the city's individual accounts are opened at (with its check digit).
CITY_BANK: Final = "10501214"
# The city's prefix within the bank's virtual-account range; the payer id follows.
CITY_ACCOUNT_PREFIX: Final = "641000"
# Tax offices whose NIPs a Ruda Śląska business plausibly has (Ruda Śląska, Katowice, Bytom).
TAX_OFFICES: Final = ("641", "641", "641", "634", "626")

TAXPAYER_HEADER: Final = (
    "taxpayer_ref", "pesel", "nip", "first_name", "last_name", "street", "building", "flat",
    "postal_code", "city", "district", "phone", "email", "language", "account_number",
    "notify_consent",
)  # fmt: skip
OBLIGATION_HEADER: Final = (
    "obligation_ref", "taxpayer_ref", "kind", "year", "installment", "due_date", "amount",
    "decision_ref", "description", "decision_delivered_on",
)  # fmt: skip
PAYMENT_HEADER: Final = (
    "payment_ref", "taxpayer_ref", "obligation_ref", "paid_on", "amount", "source",
)  # fmt: skip
DEMO_SAMPLE_REF: Final = "T000001"
FILES: Final = {
    ImportKind.TAXPAYERS: "taxpayers.csv",
    ImportKind.OBLIGATIONS: "obligations.csv",
    ImportKind.PAYMENTS: "payments.csv",
}

# District → (weight ~ thousands of residents, postal codes, streets).
DISTRICTS: Final[dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]]] = {
    "Nowy Bytom": (15, ("41-709", "41-710"), (
        "Niedurnego", "Wolności", "1 Maja", "Piastowska", "Gen. Hallera", "Kościelna",
        "Szpaków", "Chorzowska", "Parkowa", "Wincentego Pola", "Jana Pawła II", "Akacjowa",
    )),
    "Wirek": (15, ("41-706",), (
        "Obrońców Westerplatte", "Górnośląska", "Nowary", "Tuwima", "Strzelecka", "Kubiny",
        "1 Maja", "Dąbrowskiego", "Kalinowa", "Słowackiego", "Młyńska",
    )),
    "Bielszowice": (15, ("41-705",), (
        "Kokota", "Bielszowicka", "Międzyblokowa", "Kałusa", "Nowa", "Sobieskiego",
        "Pokoju", "Jaśminowa", "Łukasiewicza", "Szarotek",
    )),
    "Halemba": (20, ("41-703", "41-704"), (
        "Kłodnicka", "Halembska", "Solidarności", "Zamenhofa", "Energetyków", "Mostowa",
        "Jasna", "Chryzantem", "Dunikowskiego", "Grzegorzka", "Pięciolinii",
    )),
    "Godula": (10, ("41-707",), (
        "Joanny", "Kasprowicza", "Bytomska", "Goduli", "Orzegowska", "Kopernika",
        "Stara", "Wieniawskiego", "Kolberga",
    )),
    "Orzegów": (8, ("41-707",), (
        "Hlonda", "Bytomska", "Szyb Zofii", "Zajęcza", "Lipowa", "Bracka", "Kolonia Karola",
    )),
    "Ruda": (14, ("41-700", "41-701"), (
        "Szpitalna", "Magazynowa", "Raciborska", "Kościelna", "Wolności", "Kokotek",
        "Zabrzańska", "Cicha", "Ratowników", "Zielona",
    )),
    "Kochłowice": (11, ("41-707", "41-708"), (
        "Oświęcimska", "Radoszowska", "Tunkla", "Bukowa", "Kochłowicka", "Gołębia",
        "Plebiscytowa", "Kasztanowa", "Szewczyka",
    )),
    "Bykowina": (9, ("41-709",), (
        "Katowicka", "Górnicza", "Szczęść Boże", "Kokota", "Jankowskiego", "Fojkisa",
        "Dworcowa", "Sztygarska",
    )),
    "Chebzie": (5, ("41-704",), (
        "Kołłątaja", "Mickiewicza", "Kopalniana", "Dworcowa", "Wolności", "Kędzierzyńska",
    )),
    "Ruda Północ": (5, ("41-702",), (
        "Lipa", "Starowiejska", "Bytomska", "Poniatowskiego", "Stalmacha",
    )),
    "Czarny Las": (4, ("41-706",), (
        "Czarnoleśna", "Kingi", "Wyzwolenia", "Leśna", "Norwida", "Paderewskiego",
    )),
}  # fmt: skip

MALE_NAMES: Final = (
    "Jan", "Piotr", "Krzysztof", "Andrzej", "Tomasz", "Paweł", "Marcin", "Michał", "Grzegorz",
    "Józef", "Marek", "Adam", "Łukasz", "Zbigniew", "Jerzy", "Tadeusz", "Mateusz", "Dariusz",
    "Mariusz", "Wojciech", "Ryszard", "Jakub", "Henryk", "Robert", "Kazimierz", "Stanisław",
    "Sebastian", "Bartłomiej", "Dawid", "Szymon", "Rafał", "Jacek", "Gerard", "Alojzy",
)  # fmt: skip
FEMALE_NAMES: Final = (
    "Anna", "Maria", "Katarzyna", "Małgorzata", "Agnieszka", "Barbara", "Ewa", "Krystyna",
    "Elżbieta", "Zofia", "Joanna", "Magdalena", "Monika", "Teresa", "Danuta", "Beata",
    "Jadwiga", "Aleksandra", "Natalia", "Dorota", "Halina", "Irena", "Grażyna", "Karolina",
    "Renata", "Urszula", "Justyna", "Weronika", "Julia", "Zuzanna", "Bożena", "Jolanta",
)  # fmt: skip
# Masculine forms; -ski/-cki/-dzki take -ska/-cka/-dzka for women, the rest do not change.
SURNAMES: Final = (
    "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski",
    "Zieliński", "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur",
    "Kwiatkowski", "Krawczyk", "Piotrowski", "Grabowski", "Pawłowski", "Michalski", "Król",
    "Wieczorek", "Jabłoński", "Wróbel", "Majewski", "Olszewski", "Stępień", "Malinowski",
    "Adamczyk", "Dudek", "Nowicki", "Pawlak", "Górski", "Walczak", "Sikora", "Baran",
    "Szewczyk", "Ostrowski", "Tomaszewski", "Pietrzak", "Zalewski", "Jasiński", "Pietrzyk",
    "Kubica", "Kuś", "Sosna", "Szołtysek", "Bugla", "Pawlas", "Kocur", "Pyka", "Mainka",
    "Ochman", "Kandzia", "Nocoń", "Kołodziej", "Kempa", "Skrzypczyk", "Gawlik", "Wolny",
    "Bończyk", "Kasprzyk", "Moczygemba", "Jendrysik", "Cebula", "Fojcik", "Wyciślok",
    "Badura", "Bednorz", "Grzesik", "Szulc", "Brzeziński", "Sadowski", "Wilczek", "Gajda",
)  # fmt: skip
UK_MALE_NAMES: Final = (
    "Ołeksandr", "Andrij", "Taras", "Mykoła", "Serhij", "Wołodymyr", "Dmytro", "Jurij", "Ihor",
)  # fmt: skip
UK_FEMALE_NAMES: Final = (
    "Olena", "Oksana", "Iryna", "Natalia", "Tetiana", "Switłana", "Hanna", "Kateryna", "Łesia",
)  # fmt: skip
UK_SURNAMES: Final = (
    "Szewczenko", "Kowalenko", "Bondarenko", "Tkaczenko", "Kowalczuk", "Melnyk", "Bojko",
    "Marczenko", "Łysenko", "Petrenko", "Sawczuk", "Poliszczuk", "Moroz", "Olijnyk",
)  # fmt: skip
EN_MALE_NAMES: Final = ("John", "David", "Michael", "James", "Daniel", "Thomas")
EN_FEMALE_NAMES: Final = ("Emma", "Sarah", "Laura", "Emily", "Kate", "Olivia")
EN_SURNAMES: Final = ("Smith", "Brown", "Taylor", "Wilson", "Evans", "Walker", "Murphy", "Hughes")
COMPANY_KINDS: Final = (
    "Przedsiębiorstwo Handlowo-Usługowe", "Zakład Usługowy", "Hurtownia", "Piekarnia",
    "Transport", "Auto-Serwis", "Budownictwo", "Zakład Mechaniczny", "Apteka",
)  # fmt: skip
COMPANY_FORMS: Final = ("Sp. z o.o.", "Sp. z o.o.", "S.A.", "Sp. j.", "s.c.")
MOBILE_PREFIXES: Final = ("50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88")
EMAIL_DOMAINS: Final = ("example.pl", "poczta.example.pl", "example.com")
OTHER_FEES: Final = (
    "Opłata targowa", "Opłata za zajęcie pasa drogowego", "Opłata za wydanie zezwolenia",
)  # fmt: skip
KIND_CODES: Final = {
    K.PROPERTY_TAX: "PN", K.AGRICULTURAL_TAX: "PR", K.FOREST_TAX: "PL", K.VEHICLE_TAX: "PT",
    K.WASTE_FEE: "OK", K.DOG_FEE: "OP", K.PERPETUAL_USUFRUCT: "UW", K.OTHER_FEE: "OI",
}  # fmt: skip
DESCRIPTIONS: Final = {
    K.PROPERTY_TAX: "Podatek od nieruchomości",
    K.AGRICULTURAL_TAX: "Podatek rolny",
    K.FOREST_TAX: "Podatek leśny",
    K.VEHICLE_TAX: "Podatek od środków transportowych",
    K.WASTE_FEE: "Opłata za gospodarowanie odpadami komunalnymi",
    K.DOG_FEE: "Opłata od posiadania psów",
    K.PERPETUAL_USUFRUCT: "Opłata roczna z tytułu użytkowania wieczystego",
}
# upol art. 6 ust. 7 (and the same rule for the agricultural and forest taxes): a natural
# person's yearly tax of at most 100 zł is due in one sum by the first instalment's date.
ONE_SUM_LIMIT: Final = Decimal(100)
# Council rates of the demo (plausible, not the city's resolutions).
WASTE_FEE_PER_PERSON_MONTH: Final = Decimal("36.50")
DOG_FEE_PER_DOG: Final = Decimal("62.50")
# Share of taxpayers whose previous year's obligations are still in the export.
PREVIOUS_YEAR_SHARE: Final = 0.25

# How taxpayers pay: habits by share, and per habit the outcome of each instalment already due
# (cumulative probabilities).
HABITS: Final = ("prompt", "late", "partial", "over", "none")
HABIT_WEIGHTS: Final = tuple(accumulate((70, 12, 6, 4, 8)))
OUTCOMES: Final[dict[str, tuple[tuple[float, str], ...]]] = {
    "prompt": ((0.92, "on_time"), (0.97, "late"), (1.0, "unpaid")),
    "late": ((0.3, "on_time"), (0.9, "late"), (1.0, "unpaid")),
    "partial": ((0.5, "partial"), (0.8, "on_time"), (1.0, "unpaid")),
    "over": ((0.6, "over"), (1.0, "on_time")),
    "none": ((0.85, "unpaid"), (1.0, "partial")),
}

_ASCII = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ", " '-")


@dataclass
class DemoSummary:
    taxpayers: int = 0
    obligations: int = 0
    payments: int = 0
    # What a newcomer can try `gmina balance` and the web chat on.
    sample_ref: str = ""
    imports: list[ImportResult] = field(default_factory=list)


class DemoError(InternalError):
    """The demo city did not pass the importer: a bug in the generator, never the operator's."""


def month_day(year: int, mm_dd: str) -> date:
    """A council's "MM-DD" date in a year (settings.ledger)."""
    month, day = (int(part) for part in mm_dd.split("-"))
    return date(year, month, day)


def nrb_for(payer_id: int) -> str:
    """The taxpayer's individual 26-digit account: the city's bank, then the payer id."""
    iban = IBAN.generate(
        "PL", bank_code=CITY_BANK, account_code=f"{CITY_ACCOUNT_PREFIX}{payer_id:010d}"
    )
    return str(iban.compact).removeprefix("PL")


def pesel_for(born: date, male: bool, serial: int) -> str:
    """A PESEL for a birth date and sex: the month carries the century (+20 for the 2000s)."""
    century_offset = {18: 80, 19: 0, 20: 20, 21: 40, 22: 60}[born.year // 100]
    sex_digit = (serial % 5) * 2 + (1 if male else 0)
    body = f"{born.year % 100:02d}{born.month + century_offset:02d}{born.day:02d}"
    body += f"{serial // 5 % 1000:03d}{sex_digit}"
    return body + stdnum_pesel.calc_check_digit(body)


class DemoRandom(random.Random):
    """`random.Random` with cheap draws: the generator makes millions of them."""

    def below(self, n: int) -> int:
        return int(self.random() * n)

    def between(self, low: int, high: int) -> int:
        return low + int(self.random() * (high - low + 1))

    def pick(self, options: Sequence[T]) -> T:
        return options[int(self.random() * len(options))]


def nip_for(rng: DemoRandom) -> str:
    while True:
        body = rng.pick(TAX_OFFICES) + f"{rng.below(1_000_000):06d}"
        # The checksum of a NIP ending in 0 is its nine digits' weighted sum: the check digit,
        # unless it is 10, which no NIP has.
        check = stdnum_nip.checksum(body + "0")
        if check != 10:
            return body + str(check)


def _split_whole(total: int, parts: int) -> list[Decimal]:
    """A whole-złoty yearly tax in whole-złoty instalments; the first takes the remainder."""
    share = total // parts
    return [Decimal(total - share * (parts - 1))] + [Decimal(share)] * (parts - 1)


@dataclass(slots=True)
class _Obligation:
    ref: str
    kind: str
    year: int
    installment: int
    due: date
    amount: Decimal
    decision_ref: str
    description: str
    delivered_on: date | None

    def row(self, taxpayer_ref: str) -> list[str]:
        return [
            self.ref, taxpayer_ref, self.kind, str(self.year), str(self.installment),
            self.due.isoformat(), format_plain(self.amount), self.decision_ref, self.description,
            self.delivered_on.isoformat() if self.delivered_on else "",
        ]  # fmt: skip


class _City:
    """One random stream for the whole city, consumed in a fixed order: the seed decides all."""

    def __init__(self, seed: int, today: date, ledger: LedgerSettings) -> None:
        self.rng = DemoRandom(seed)
        self.today = today
        self.ledger = ledger
        self.districts = list(DISTRICTS)
        self.district_weights = list(accumulate(weight for weight, _, _ in DISTRICTS.values()))
        self.payments: list[list[str]] = []
        # PESELs and NIPs given out: the importer refuses one identifier for two taxpayers.
        self.identifiers: set[str] = set()

    # --- people ---------------------------------------------------------------------------

    def _unique(self, draw: Callable[[], str]) -> str:
        """A PESEL or NIP no taxpayer has yet: drawn again (rarely) until it is new."""
        value = draw()
        while value in self.identifiers:
            value = draw()
        self.identifiers.add(value)
        return value

    def _person(self, language: str) -> dict[str, str]:
        rng = self.rng
        male = rng.random() < 0.48
        if language == "uk":
            first = rng.pick(UK_MALE_NAMES if male else UK_FEMALE_NAMES)
            last = rng.pick(UK_SURNAMES)
        elif language == "en":
            first = rng.pick(EN_MALE_NAMES if male else EN_FEMALE_NAMES)
            last = rng.pick(EN_SURNAMES)
        else:
            first = rng.pick(MALE_NAMES if male else FEMALE_NAMES)
            last = rng.pick(SURNAMES)
            if not male and last.endswith(("ski", "cki", "dzki")):
                last = last[:-1] + "a"
        youngest = self.today.replace(year=self.today.year - 18, month=1, day=1)
        born = youngest - timedelta(days=rng.below(72 * 365))
        return {
            "first_name": first,
            "last_name": last,
            "pesel": self._unique(lambda: pesel_for(born, male, rng.below(5000))),
            "nip": self._unique(lambda: nip_for(rng)) if rng.random() < 0.04 else "",
        }

    def _company(self, district: str) -> dict[str, str]:
        rng = self.rng
        kind = rng.pick(COMPANY_KINDS)
        name = rng.pick(SURNAMES) if rng.random() < 0.7 else district
        return {
            "first_name": "",
            "last_name": f"{kind} {name} {rng.pick(COMPANY_FORMS)}",
            "pesel": "",
            "nip": self._unique(lambda: nip_for(rng)),
        }

    def _phone(self) -> str:
        rng = self.rng
        digits = rng.pick(MOBILE_PREFIXES) + f"{rng.below(10_000_000):07d}"
        style = rng.random()
        if style < 0.6:
            return "+48" + digits
        if style < 0.85:
            return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
        return digits

    def _email(self, number: int, first: str, last: str) -> str:
        local = f"{first}.{last}".translate(_ASCII).lower() if first else "biuro"
        if not first or self.rng.random() < 0.5:
            local += str(number)
        return f"{local}@{self.rng.pick(EMAIL_DOMAINS)}"

    def _account(self, number: int) -> str:
        nrb = nrb_for(number)
        style = self.rng.random()
        grouped = " ".join([nrb[:2], *(nrb[i : i + 4] for i in range(2, 26, 4))])
        if style < 0.8:
            return nrb
        return grouped if style < 0.95 else "PL" + grouped

    def taxpayer(self, number: int, company: bool) -> list[str]:
        rng = self.rng
        district = rng.choices(self.districts, cum_weights=self.district_weights)[0]
        _, postal_codes, streets = DISTRICTS[district]
        roll = rng.random()
        language = "pl" if company or roll < 0.91 else "uk" if roll < 0.98 else "en"
        who = self._company(district) if company else self._person(language)
        if language == "uk" and rng.random() < 0.15:
            language = "pl"
        building = str(rng.between(1, 150)) + (rng.pick("abc") if rng.random() < 0.1 else "")
        flat = str(rng.between(1, 80)) if not company and rng.random() < 0.65 else ""
        phone = self._phone() if rng.random() < 0.6 else ""
        email = self._email(number, who["first_name"], who["last_name"]) if (
            company or rng.random() < 0.35
        ) else ""  # fmt: skip
        consent = ""
        if (phone or email) and rng.random() < 0.55:
            consent = rng.pick(["sms", "email", "sms+email"]) if phone and email else (
                "sms" if phone else "email"
            )  # fmt: skip
        return [
            f"T{number:06d}", who["pesel"], who["nip"], who["first_name"], who["last_name"],
            rng.pick(streets), building, flat, rng.pick(postal_codes), CITY, district,
            phone, email, language, self._account(number), consent,
        ]  # fmt: skip

    # --- what they owe --------------------------------------------------------------------

    def _levy(
        self,
        number: int,
        kind: ObligationKind,
        year: int,
        amounts: list[Decimal],
        dues: list[date],
        decision_ref: str = "",
        delivered_on: date | None = None,
        description: str | None = None,
    ) -> list[_Obligation]:
        text = description or DESCRIPTIONS[kind]
        many = len(amounts) > 1
        return [
            _Obligation(
                ref=f"{KIND_CODES[kind]}-{year}-{number:06d}-{index:02d}",
                kind=kind,
                year=year,
                installment=index,
                due=due,
                amount=amount,
                decision_ref=decision_ref,
                description=f"{text} {year}, rata {index}" if many else f"{text} {year}",
                delivered_on=delivered_on,
            )
            for index, (amount, due) in enumerate(zip(amounts, dues, strict=True), start=1)
        ]

    def _land_tax(
        self, number: int, kind: ObligationKind, year: int, total: int
    ) -> list[_Obligation]:
        """Property, agricultural or forest tax of a natural person, by the mayor's decision."""
        rng = self.rng
        dues = [date(year, month, 15) for month in (3, 5, 9, 11)]
        # Decisions go out in February; a few arrive late and move the first deadline.
        if rng.random() < 0.05:
            delivered = date(year, 3, 1) + timedelta(days=rng.below(12))
        else:
            delivered = date(year, 2, 1) + timedelta(days=rng.below(27))
        parts = 1 if total <= ONE_SUM_LIMIT else 4
        return self._levy(
            number, kind, year, _split_whole(total, parts), dues[:parts],
            f"FN.3120.{number}.{year}", delivered,
        )  # fmt: skip

    def obligations(self, number: int, company: bool, year: int) -> list[_Obligation]:
        rng = self.rng
        # Later years cost a little more, as the council's rates rise.
        scale = Decimal(1) if year == self.today.year else Decimal("0.95")
        levies: list[_Obligation] = []
        showcase = number == 1  # the first taxpayer has every kind, for the newcomer
        if company:
            total = int(rng.between(2_000, 60_000) * scale)
            dues = [date(year, 1, 31)] + [date(year, month, 15) for month in range(2, 13)]
            levies += self._levy(
                number, K.PROPERTY_TAX, year, _split_whole(total, 12), dues,
                f"DN-1/{year}/{number}",
            )  # fmt: skip
            if rng.random() < 0.4:
                levies += self._vehicle(number, year, rng.between(2_000, 12_000) * scale)
            return levies
        owner = showcase or rng.random() < 0.85
        house = showcase or (owner and rng.random() < 0.25)
        if owner:
            base = rng.between(150, 1_800) if house else rng.between(40, 110)
            levies += self._land_tax(number, K.PROPERTY_TAX, year, int(base * scale))
        if showcase or rng.random() < 0.03:
            hectares = Decimal(rng.between(50, 400)) / 100
            total = int(hectares * Decimal("2.5") * Decimal("62.35") * scale)
            levies += self._land_tax(number, K.AGRICULTURAL_TAX, year, total)
        if showcase or rng.random() < 0.015:
            hectares = Decimal(rng.between(30, 300)) / 100
            total = int(hectares * Decimal("0.22") * Decimal("230.23") * scale)
            levies += self._land_tax(number, K.FOREST_TAX, year, max(total, 1))
        if showcase or rng.random() < 0.03:
            levies += self._vehicle(number, year, rng.between(800, 2_800) * scale)
        # A block's housing cooperative pays the waste fee for its flats; a house owner pays it.
        if showcase or (house and rng.random() < 0.9):
            persons = rng.choices((1, 2, 3, 4, 5), cum_weights=(25, 55, 75, 92, 100))[0]
            dues = [month_day(year, mm_dd) for mm_dd in self.ledger.waste_fee_due_dates]
            months = Decimal(12) / len(dues)
            amount = to_grosze(WASTE_FEE_PER_PERSON_MONTH * scale * persons * months)
            levies += self._levy(
                number, K.WASTE_FEE, year, [amount] * len(dues), dues, f"DO/{year}/{number:06d}"
            )
        if showcase or rng.random() < 0.12:
            dogs = 1 if rng.random() < 0.8 else 2
            amount = to_grosze(DOG_FEE_PER_DOG * scale * dogs)
            due = month_day(year, self.ledger.dog_fee_due_date)
            levies += self._levy(number, K.DOG_FEE, year, [amount], [due])
        if showcase or rng.random() < 0.08:
            land_value = Decimal(rng.between(20_000, 150_000))
            amount = to_grosze(land_value * Decimal("0.01") * scale)
            levies += self._levy(
                number, K.PERPETUAL_USUFRUCT, year, [amount], [date(year, 3, 31)],
                f"GN.6844.{number}.{year}",
            )  # fmt: skip
        if showcase or rng.random() < 0.03 or not levies:
            amount = to_grosze(Decimal(rng.between(2_000, 48_000)) / 100)
            due = date(year, 1, 15) + timedelta(days=rng.below(320))
            levies += self._levy(
                number, K.OTHER_FEE, year, [amount], [due], description=rng.pick(OTHER_FEES)
            )
        return levies

    def _vehicle(self, number: int, year: int, total: Decimal) -> list[_Obligation]:
        dues = [date(year, 2, 15), date(year, 9, 15)]
        return self._levy(
            number, K.VEHICLE_TAX, year, _split_whole(int(total), 2), dues,
            f"DT-1/{year}/{number}",
        )  # fmt: skip

    # --- what they paid -------------------------------------------------------------------

    def _pay(self, payer: str, obligation_ref: str, paid_on: date, amount: Decimal) -> None:
        source = "bank" if self.rng.random() < 0.9 else "cash_desk"
        ref = f"W{payer[1:]}-{len(self.payments) + 1:02d}"
        self.payments.append(
            [ref, payer, obligation_ref, paid_on.isoformat(), format_plain(amount), source]
        )

    def pay(self, payer: str, levies: list[_Obligation], habit: str) -> None:
        """Payments for one taxpayer's levies."""
        rng, today = self.rng, self.today
        groups: dict[tuple[str, int], list[_Obligation]] = {}
        for levy in levies:
            groups.setdefault((levy.kind, levy.year), []).append(levy)
        for group in groups.values():
            first = group[0]
            # Some pay the whole year at the first deadline without naming an instalment.
            if len(group) > 1 and habit == "prompt" and first.due <= today and rng.random() < 0.2:
                paid_on = first.due - timedelta(days=rng.below(10))
                self._pay(payer, "", paid_on, sum((levy.amount for levy in group), Decimal(0)))
                continue
            for levy in group:
                self._pay_one(payer, levy, habit)

    def _pay_one(self, payer: str, levy: _Obligation, habit: str) -> None:
        rng, today = self.rng, self.today
        named = levy.ref if rng.random() < 0.9 else ""
        if levy.due > today:
            if levy.due - today < timedelta(days=30) and rng.random() < 0.15:
                self._pay(payer, named, today - timedelta(days=rng.below(5)), levy.amount)
            return
        roll = rng.random()
        outcome = next(name for limit, name in OUTCOMES[habit] if roll < limit)
        on_time = levy.due - timedelta(days=rng.below(15))
        if outcome == "late":
            late = levy.due + timedelta(days=rng.between(3, 120))
            if late > today:
                return
            self._pay(payer, named, late, levy.amount)
        elif outcome == "on_time":
            self._pay(payer, named, on_time, levy.amount)
        elif outcome == "partial":
            part = to_grosze(levy.amount * Decimal(rng.between(30, 80)) / 100)
            self._pay(payer, named, on_time, part)
        elif outcome == "over":
            extra = Decimal(rng.between(1, 2_000)) / 100
            self._pay(payer, named, on_time, levy.amount + extra)


@dataclass(frozen=True)
class DemoTaxpayer:
    """One taxpayer's rows in the three export files."""

    row: list[str]
    obligations: list[list[str]]
    payments: list[list[str]]


def generate(
    taxpayers: int, seed: int, today: date, ledger: LedgerSettings
) -> Iterator[DemoTaxpayer]:
    """The demo city, taxpayer by taxpayer."""
    city = _City(seed, today, ledger)
    rng = city.rng
    for number in range(1, taxpayers + 1):
        company = number == 2 or (number > 2 and rng.random() < 0.025)
        row = city.taxpayer(number, company)
        ref = row[0]
        levies = city.obligations(number, company, today.year)
        if number <= 2 or rng.random() < PREVIOUS_YEAR_SHARE:
            levies = city.obligations(number, company, today.year - 1) + levies
        # The showcase taxpayer pays in part, so its balance has arrears and interest to show.
        habit = "partial" if number == 1 else rng.choices(HABITS, cum_weights=HABIT_WEIGHTS)[0]
        city.payments = []
        city.pay(ref, levies, habit)
        yield DemoTaxpayer(row, [levy.row(ref) for levy in levies], city.payments)


def write_demo_csv(
    folder: Path, taxpayers: int, seed: int, today: date, ledger: LedgerSettings
) -> DemoSummary:
    """Write taxpayers.csv, obligations.csv and payments.csv of the demo city into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    summary = DemoSummary()
    with (
        (folder / FILES[ImportKind.TAXPAYERS]).open("w", encoding="utf-8", newline="") as t_file,
        (folder / FILES[ImportKind.OBLIGATIONS]).open("w", encoding="utf-8", newline="") as o_file,
        (folder / FILES[ImportKind.PAYMENTS]).open("w", encoding="utf-8", newline="") as p_file,
    ):
        writers = []
        for handle, header in (
            (t_file, TAXPAYER_HEADER), (o_file, OBLIGATION_HEADER), (p_file, PAYMENT_HEADER)
        ):  # fmt: skip
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writers.append(writer)
        t_csv, o_csv, p_csv = writers
        for taxpayer in generate(taxpayers, seed, today, ledger):
            t_csv.writerow(taxpayer.row)
            o_csv.writerows(taxpayer.obligations)
            p_csv.writerows(taxpayer.payments)
            summary.taxpayers += 1
            summary.obligations += len(taxpayer.obligations)
            summary.payments += len(taxpayer.payments)
    summary.sample_ref = DEMO_SAMPLE_REF
    return summary


async def loaded_demo_ref(session: AsyncSession) -> str | None:
    """The demo's sample taxpayer, when this store holds the demo city; None for a real city."""
    demo_run = await session.execute(
        sa.select(ImportRun.id)
        .where(ImportRun.file_name == f"demo {FILES[ImportKind.TAXPAYERS]}")
        .limit(1)
    )
    if demo_run.first() is None:
        return None
    sample = await session.execute(sa.select(Taxpayer.ref).where(Taxpayer.ref == DEMO_SAMPLE_REF))
    return sample.scalar_one_or_none()


async def count_taxpayers(session: AsyncSession) -> int:
    result = await session.execute(sa.select(sa.func.count()).select_from(Taxpayer))
    count: int = result.scalar_one()
    return count


async def load_demo(
    session: AsyncSession,
    *,
    taxpayers: int,
    seed: int,
    clock: Clock,
    ledger: LedgerSettings,
    policy: LedgerPolicy | None = None,
) -> DemoSummary:
    """Generate the demo city and take it in through the importer, one transaction per file."""
    today = today_in_warsaw(clock)
    with tempfile.TemporaryDirectory(prefix="gmina-demo-") as folder:
        summary = write_demo_csv(Path(folder), taxpayers, seed, today, ledger)
        for kind, name in FILES.items():
            result = await import_file(
                session,
                kind,
                Path(folder) / name,
                display_name=f"demo {name}",
                policy=policy or LedgerPolicy.from_settings(ledger),
                clock=clock,
            )
            if not result.ok:
                shown = "; ".join(str(error) for error in result.errors[:3])
                raise DemoError(f"the demo city failed its own import: {shown}")
            summary.imports.append(result)
    log.info(
        "demo city loaded: %d taxpayers, %d obligations, %d payments; try `gmina balance %s`",
        summary.taxpayers, summary.obligations, summary.payments, summary.sample_ref,
    )  # fmt: skip
    return summary
