"""Rasa 3.x NLU YAML: the project's training data and the one parser for it.

`load_nlu_yaml` reads the `nlu:` list (intent blocks only; `synonym`, `lookup` and `regex` blocks
are skipped) and strips Rasa's inline entity annotations, keeping their offsets in the plain text:
`[śmieci](obligation_kind:waste_fee)`, `[śmieci](obligation_kind)` and
`[śmieci]{"entity": "obligation_kind", "value": "waste_fee"}`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import yaml

from intents.normalize import fold
from kernel.errors import InputError

DATA_DIR = Path(__file__).resolve().parent
LANGUAGES = ("pl", "en", "uk")

_ANNOTATION = re.compile(
    r"\[(?P<text>[^\]\n]+)\]"
    r"(?:\((?P<short>[^)\n]+)\)|(?P<json>\{[^}\n]*\}))"
)
_FILE_LANGUAGE = re.compile(r"(?:^|[_\-.])(pl|en|uk)$")
_NON_WORD = re.compile(r"[^\w]+")


class EntitySpan(TypedDict):
    entity: str
    value: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    entities: tuple[EntitySpan, ...] = field(default=())
    # From the file name (nlu_pl.yml) or an intent block's `metadata: {language: pl}`.
    language: str | None = None


class NluDataError(InputError):
    """The YAML is not Rasa 3.x NLU data we can read."""


def packaged_paths() -> list[Path]:
    return [DATA_DIR / f"nlu_{lang}.yml" for lang in LANGUAGES]


def load_packaged() -> list[Example]:
    return [ex for path in packaged_paths() for ex in load_nlu_yaml(path)]


def data_fingerprint(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def parse_annotated(line: str) -> tuple[str, tuple[EntitySpan, ...]]:
    """Strip Rasa entity markup from one example; offsets refer to the stripped text."""
    parts: list[str] = []
    entities: list[EntitySpan] = []
    length = 0
    pos = 0
    for match in _ANNOTATION.finditer(line):
        plain = line[pos : match.start()]
        parts.append(plain)
        length += len(plain)
        span_text = match.group("text")
        if match.group("json") is not None:
            try:
                spec = json.loads(match.group("json"))
            except json.JSONDecodeError as e:
                raise NluDataError(f"bad entity annotation {match.group(0)!r}") from e
            if not isinstance(spec, dict) or "entity" not in spec:
                raise NluDataError(f"entity annotation without 'entity': {match.group(0)!r}")
            name = str(spec["entity"])
            value = str(spec.get("value", span_text))
        else:
            name, _, value = match.group("short").partition(":")
            value = value or span_text
        entities.append(
            EntitySpan(
                entity=name.strip(), value=value.strip(), start=length, end=length + len(span_text)
            )
        )
        parts.append(span_text)
        length += len(span_text)
        pos = match.end()
    parts.append(line[pos:])
    return "".join(parts), tuple(entities)


def _file_language(path: Path) -> str | None:
    match = _FILE_LANGUAGE.search(path.stem)
    return match.group(1) if match else None


def _example_lines(block: Any, source: str) -> list[str]:
    if isinstance(block, str):
        lines = []
        for raw in block.splitlines():
            stripped = raw.strip()
            if not stripped:
                continue
            if not stripped.startswith("- "):
                raise NluDataError(f"{source}: example line must start with '- ': {raw!r}")
            lines.append(stripped[2:].strip())
        return lines
    if isinstance(block, list):  # the long form: `- text: ...` mappings
        return [str(item["text"]) if isinstance(item, dict) else str(item) for item in block]
    raise NluDataError(f"{source}: 'examples' must be a block string or a list")


def load_nlu_yaml(path: str | Path) -> list[Example]:
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise NluDataError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(document, dict) or not isinstance(document.get("nlu"), list):
        raise NluDataError(f"{path}: expected a mapping with an 'nlu' list")
    default_language = _file_language(path)
    examples: list[Example] = []
    for block in document["nlu"]:
        if not isinstance(block, dict) or "intent" not in block:
            continue
        intent = str(block["intent"])
        metadata = block.get("metadata")
        language = default_language
        if isinstance(metadata, dict) and metadata.get("language") in LANGUAGES:
            language = str(metadata["language"])
        for line in _example_lines(block.get("examples", ""), f"{path}: intent {intent}"):
            text, entities = parse_annotated(line)
            examples.append(Example(text=text, intent=intent, entities=entities, language=language))
    return examples


def annotate(example: Example) -> str:
    """The example's text with its entities marked up again, Rasa style."""
    out: list[str] = []
    pos = 0
    for ent in sorted(example.entities, key=lambda e: e["start"]):
        span = example.text[ent["start"] : ent["end"]]
        out.append(example.text[pos : ent["start"]])
        if ent["value"] == span:
            out.append(f"[{span}]({ent['entity']})")
        elif re.fullmatch(r"[\w.\-/ ]+", ent["value"]):
            out.append(f"[{span}]({ent['entity']}:{ent['value']})")
        else:  # a value the short form cannot carry
            spec = json.dumps({"entity": ent["entity"], "value": ent["value"]}, ensure_ascii=False)
            out.append(f"[{span}]{spec}")
        pos = ent["end"]
    out.append(example.text[pos:])
    return "".join(out)


def dump_nlu_yaml(examples: Sequence[Example]) -> str:
    """Rasa 3.x NLU YAML: one intent block per (intent, language), in first-seen order."""
    blocks: dict[tuple[str, str | None], list[Example]] = defaultdict(list)
    for ex in examples:
        blocks[(ex.intent, ex.language)].append(ex)
    lines = ['version: "3.1"', "nlu:"]
    for (intent, language), members in blocks.items():
        lines.append(f"- intent: {intent}")
        if language is not None:
            lines.append("  metadata:")
            lines.append(f"    language: {language}")
        lines.append("  examples: |")
        lines.extend(f"    - {annotate(ex)}" for ex in members)
    return "\n".join(lines) + "\n"


def example_key(text: str) -> str:
    """What two examples share when they differ only in case, diacritics or punctuation."""
    return _NON_WORD.sub(" ", fold(text)).strip() or text.strip()  # "👍" is its own key


def without(examples: Iterable[Example], exclude: Iterable[Example]) -> list[Example]:
    """`examples` less any that `exclude` holds too, by `example_key`."""
    excluded = {example_key(e.text) for e in exclude}
    return [e for e in examples if example_key(e.text) not in excluded]


def split(
    examples: Sequence[Example], test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """A deterministic split, stratified by (language, intent): (train, test).

    The same examples in any order and the same seed give the same split."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError("test_fraction must be between 0 and 1")
    groups: dict[tuple[str | None, str], list[Example]] = defaultdict(list)
    for ex in examples:
        groups[(ex.language, ex.intent)].append(ex)
    rng = random.Random(seed)
    train: list[Example] = []
    test: list[Example] = []
    for key in sorted(groups, key=lambda k: (k[0] or "", k[1])):
        members = sorted(groups[key], key=lambda e: e.text)  # the file's order does not matter
        rng.shuffle(members)
        n_test = round(len(members) * test_fraction) if len(members) > 1 else 0
        test.extend(members[:n_test])
        train.extend(members[n_test:])
    return train, test
