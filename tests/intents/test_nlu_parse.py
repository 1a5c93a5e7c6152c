"""`NLU.parse`: what the dialogue engine gets for a message."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from intents import DEFAULT_THRESHOLD, FALLBACK_INTENT, INTENTS, NLU
from intents.classifier import IntentClassifier
from intents.data import load_packaged, split

# Phrasings of residents, per intent, in each language; several are not in the training data
# word for word, some lack diacritics or carry a typo.
PHRASINGS: dict[str, list[str]] = {
    "greet": ["Dzień dobry!", "hej, mam pytanie", "Hello there", "Добрий день"],
    "goodbye": ["do widzenia, miłego dnia", "na razie", "bye, have a nice day", "до побачення"],
    "thanks": ["dziekuje bardzo za pomoc", "dzięki!", "thanks a lot", "дуже дякую"],
    "help": ["co potrafisz?", "w czym mozesz mi pomoc", "what can you do?", "що ти вмієш?"],
    "check_balance": [
        "ile mam do zapłaty?",
        "ile mam do zaplaty za smieci",
        "czy mam jakies zaległosci?",
        "how much do I owe",
        "скільки я винен місту",
    ],
    "list_deadlines": [
        "kiedy płacę za śmieci",
        "do kiedy trzeba zaplacic podatek od nieruchomosci",
        "when is the dog fee due?",
        "коли платити за сміття",
    ],
    "pay": [
        "chcę zapłacić",
        "wyślij link do płatnosci",
        "ZAPŁAĆ",
        "PAY",
        "I want to pay the garbage fee",
        "хочу оплатити податок",
    ],
    "start_form": [
        "chcę złożyć deklarację",
        "potrzebuje zaswiadczenia o niezaleganiu",
        "czy moge rozlozyc podatek na raty",
        "I need a certificate of no arrears",
        "хочу подати декларацію на сміття",
    ],
    "case_status": [
        "co z moim wnioskiem?",
        "status sprawy RS-2026-000123",
        "what's the status of my application",
        "що з моєю заявою",
    ],
    "link_account": [
        "jak połączyć konto?",
        "mam kod z portalu",
        "how do I verify my identity",
        "як прив'язати акаунт",
    ],
    "subscribe_reminders": [
        "przypominaj mi o terminach",
        "chcę dostawać sms przed terminem",
        "remind me about deadlines",
        "нагадуй мені про оплату",
    ],
    "unsubscribe": [
        "STOP",
        "nie wysyłaj mi więcej sms",
        "stop sending me reminders",
        "не надсилайте мені повідомлень",
    ],
    "human_handoff": [
        "chcę rozmawiać z człowiekiem",
        "polacz mnie z konsultantem",
        "I want to talk to a person",
        "хочу поговорити з людиною",
    ],
    "change_language": [
        "po angielsku proszę",
        "English please",
        "українською, будь ласка",
        "can we talk in Polish?",
    ],
    "affirm": ["tak", "jasne", "ok", "yes please", "так"],
    "deny": ["nie", "nie, dziękuję", "no thanks", "ні"],
    "out_of_scope": [
        "jaka jest pogoda",
        "opowiedz dowcip",
        "tell me a joke",
        "what's the weather like",
        "яка погода",
    ],
}


def test_every_intent_has_phrasings_here() -> None:
    assert set(PHRASINGS) == set(INTENTS)


@pytest.mark.parametrize(
    ("intent", "text"), [(intent, text) for intent, texts in PHRASINGS.items() for text in texts]
)
def test_representative_phrasings(nlu: NLU, intent: str, text: str) -> None:
    assert nlu.parse(text)["intent"]["name"] == intent


def test_result_has_the_contract_shape(dated_nlu: NLU) -> None:
    result = dated_nlu.parse("ile mam do zapłaty za śmieci do 15 marca?")
    assert set(result) >= {"text", "language", "intent", "entities"}
    assert result["text"] == "ile mam do zapłaty za śmieci do 15 marca?"
    assert result["language"] == "pl"
    assert result["intent"]["name"] == "check_balance"
    assert 0.0 < result["intent"]["confidence"] <= 1.0
    assert result["entities"] == [
        {"entity": "obligation_kind", "value": "waste_fee", "start": 22, "end": 28},
        {"entity": "date", "value": "2027-03-15", "start": 32, "end": 40},
    ]
    ranking = result["intent_ranking"]
    assert len(ranking) == 3
    assert ranking[0] == result["intent"]
    assert [r["confidence"] for r in ranking] == sorted(
        (r["confidence"] for r in ranking), reverse=True
    )


@pytest.mark.parametrize(
    "text", ["asdkjh qwe zzz", "xkcdq vbnm", "ąęść żźń", "", "   ", "🙂🙃", "lorem ipsum dolor sit"]
)
def test_gibberish_falls_back_to_out_of_scope(nlu: NLU, text: str) -> None:
    assert nlu.parse(text)["intent"]["name"] == FALLBACK_INTENT


def test_below_the_threshold_the_ranking_keeps_the_guess(nlu: NLU) -> None:
    strict = NLU(nlu.classifier, nlu.extractor, threshold=0.99)
    result = strict.parse("kiedy płacę za śmieci")
    assert result["intent"]["name"] == FALLBACK_INTENT
    assert result["intent_ranking"][0]["name"] == "list_deadlines"
    assert result["intent"]["confidence"] == result["intent_ranking"][0]["confidence"]


def test_the_default_threshold_is_calibrated_between_zero_and_one() -> None:
    assert 0.0 < DEFAULT_THRESHOLD < 1.0
    with pytest.raises(ValueError, match="threshold"):
        NLU(IntentClassifier(), threshold=1.5)


def test_a_bare_no_means_yes_in_a_polish_conversation(nlu: NLU) -> None:
    polish = nlu.parse("no", language_hint="pl")
    assert polish["intent"] == polish["intent_ranking"][0] == {"name": "affirm", "confidence": 1.0}
    assert nlu.parse("no", language_hint="en")["intent"]["name"] == "deny"
    assert nlu.parse("no", language_hint="en")["language"] == "en"


def test_the_hint_decides_only_what_the_text_cannot(nlu: NLU) -> None:
    assert nlu.parse("ok", language_hint="uk")["language"] == "uk"
    assert nlu.parse("how much do I owe", language_hint="pl")["language"] == "en"
    assert nlu.parse("ile mam do zapłaty")["language"] == "pl"


def test_default_is_one_model_per_process_even_under_threads() -> None:
    seen: list[Any] = []
    threads = [threading.Thread(target=lambda: seen.append(NLU.default())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(model) for model in seen}) == 1


def test_training_is_deterministic_whatever_the_order() -> None:
    train, _ = split(load_packaged(), test_fraction=0.5, seed=3)
    a = NLU.train(train).parse("kiedy mam zapłacić ratę?")
    b = NLU.train(list(reversed(train))).parse("kiedy mam zapłacić ratę?")
    assert a == b
