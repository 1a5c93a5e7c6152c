"""The room's front door: `NLU.parse` turns one message into intent, entities and language.

The result is a plain dict in the shape of Rasa's parse output, so the dialogue engine and
`gmina nlu parse` can pass it on unchanged:

    {"text", "language", "intent": {"name", "confidence"},
     "entities": [{"entity", "value", "start", "end"}],
     "intent_ranking": [{"name", "confidence"}, ...]}        # top three, before any fallback

Below `threshold` the intent becomes `out_of_scope`, keeping the model's own confidence;
`intent_ranking` still carries the model's top three, so the engine can ask "did you mean ...?".

`NLU.default(cache_dir)` keeps the trained classifier in `cache_dir` as plain arrays (`.npz`, no
pickle), named by a hash of the training data, the code that turns it into a model and the
libraries' versions; the file carries a SHA-256 of its arrays. A file that is missing, stale,
damaged or unreadable is ignored and the model trained again (and the file rewritten), so a
cached model is always the one training would give.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from intents import classifier as classifier_module
from intents import normalize as normalize_module
from intents.classifier import DEFAULT_MODEL, IntentClassifier
from intents.data import (
    EntitySpan,
    Example,
    data_fingerprint,
    load_nlu_yaml,
    load_packaged,
    packaged_paths,
)
from intents.entities import EntityExtractor
from intents.language import detect_language
from intents.normalize import fold
from kernel.clock import Clock, SystemClock, today_in_warsaw

logger = logging.getLogger(__name__)

INTENTS = (
    "greet", "goodbye", "thanks", "help", "check_balance", "list_deadlines", "pay", "start_form",
    "case_status", "link_account", "subscribe_reminders", "unsubscribe", "human_handoff",
    "change_language", "affirm", "deny", "out_of_scope",
)  # fmt: skip
FALLBACK_INTENT = "out_of_scope"
# Calibrated with bench/bench_nlu.py: held-out macro-F1 is flat from 0.2 to 0.35 and best near
# 0.3, where most random gibberish already falls back; above 0.4 real requests start to.
DEFAULT_THRESHOLD = 0.3
RANKING_SIZE = 3
# What a trained classifier depends on besides its training data: a change to any of them makes
# a cached model stale.
_MODEL_SOURCES = (Path(classifier_module.__file__), Path(normalize_module.__file__))
_MODEL_LIBRARIES = ("numpy", "scikit-learn")
_CACHE_FORMAT = "1"

# In Polish a bare "no" is a colloquial "yes"; in English it is "no". Only a conversation known to
# be in Polish gets the Polish reading.
_POLISH_YES = frozenset({"no", "noo", "nooo", "no no"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class NLU:
    """Intent classifier, entity extractor and language detector behind one `parse`."""

    _default: ClassVar[NLU | None] = None
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        classifier: IntentClassifier,
        extractor: EntityExtractor | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        clock: Clock | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be between 0 and 1")
        self.classifier = classifier
        self.extractor = extractor or EntityExtractor()
        self.threshold = threshold
        self._clock: Clock = clock or SystemClock()

    @classmethod
    def train(
        cls,
        examples: Sequence[Example],
        *,
        model: str = DEFAULT_MODEL,
        threshold: float = DEFAULT_THRESHOLD,
        clock: Clock | None = None,
    ) -> NLU:
        started = time.perf_counter()
        # A canonical order, so the same examples make the same model whatever order they come in.
        ordered = sorted(examples, key=lambda e: (e.language or "", e.intent, e.text))
        classifier = IntentClassifier(model).fit(
            [e.text for e in ordered], [e.intent for e in ordered]
        )
        logger.info(
            "NLU trained: model %s, %s examples, %.2f s",
            model, len(examples), time.perf_counter() - started,
        )  # fmt: skip
        return cls(classifier, threshold=threshold, clock=clock)

    @classmethod
    def default(cls, cache_dir: Path | None = None) -> NLU:
        """The model trained on the packaged data, built once per process on first use; with
        `cache_dir`, read from there when it was trained before, and written there when not."""
        if cls._default is None:
            with cls._default_lock:
                if cls._default is None:
                    cls._default = cls.packaged(cache_dir)
        return cls._default

    @classmethod
    def packaged(cls, cache_dir: Path | None = None) -> NLU:
        """A model of the packaged data: from `cache_dir` when it holds a sound one for this
        data, code and libraries; else trained, and written there."""
        if cache_dir is None:
            return cls.train(load_packaged())
        path = cache_dir / f"nlu-{_cache_key(DEFAULT_MODEL)}.npz"
        cached = _load_cached(path)
        if cached is not None:
            return cls(cached)
        trained = cls.train(load_packaged())
        _save_cached(path, trained.classifier)
        return trained

    def today(self) -> date:
        return today_in_warsaw(self._clock)

    def parse(self, text: str, language_hint: str | None = None) -> dict[str, Any]:
        language = detect_language(text, default=language_hint or "pl")
        entities = self.extractor.extract(text, self.today())
        if not text.strip():
            return _result(text, language, FALLBACK_INTENT, 0.0, entities, [])
        ranking = self.classifier.rank(text)
        if language_hint == "pl" and " ".join(fold(text).split()).strip("!.") in _POLISH_YES:
            ranking = [("affirm", 1.0), *(r for r in ranking if r[0] != "affirm")]
        top_name, top_confidence = ranking[0]
        name = top_name if top_confidence >= self.threshold else FALLBACK_INTENT
        return _result(text, language, name, top_confidence, entities, ranking[:RANKING_SIZE])

    def evaluate(self, data: str | Path | Sequence[Example]) -> dict[str, Any]:
        """Accuracy, macro-F1, and scores per intent, language and entity on labelled data."""
        examples = load_nlu_yaml(data) if isinstance(data, str | Path) else list(data)
        gold: list[str] = []
        predicted: list[str] = []
        languages: list[str] = []
        entity_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
        for example in examples:
            result = self.parse(example.text, language_hint=example.language)
            gold.append(example.intent)
            predicted.append(result["intent"]["name"])
            languages.append(example.language or result["language"])
            _count_entities(example.entities, result["entities"], entity_counts)
        report = _summary(gold, predicted)
        report["per_language"] = {}
        for lang in sorted(set(languages)):
            rows = [
                (g, p) for g, p, la in zip(gold, predicted, languages, strict=True) if la == lang
            ]
            summary = _summary([g for g, _ in rows], [p for _, p in rows])
            del summary["per_intent"]
            report["per_language"][lang] = summary
        report["entities"] = {
            name: _prf(tp, fp, fn) | {"support": tp + fn}
            for name, (tp, fp, fn) in sorted(entity_counts.items())
        }
        report["errors"] = [
            {"text": e.text, "language": lang, "expected": g, "predicted": p}
            for e, g, p, lang in zip(examples, gold, predicted, languages, strict=True)
            if g != p
        ]
        return report


def _result(
    text: str,
    language: str,
    intent: str,
    confidence: float,
    entities: list[EntitySpan],
    ranking: Iterable[tuple[str, float]],
) -> dict[str, Any]:
    return {
        "text": text,
        "language": language,
        "intent": {"name": intent, "confidence": round(confidence, 4)},
        "entities": [dict(e) for e in entities],
        "intent_ranking": [{"name": n, "confidence": round(c, 4)} for n, c in ranking],
    }


def _count_entities(
    gold: Iterable[EntitySpan], found: Iterable[dict[str, Any]], counts: dict[str, list[int]]
) -> None:
    """Count exact (entity, value, span) matches. A date annotated without a value, Rasa's
    `[15 marca](date)`, is checked for its span only: its value depends on the day it is read."""
    expected: set[tuple[str, str, int, int]] = set()
    spans_only: set[tuple[str, int, int]] = set()
    for span in gold:
        if span["entity"] == "date" and not _ISO_DATE.fullmatch(span["value"]):
            spans_only.add((span["entity"], span["start"], span["end"]))
        else:
            expected.add((span["entity"], span["value"], span["start"], span["end"]))
    for entity in found:
        name, start, end = str(entity["entity"]), int(entity["start"]), int(entity["end"])
        key = (name, str(entity["value"]), start, end)
        if key in expected:
            expected.discard(key)
            counts[name][0] += 1
        elif (name, start, end) in spans_only:
            spans_only.discard((name, start, end))
            counts[name][0] += 1
        else:
            counts[name][1] += 1
    for missed in [name for name, *_ in expected] + [name for name, *_ in spans_only]:
        counts[missed][2] += 1


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def _per_intent(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, dict[str, float]]:
    # Labels are the union of gold and predicted, as in scikit-learn and `rasa test nlu`.
    pairs = list(zip(gold, predicted, strict=True))
    per_intent: dict[str, dict[str, float]] = {}
    for label in sorted(set(gold) | set(predicted)):
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        per_intent[label] = _prf(tp, fp, fn) | {"support": tp + fn}
    return per_intent


def _summary(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    per_intent = _per_intent(gold, predicted)
    correct = sum(1 for g, p in zip(gold, predicted, strict=True) if g == p)
    f1s = [m["f1"] for m in per_intent.values()]
    return {
        "n": len(gold),
        "accuracy": round(correct / len(gold), 4) if gold else 0.0,
        "macro_f1": round(sum(f1s) / len(f1s), 4) if f1s else 0.0,
        "per_intent": per_intent,
    }


# --- the trained model on disk ------------------------------------------------------------------


def _cache_key(model: str) -> str:
    versions = [f"{name}={metadata.version(name)}" for name in _MODEL_LIBRARIES]
    sources = data_fingerprint([*packaged_paths(), *_MODEL_SOURCES])
    return hashlib.sha256(
        "|".join([_CACHE_FORMAT, model, sources, *versions]).encode()
    ).hexdigest()[:20]


def _arrays_digest(arrays: Mapping[str, npt.NDArray[Any]]) -> str:
    digest = hashlib.sha256()
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(arrays[name]).tobytes())
    return digest.hexdigest()


def _load_cached(path: Path) -> IntentClassifier | None:
    """The classifier in `path`, or None when there is none or it cannot be trusted."""
    try:
        # Opened here, so that the file is closed when numpy fails half way through reading it.
        with path.open("rb") as handle, np.load(handle, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files if name != "sha256"}
            expected = str(stored["sha256"])
        if _arrays_digest(arrays) != expected:
            raise ValueError("its SHA-256 does not match its arrays")
        return IntentClassifier.from_arrays(arrays)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        logger.warning("NLU cache %s not used, training again: %s", path, exc)
        return None


def _save_cached(path: Path, classifier: IntentClassifier) -> None:
    """Write atomically (a reader never sees half a file); a cache that cannot be written is
    only slower next time."""
    arrays = classifier.to_arrays()
    payload: dict[str, Any] = {"sha256": np.array(_arrays_digest(arrays)), **arrays}
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as out:
            temporary = out.name
            np.savez(out, **payload)  # plain arrays only: nothing is pickled
        os.replace(temporary, path)
    except OSError as exc:
        logger.warning("NLU cache %s not written: %s", path, exc)
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
