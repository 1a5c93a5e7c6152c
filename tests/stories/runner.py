"""The story runner: conversations written as YAML, checked by the key facts of their replies.

A story file (`tests/stories/<area>.yml`) holds a list of stories:

    - name: a total after a question about one levy          # unique within the file
      taxpayer: debtor          # debtor (owes several levies), clear (owes nothing), none
      verified: true            # the runner sends `/start {token}` first
      turns:
        - say: {pl: "Ile mam zapłacić za śmieci?", en: "…", uk: "…"}   # or one string for all
          expect:
            amounts: ["{kind_total:waste_fee}"]   # money as the resident sees it
            levies: [waste_fee]                   # levy names in the conversation's language
            statuses: [in_review]                 # case statuses in the conversation's language
            dates: ["2027-01-11"]                 # dates as the resident sees them
            text: {pl: [...], en: [...], uk: [...]}   # fragments; or one list for all
            case_ref: true                        # a reference RS-YYYY-NNNNNN in the replies
            ticket_ref: true                      # a hand-off ticket ZG-YYYY-NNNNNN
            buttons: ["/pay"]                     # payloads offered (a prefix is enough)
            language: en                          # every reply in this language (or per language:
                                                  # {pl: en, …}); the facts are then in it
            replies: 2                            # how many replies (0: silence expected)
            max_lines: 20                         # the replies together are no longer
            cases: 1                              # cases (tickets: hand-off tickets) in the store
            titles_whole: true                    # transfer titles ≤ 140 characters, and every
                                                  # obligation due is named whole in one of them
            absent: {amounts: [...], text: [...], money: true}   # facts that must not appear

Placeholders come from the ledger of the story's taxpayer (storage.balances), never written out:
`{total}`, `{overdue}`, `{interest}`, `{kind_total:KIND}`; and for verifying `{token}` (`{token2}`:
a second link), `{pesel}`, `{code}`.
A turn `staff_moves: {to: in_review, note: {pl: "…", …}}` (no `say`) is a clerk moving the newest
case in the store (storage.case_moves); `{case}` is then its reference.
A `say` may also be a button's payload (`/start_form{"form_type":"installments"}`); a turn with
`new_chat: true` is sent from a new sender (another browser), the story's taxpayer the same; a list
in `turns` (a YAML alias of a few turns) counts as its turns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient

from intents.language import guess_language
from kernel.i18n import LANGUAGES, format_date, format_money, render

STORIES_DIR = Path(__file__).resolve().parent
# Sunday 29 November 2026, noon in Warsaw: the demo city's year has late and coming instalments.
NOW = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)
TODAY = date(2026, 11, 29)
DEMO_TAXPAYERS = 12
DEMO_SEED = 7

CASE_REF = re.compile(r"\bRS-\d{4}-\d{6}\b")
TICKET_REF = re.compile(r"\bZG-\d{4}-\d{6}\b")
_MONEY = re.compile(r"\d[\d\s\u00a0\u202f.,]*\s*(zł|PLN)|PLN\s*\d")
_PLACEHOLDER = re.compile(r"\{(\w+)(?::(\w+))?\}")


@dataclass(frozen=True)
class Story:
    area: str
    name: str
    taxpayer: str
    verified: bool
    turns: list[Mapping[str, Any]]

    @property
    def id(self) -> str:
        return f"{self.area}:{self.name}"


def load_stories(folder: Path = STORIES_DIR) -> list[Story]:
    stories: list[Story] = []
    for path in sorted(folder.glob("*.yml")):
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")):
            stories.append(
                Story(
                    area=path.stem,
                    name=str(entry["name"]),
                    taxpayer=str(entry.get("taxpayer", "none")),
                    verified=bool(entry.get("verified", False)),
                    turns=list(_flat(entry["turns"])),
                )
            )
    return stories


def _flat(turns: Sequence[Any]) -> Iterator[Mapping[str, Any]]:
    """Turns, with lists inside (a YAML anchor repeated: `- *wrong_try`) spliced in."""
    for turn in turns:
        if isinstance(turn, list):
            yield from _flat(turn)
        else:
            yield turn


@dataclass
class Ledger:
    """What the story's taxpayer owes today, as the ledger computes it."""

    ref: str | None = None
    pesel: str | None = None
    token: str | None = None
    # A second link token, for a story that links the chat again.
    token2: str | None = None
    code: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    # The case a clerk moved last (`staff_moves`).
    case: str | None = None

    def value(self, name: str, argument: str | None) -> str:
        if name in ("token", "token2", "pesel", "code", "ref", "case"):
            found = getattr(self, name)
            assert found, f"the story's taxpayer has no {name}"
            return str(found)
        rows = self.data["obligations"]
        if name == "total":
            return str(self.data["total"])
        if name == "overdue":
            return str(self.data["overdue"])
        if name == "interest":
            return str(sum((Decimal(row["interest"]) for row in rows), Decimal(0)))
        if name == "kind_total":
            picked = [Decimal(row["total"]) for row in rows if row["kind"] == argument]
            assert picked, f"the taxpayer owes nothing for {argument}"
            return str(sum(picked, Decimal(0)))
        raise KeyError(name)

    def substitute(self, text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: self.value(m.group(1), m.group(2)), text)


