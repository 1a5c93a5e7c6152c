"""The embedded intent classifier: sparse n-gram features and a linear model, trained in a second.

Three views of a message feed one TF-IDF space: character n-grams of the lowercased text (so
"zapłacić" and "zapłacic" share most features even with a typo), the same over the text without
diacritics (so "zaplacic" shares nearly all of them), and word uni- and bigrams of the latter.
One model serves all three languages; their scripts and vocabularies hardly overlap.

Every candidate model is linear, so inference skips scikit-learn's per-call validation: the fitted
vocabulary, IDF weights and coefficients are copied out, and a message is scored with dictionary
look-ups and one small matrix product, well under a millisecond. Those arrays are all a trained
classifier is (`to_arrays` / `from_arrays`), so a model cached on disk loads without
scikit-learn, which is imported only to train.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from intents.normalize import fold, lower

_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"\w+|[^\w\s]")
CHAR_NGRAMS = (2, 5)

Array = npt.NDArray[np.float64]


def features(text: str) -> list[str]:
    """Every feature of one message, each prefixed with the view it comes from."""
    plain = _SPACES.sub(" ", lower(text).strip())
    folded = fold(plain)
    out: list[str] = []
    lo, hi = CHAR_NGRAMS
    for prefix, view in (("c:", plain), ("f:", folded)):
        for word in view.split(" "):
            padded = f" {word} "
            for n in range(lo, min(hi, len(padded)) + 1):
                out.extend(prefix + padded[i : i + n] for i in range(len(padded) - n + 1))
    words = _WORD.findall(folded)
    out.extend("w:" + w for w in words)
    out.extend(f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return out


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A candidate estimator, and how its linear scores become confidences that sum to one.

    `softmax` for multinomial models; `ovr` (one sigmoid per intent, then normalised) for
    one-versus-rest ones, as scikit-learn does for SGDClassifier.
    """

    name: str
    build: Callable[[], Any]
    link: Literal["softmax", "ovr"]
    description: str


# scikit-learn takes about a second to import: only training needs it.
def _sgd_logloss() -> Any:
    from sklearn.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", alpha=1e-5, max_iter=50, tol=1e-4, random_state=0)


def _logreg() -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=20.0, solver="saga", tol=1e-3, max_iter=200)


def _linear_svc() -> Any:
    from sklearn.svm import LinearSVC

    return LinearSVC(C=1.0)


def _complement_nb() -> Any:
    from sklearn.naive_bayes import ComplementNB

    return ComplementNB(alpha=0.1)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "sgd_logloss",
            _sgd_logloss,
            "ovr",
            "SGDClassifier(loss=log_loss, alpha=1e-5), one-vs-rest logistic",
        ),
        ModelSpec(
            "logreg",
            _logreg,
            "softmax",
            "LogisticRegression(C=20, saga), multinomial",
        ),
        ModelSpec(
            "linear_svc",
            _linear_svc,
            "ovr",
            "LinearSVC(C=1), margins through a sigmoid (uncalibrated)",
        ),
        ModelSpec(
            "complement_nb",
            _complement_nb,
            "softmax",
            "ComplementNB(alpha=0.1)",
        ),
    )
}
DEFAULT_MODEL = "sgd_logloss"


def _linear_parts(estimator: Any) -> tuple[Array, Array]:
    """(coefficients as features × labels, intercepts) of a fitted linear estimator."""
    if hasattr(estimator, "feature_log_prob_"):  # ComplementNB: log probabilities, no intercept
        coef = np.asarray(estimator.feature_log_prob_, dtype=np.float64)
        return np.ascontiguousarray(coef.T), np.zeros(coef.shape[0])
    coef = np.asarray(estimator.coef_, dtype=np.float64)
    return np.ascontiguousarray(coef.T), np.asarray(estimator.intercept_, dtype=np.float64)


