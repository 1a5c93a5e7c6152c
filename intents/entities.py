"""Rule and lexicon based entity extraction, with offsets into the resident's own text.

Every rule runs on `fold(text)`, which has the same length as the text, so `text[start:end]` is the
span the resident wrote. Candidates from all rules compete: the longest span wins, then the rule
listed first (`case_ref` before `date` before `amount` before the lexicon entities).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import yaml

from intents.data import DATA_DIR, EntitySpan
from intents.normalize import fold

LEXICON_PATH = DATA_DIR / "lexicon.yml"


@dataclass(frozen=True, slots=True)
class _Candidate:
    start: int
    end: int
    entity: str
    value: str
    rank: int  # lower wins a tie in length


# --- lexicon -------------------------------------------------------------------------------------

_BRACES = re.compile(r"\{[^}]*\}\??|\S+")


def _alternative(word: str) -> str:
    word = fold(word.strip())
    if word.endswith("*"):
        return re.escape(word[:-1]) + r"\w*"
    return re.escape(word)


def _compile_pattern(pattern: str) -> str:
    """Turn one lexicon pattern (see lexicon.yml) into a regex over folded text."""
    parts: list[str] = []
    for index, token in enumerate(_BRACES.findall(pattern)):
        optional = token.endswith("?") and token.startswith("{")
        body = token[:-1] if optional else token
        if body.startswith("{"):
            alternatives = [a for a in body[1:-1].split(",") if a.strip()]
        else:
            alternatives = [body]
        # Longest first, because a regex alternation takes the first alternative that matches.
        compiled = sorted(
            (r"\s+".join(_alternative(w) for w in alt.split()) for alt in alternatives),
            key=len,
            reverse=True,
        )
        group = "(?:" + "|".join(compiled) + ")"
        if index == 0:
            if optional:
                raise ValueError(f"lexicon pattern {pattern!r}: the first word cannot be optional")
            parts.append(group)
        elif optional:
            parts.append(r"(?:\s+" + group + ")?")
        else:
            parts.append(r"\s+" + group)
    return r"(?<!\w)" + "".join(parts) + r"(?!\w)"


@dataclass(frozen=True, slots=True)
class _LexiconRule:
    entity: str
    value: str
    regex: re.Pattern[str]


def load_lexicon(path: Path = LEXICON_PATH) -> list[_LexiconRule]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    rules: list[_LexiconRule] = []
    for entity, values in document.items():
        for value, patterns in values.items():
            alternation = "|".join(_compile_pattern(p) for p in patterns)
            rules.append(_LexiconRule(str(entity), str(value), re.compile(alternation)))
    return rules


# --- case references -----------------------------------------------------------------------------

# Our own references (RS-2026-000123) and the office's file signs on decisions (FN.3120.15.2026).
_CASE_OURS = re.compile(r"(?<!\w)([a-z]{2,4})-?(\d{4})[-/](\d{3,6})(?!\w|[-/.]\d)")
_CASE_RS = re.compile(r"(?<!\w)rs[\s-]*(\d{4})[\s/-]*(\d{1,6})(?!\w|[-/.]\d)")
_CASE_DECISION = re.compile(
    r"(?<!\w)[a-z]{1,6}(?:-[a-z0-9]{1,4})?\.\d{3,4}(?:\.\d{1,6}){1,3}(?:/\d{2,4})?(?!\w|\.\d)"
)
_CASE_NUMBERED = re.compile(r"(?<!\w)(?:nr|numer|no\.?|number|#|№|номер)\s*(\d{1,6}/\d{4})(?!\w|/)")


def _case_refs(text: str, folded: str) -> Iterator[_Candidate]:
    for m in _CASE_OURS.finditer(folded):
        value = f"{m.group(1).upper()}-{m.group(2)}-{int(m.group(3)):06d}"
        yield _Candidate(m.start(), m.end(), "case_ref", value, 0)
    for m in _CASE_RS.finditer(folded):  # residents type our references loosely: "rs 2026 123"
        yield _Candidate(
            m.start(), m.end(), "case_ref", f"RS-{m.group(1)}-{int(m.group(2)):06d}", 0
        )
    for m in _CASE_DECISION.finditer(folded):
        yield _Candidate(m.start(), m.end(), "case_ref", text[m.start() : m.end()].upper(), 0)
    for m in _CASE_NUMBERED.finditer(folded):
        yield _Candidate(m.start(1), m.end(1), "case_ref", m.group(1), 0)


# --- dates ---------------------------------------------------------------------------------------

_MONTH_FORMS: dict[int, str] = {
    1: "styczen stycznia styczniu january jan січень січня январь января",
    2: "luty lutego lutym february feb лютий лютого февраль февраля",
    3: "marzec marca marcu march mar березень березня март марта",
    4: "kwiecien kwietnia kwietniu april apr квітень квітня апрель апреля",
    5: "maj maja maju may травень травня май мая",
    6: "czerwiec czerwca czerwcu june jun червень червня июнь июня",
    7: "lipiec lipca lipcu july jul липень липня июль июля",
    8: "sierpien sierpnia sierpniu august aug серпень серпня август августа",
    9: "wrzesien wrzesnia wrzesniu september sep sept вересень вересня сентябрь сентября",
    10: "pazdziernik pazdziernika pazdzierniku october oct жовтень жовтня октябрь октября",
    11: "listopad listopada listopadzie november nov листопад листопада ноябрь ноября",
    12: "grudzien grudnia grudniu december dec грудень грудня декабрь декабря",
}
_MONTHS: dict[str, int] = {
    fold(form): number for number, forms in _MONTH_FORMS.items() for form in forms.split()
}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4, "v": 5, "vi": 6, "vii": 7, "viii": 8, "ix": 9,
          "x": 10, "xi": 11, "xii": 12}  # fmt: skip
_MONTH_RE = "|".join(sorted(map(re.escape, _MONTHS), key=len, reverse=True))
_ROMAN_RE = "|".join(sorted(_ROMAN, key=len, reverse=True))
_ORDINAL = r"(?:\.|st|nd|rd|th|-?го|-?е)?"  # 15. / 15th / 15-го
_YEAR = r"(?:[\s.,]*(?P<year>\d{4})(?!\d))?"
_DATE_ISO = re.compile(r"(?<![\w.])(\d{4})-(\d{1,2})-(\d{1,2})(?![\w-])")
_DATE_NUMERIC = re.compile(
    r"(?<![\w.,/-])(\d{1,2})([./-])(\d{1,2})\2(\d{4}|\d{2})(?![\w/-]|[.,]\d)"
)
# "15 marca", "15th of March", "15-го березня", "15 III 2027" (Roman months only with a year)
_DATE_DAY_MONTH = re.compile(
    rf"(?<![\w.,])(?P<day>\d{{1,2}}){_ORDINAL}\s*(?:of\s+)?"
    rf"(?:(?P<month>{_MONTH_RE})\.?(?!\w)|(?P<roman>{_ROMAN_RE})(?=[\s.]+\d{{4}}))" + _YEAR
)
# "March 15", "March 15th, 2027"
_DATE_MONTH_DAY = re.compile(
    rf"(?<!\w)(?P<month>{_MONTH_RE})\.?\s+(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?![\w.,]\d|\d)" + _YEAR
)
_DATE_SHORT = re.compile(r"(?<![\w.,/])(\d{1,2})\.(\d{2})(?![\w.,/]|\s*(?:zl|pln|gr))")
_RELATIVE: dict[str, int] = {
    fold(word): offset
    for offset, words in {
        -1: "wczoraj yesterday вчора учора вчера",
        0: "dzis dzisiaj today сьогодні сегодня",
        1: "jutro tomorrow завтра zavtra",
        2: "pojutrze післязавтра послезавтра",
    }.items()
    for word in words.split()
}
_DATE_RELATIVE = re.compile(
    r"(?<!\w)(?:day after tomorrow|" + "|".join(map(re.escape, _RELATIVE)) + r")(?!\w)"
)


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def upcoming(today: date, month: int, day: int) -> date | None:
    """A date written without a year: its next occurrence, today included."""
    for year in (today.year, today.year + 1):
        candidate = _valid(year, month, day)
        if candidate is not None and candidate >= today:
            return candidate
    return _valid(today.year, month, day)


def _day_month(today: date, year: str | None, month: int, day: int) -> date | None:
    return _valid(int(year), month, day) if year else upcoming(today, month, day)


def _dates(folded: str, today: date) -> Iterator[_Candidate]:
    def found(
        m: re.Match[str], value: date | None, start: int | None = None
    ) -> Iterator[_Candidate]:
        if value is not None:
            yield _Candidate(
                m.start() if start is None else start, m.end(), "date", value.isoformat(), 1
            )

    for m in _DATE_ISO.finditer(folded):
        yield from found(m, _valid(int(m.group(1)), int(m.group(2)), int(m.group(3))))
    for m in _DATE_NUMERIC.finditer(folded):
        first, second, year = int(m.group(1)), int(m.group(3)), int(m.group(4))
        year += 2000 if year < 100 else 0
        # Day first, as in Poland and Ukraine; month first only when the day cannot be a month.
        day, month = (
            (second, first) if second > 12 >= first and m.group(2) == "/" else (first, second)
        )
        yield from found(m, _valid(year, month, day))
    for m in _DATE_DAY_MONTH.finditer(folded):
        month = _MONTHS[m["month"]] if m["month"] else _ROMAN[m["roman"]]
        yield from found(m, _day_month(today, m["year"], month, int(m["day"])))
    for m in _DATE_MONTH_DAY.finditer(folded):
        yield from found(m, _day_month(today, m["year"], _MONTHS[m["month"]], int(m["day"])))
    for m in _DATE_SHORT.finditer(folded):
        yield from found(m, upcoming(today, int(m.group(2)), int(m.group(1))))
    for m in _DATE_RELATIVE.finditer(folded):
        offset = 2 if m.group(0) == "day after tomorrow" else _RELATIVE[m.group(0)]
        yield from found(m, today + timedelta(days=offset))


# --- amounts -------------------------------------------------------------------------------------

_NUMBER = (
    r"(?P<number>\d{1,3}(?:\.\d{3})+,\d{1,2}"  # 1.234,56
    r"|\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?"  # 1,234.56
    r"|\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?"  # 1 234,56
    r"|\d+(?:[.,]\d{1,2})?)"
)
_CURRENCY = (
    r"(?:zl\.?|zlotych|zlote|zloty|zlotego|zlotys|pln|злотих|злоти|злотии|злотого|зл\.?|злотых)"
)
_GROSZE = r"(?:gr\.?|groszy|grosze|grosz|грош\w*)"
_AMOUNT_AFTER = re.compile(
    r"(?<![\w.,])"
    + _NUMBER
    + r"\s*"
    + _CURRENCY
    + r"(?:\s*(?P<grosze>\d{1,2})\s*"
    + _GROSZE
    + r")?(?!\w)"
)
_AMOUNT_BEFORE = re.compile(r"(?<!\w)(?:pln|zl)\s*" + _NUMBER + r"(?![\w.,]|[.,]\d)")
_AMOUNT_GROSZE = re.compile(r"(?<![\w.,])(?P<grosze>\d{1,2})\s*" + _GROSZE + r"(?!\w)")
_AMOUNT_BARE = re.compile(
    r"(?<![\w.,/-])(?P<number>\d{1,3}(?:\.\d{3})+,\d{2}|\d{1,3}(?:[ \u00a0\u202f]\d{3})+,\d{2}"
    r"|\d{1,3}(?:,\d{3})+\.\d{2}|\d+[.,]\d{2})(?![\w.,/-])"
)


def _to_decimal(number: str) -> Decimal:
    digits = re.sub(r"[ \u00a0\u202f]", "", number)
    if "," in digits and "." in digits:
        decimal_sep = "," if digits.rfind(",") > digits.rfind(".") else "."
        digits = digits.replace("." if decimal_sep == "," else ",", "").replace(",", ".")
    elif "," in digits:
        whole, _, frac = digits.rpartition(",")
        # "1,234" groups thousands; "12,5" and "12,50" are złoty and grosze.
        digits = digits.replace(",", "") if len(frac) == 3 else f"{whole.replace(',', '')}.{frac}"
    return Decimal(digits)


def _amount_value(number: str, grosze: str | None = None) -> str:
    amount = _to_decimal(number) + (Decimal(grosze) / 100 if grosze else 0)
    return str(amount.quantize(Decimal("0.01")))


def _amounts(folded: str) -> Iterator[_Candidate]:
    for m in _AMOUNT_AFTER.finditer(folded):
        yield _Candidate(m.start(), m.end(), "amount", _amount_value(m["number"], m["grosze"]), 2)
    for m in _AMOUNT_BEFORE.finditer(folded):
        yield _Candidate(m.start(), m.end(), "amount", _amount_value(m["number"]), 2)
    for m in _AMOUNT_GROSZE.finditer(folded):
        yield _Candidate(m.start(), m.end(), "amount", _amount_value("0", m["grosze"]), 2)
    for m in _AMOUNT_BARE.finditer(folded):
        # A bare number is money only with grosze written out; it loses ties to dates ("15.03").
        yield _Candidate(m.start(), m.end(), "amount", _amount_value(m["number"]), 3)


# --- the extractor -------------------------------------------------------------------------------

_LEXICON_RANK = {"form_type": 4, "obligation_kind": 5, "language": 6}


class EntityExtractor:
    """Finds case_ref, date, amount, form_type, obligation_kind and language in a message."""

    def __init__(self, lexicon_path: Path = LEXICON_PATH) -> None:
        self._rules = load_lexicon(lexicon_path)

    def extract(self, text: str, today: date) -> list[EntitySpan]:
        folded = fold(text)
        candidates: list[_Candidate] = [
            *_case_refs(text, folded),
            *_dates(folded, today),
            *_amounts(folded),
        ]
        for rule in self._rules:
            rank = _LEXICON_RANK.get(rule.entity, len(_LEXICON_RANK) + 4)
            candidates.extend(
                _Candidate(m.start(), m.end(), rule.entity, rule.value, rank)
                for m in rule.regex.finditer(folded)
            )
        return [
            EntitySpan(entity=c.entity, value=c.value, start=c.start, end=c.end)
            for c in _resolve(candidates)
        ]


def _resolve(candidates: list[_Candidate]) -> list[_Candidate]:
    """Longest span first, then rank; keep only spans that overlap nothing already kept."""
    chosen: list[_Candidate] = []
    taken = bytearray(max((c.end for c in candidates), default=0))
    for cand in sorted(candidates, key=lambda c: (c.start - c.end, c.rank, c.start)):
        if any(taken[cand.start : cand.end]):
            continue
        taken[cand.start : cand.end] = b"\x01" * (cand.end - cand.start)
        chosen.append(cand)
    return sorted(chosen, key=lambda c: c.start)