def per_language(value: Any, language: str) -> Any:
    if isinstance(value, Mapping) and set(value) <= set(LANGUAGES):
        return value.get(language)
    return value


@dataclass(frozen=True)
class Reply:
    text: str
    buttons: list[str]


async def send(client: TestClient[Any, Any], sender: str, text: str) -> list[Reply]:
    response = await client.post(
        "/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
    )
    assert response.status == 200, await response.text()
    replies = await response.json()
    return [
        Reply(reply.get("text") or "", [b["payload"] for b in reply.get("buttons", [])])
        for reply in replies
    ]


def _money(ledger: Ledger, value: str, language: str) -> str:
    return format_money(Decimal(ledger.substitute(value)), language)


_TITLE = re.compile(r"^(?:Title|Tytuł|Призначення платежу): (.*)$", re.MULTILINE)


def _titles_broken(text: str, ledger: Ledger) -> list[str]:
    """Transfer titles too long, or obligations due today missing whole from every title."""
    titles = _TITLE.findall(text)
    if not titles:
        return ["no transfer title"]
    failures = [f"a title of {len(title)} characters" for title in titles if len(title) > 140]
    named = {word for title in titles for word in title.split()}
    due = [row["obligation_ref"] for row in ledger.data["obligations"]
           if row["effective_due_date"] <= TODAY.isoformat()]  # fmt: skip
    failures += [f"{ref} not named whole" for ref in due if ref not in named]
    return failures


def check(
    expect: Mapping[str, Any], replies: Sequence[Reply], ledger: Ledger, language: str
) -> list[str]:
    """The facts of `expect` that the replies do not show (empty when all hold)."""
    # Facts are written in the language the replies are expected in (a story may change it).
    language = per_language(expect.get("language"), language) or language
    text = "\n".join(reply.text for reply in replies)
    buttons = [payload for reply in replies for payload in reply.buttons]
    failures: list[str] = []

    def need(fact: str, present: bool, wanted: bool = True) -> None:
        if present != wanted:
            failures.append(("missing " if wanted else "unwanted ") + fact)

    def facts(spec: Mapping[str, Any], wanted: bool) -> None:
        for amount in spec.get("amounts", []):
            shown = _money(ledger, amount, language)
            need(f"amount {shown}", shown in text, wanted)
        for kind in spec.get("levies", []):
            name = render(f"label_kind_{kind}", language)
            need(f"levy {name}", name.lower() in text.lower(), wanted)
        for status in spec.get("statuses", []):
            name = render(f"label_status_{status}", language)
            need(f"status {name}", name.lower() in text.lower(), wanted)
        for day in spec.get("dates", []):
            shown = format_date(ledger.substitute(str(day)), language)
            need(f"date {shown}", shown in text, wanted)
        for fragment in per_language(spec.get("text", []), language) or []:
            fragment = ledger.substitute(str(fragment))
            need(f"text {fragment!r}", fragment.lower() in text.lower(), wanted)
        for payload in spec.get("buttons", []):
            need(f"button {payload}", any(b.startswith(payload) for b in buttons), wanted)
        if "case_ref" in spec:
            need("a case reference", bool(CASE_REF.search(text)), wanted and spec["case_ref"])
        if "ticket_ref" in spec:
            need("a ticket reference", bool(TICKET_REF.search(text)), wanted and spec["ticket_ref"])
        if spec.get("money"):
            need("money", bool(_MONEY.search(text)), wanted)

    if expect.get("titles_whole"):
        failures += _titles_broken(text, ledger)
    facts(expect, True)
    facts(expect.get("absent", {}), False)
    if "max_lines" in expect:
        lines = text.count("\n") + 1
        need(f"at most {expect['max_lines']} lines (got {lines})", lines <= expect["max_lines"])
    if "replies" in expect:
        need(f"{expect['replies']} replies (got {len(replies)})", len(replies) == expect["replies"])
    elif not replies:
        failures.append("no reply at all")
    if "language" in expect:
        for reply in replies:
            seen = guess_language(reply.text)
            if seen is not None and seen != language:
                failures.append(f"a reply in {seen}, not {language}: {reply.text[:60]!r}")
    return failures