class IntentClassifier:
    """Ranks intents for a message; `fit` once, then `rank` from any thread."""

    def __init__(self, model: str = DEFAULT_MODEL) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")
        self.spec = MODELS[model]
        self.labels: list[str] = []
        self._vocabulary: dict[str, int] = {}
        self._idf: Array = np.zeros(0)
        self._coef: Array = np.zeros((0, 0))
        self._intercept: Array = np.zeros(0)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> IntentClassifier:
        if len(set(labels)) < 2:
            raise ValueError("training needs examples of at least two intents")
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(analyzer=features, sublinear_tf=True, dtype=np.float64)
        matrix = vectorizer.fit_transform(texts)
        estimator = self.spec.build()
        estimator.fit(matrix, list(labels))
        self.labels = [str(label) for label in estimator.classes_]
        self._vocabulary = {str(k): int(v) for k, v in vectorizer.vocabulary_.items()}
        self._idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        self._coef, self._intercept = _linear_parts(estimator)
        return self

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The trained classifier as plain arrays (no Python objects, so no pickle to load)."""
        if not self.labels:
            raise RuntimeError("the classifier is not trained")
        by_index = sorted(self._vocabulary, key=self._vocabulary.__getitem__)
        # Features never hold a line break: `features` splits the text on all whitespace.
        joined = "\n".join(by_index).encode("utf-8")
        return {
            "model": np.array(self.spec.name),
            "labels": np.array(self.labels),
            "features": np.frombuffer(joined, dtype=np.uint8),
            "idf": self._idf,
            "coef": self._coef,
            "intercept": self._intercept,
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> IntentClassifier:
        """The classifier `to_arrays` gave; ValueError when the arrays do not fit together."""
        classifier = cls(str(arrays["model"]))
        labels = [str(label) for label in arrays["labels"]]
        names = bytes(arrays["features"]).decode("utf-8").split("\n")
        idf = np.asarray(arrays["idf"], dtype=np.float64)
        coef = np.asarray(arrays["coef"], dtype=np.float64)
        intercept = np.asarray(arrays["intercept"], dtype=np.float64)
        if idf.shape != (len(names),) or coef.shape != (len(names), len(labels)):
            raise ValueError("the arrays of a classifier do not fit together")
        if intercept.shape != (len(labels),) or len(set(names)) != len(names):
            raise ValueError("the arrays of a classifier do not fit together")
        classifier.labels = labels
        classifier._vocabulary = {name: index for index, name in enumerate(names)}
        classifier._idf, classifier._coef, classifier._intercept = idf, coef, intercept
        return classifier

    def scores(self, text: str) -> Array:
        """The model's linear score per label, in the order of `labels`."""
        if not self.labels:
            raise RuntimeError("the classifier is not trained")
        # TfidfVectorizer(sublinear_tf=True) followed by its l2 norm, on the known features only.
        counts = Counter(f for f in features(text) if f in self._vocabulary)
        if not counts:  # nothing the model has seen: no preference at all, not the class priors
            return np.zeros(len(self.labels))
        index = np.fromiter((self._vocabulary[f] for f in counts), dtype=np.intp, count=len(counts))
        weights = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)))
        weights *= self._idf[index]
        weights /= np.sqrt(weights @ weights)
        return np.asarray(weights @ self._coef[index] + self._intercept, dtype=np.float64)

    def probabilities(self, text: str) -> Array:
        """Confidence per label, in the order of `labels`, summing to one."""
        scores = self.scores(text)
        if self.spec.link == "softmax":
            exp = np.exp(scores - scores.max())
        else:
            exp = 1.0 / (1.0 + np.exp(-np.clip(scores, -30.0, 30.0)))
        return np.asarray(exp / exp.sum(), dtype=np.float64)

    def rank(self, text: str) -> list[tuple[str, float]]:
        probs = self.probabilities(text)
        return [(self.labels[i], float(probs[i])) for i in np.argsort(-probs, kind="stable")]
