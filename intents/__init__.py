"""Understanding residents' messages: intent, entities and language (Polish, English, Ukrainian).

    from intents import NLU
    NLU.default().parse("ile mam do zapłaty za śmieci?")

This room imports nothing else from the project.
"""

from intents.language import detect_language
from intents.nlu import DEFAULT_THRESHOLD, FALLBACK_INTENT, INTENTS, NLU

__all__ = ["DEFAULT_THRESHOLD", "FALLBACK_INTENT", "INTENTS", "NLU", "detect_language"]
