"""Which of pl, en, uk a message is written in: script first, then marker words.

Any Cyrillic letter means Ukrainian (Russian-speaking residents are answered in Ukrainian too).
Otherwise marker words vote, Polish letters counting one and a half votes for Polish, and
Ukrainian typed in Latin letters has its own markers. A reply too short to tell ("ok", "123")
gets the caller's default, usually the conversation's language.
"""

from __future__ import annotations

import re

from intents.normalize import fold

_CYRILLIC = re.compile(r"[\u0400-\u04ff]")
_POLISH_LETTERS = re.compile(r"[ąćęłńśźż]", re.IGNORECASE)
_WORD = re.compile(r"[a-z']+")

# Folded (diacritic-free) words that are frequent in one language and rare in the others.
_MARKERS: dict[str, frozenset[str]] = {
    "pl": frozenset(
        """
        ale bardzo chce chcialbym chcialabym co czy czesc dla dlaczego dobry dobrze dom domu
        dzien dziekuje dzieki gdzie jak jaki jaka jakie jest jestem juz kiedy kto mam mi mnie
        moge moj moja moje mozna mozesz na nie nic od oplata oplate oplaty po podatek podatku
        prosze przez sie smieci tak tez wam wiem witam za zaplacic zaplaty zeby ile jeszcze
        siema hej nara narka pozniej teraz rata raty termin terminy konto sprawa sprawy wniosek
        deklaracja deklaracje zaswiadczenie pomoc pomocy spoko jasne pewnie zgadza oczywiscie
        trzeba widzenia dobranoc nocy dobrej razie
        """.split()
    ),
    "en": frozenset(
        """
        the is are am i my me you your what when where why how which who can could would should will
        does did have has want need please pay owe tax fee fees thanks thank hello hi hey bye
        goodbye yes yeah yep nope sure okay of for with this that it and or not dont don't please
        much many money due deadline deadlines help bill bills speak english morning
        evening anything something pls switch change language polish ukrainian verify
        verification cancel instalments installments
        """.split()
    ),
    # Ukrainian typed in Latin letters, a common habit on phones without a Cyrillic keyboard.
    "uk": frozenset(
        """
        pryvit dobryi dobryy den dyakuyu dyakuiu diakuiu spasybi skilky vynen vynna ni tak
        bud laska buv bula meni mene chy koly treba platyty zaplatyty podatok smittia smittya
        dopomoha dopomozhit ukrainskoiu ukrainskoyu zdravstvuyte vitayu pobachennya
        """.split()
    ),
}
# Words that mark Ukrainian only weakly: "tak" is Polish too.
_WEAK_UK = frozenset({"tak"})
# Polish letters are strong evidence, but an English sentence may name "Ruda Śląska" or "zł".
_POLISH_LETTER_WEIGHT = 1.5
# A language needs two votes, or votes from nearly a third of the words, to be told.
_CLEAR_VOTES = 2.0
_CLEAR_SHARE = 0.3


def guess_language(text: str) -> str | None:
    """pl, en or uk; None when the text gives no evidence, or as much for two languages."""
    if _CYRILLIC.search(text):
        return "uk"
    scores = {lang: 0.0 for lang in _MARKERS}
    if _POLISH_LETTERS.search(text):
        scores["pl"] += _POLISH_LETTER_WEIGHT
    words = _WORD.findall(fold(text))
    for word in words:
        for lang, markers in _MARKERS.items():
            if word in markers:
                scores[lang] += 0.25 if lang == "uk" and word in _WEAK_UK else 1.0
    best = max(scores, key=lambda lang: scores[lang])
    top = scores[best]
    if top == 0 or sum(1 for score in scores.values() if score == top) > 1:
        return None
    if top < _CLEAR_VOTES and top < _CLEAR_SHARE * len(words):
        # One marker among many other words ("SELECT * FROM t WHERE 1=1"): no evidence.
        return None
    return best


def detect_language(text: str, default: str = "pl") -> str:
    """pl, en or uk; `default` when the text is too short or too mixed to tell."""
    return guess_language(text) or default
