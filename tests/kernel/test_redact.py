from kernel.redact import mask_pesel_everywhere, mask_recipient, mask_secrets


def test_pesels_and_codes_are_masked_and_ordinary_words_and_references_kept() -> None:
    assert mask_secrets("mój PESEL 44051401359, kod ABCD-EFGH") == "mój PESEL ***, kod ***"
    assert mask_secrets("kod menu73l7") == "kod ***"
    kept = "przelewy: 2 raty, sprawa RS-2027-000001, konto 22105012141000000012345678"
    assert mask_secrets(kept) == kept


def test_a_saved_state_loses_every_pesel_whatever_holds_it() -> None:
    state = {"slots": {"amount": "44051401359"}, "events": [{"text": "to 44051401359"}], "n": 3}
    assert mask_pesel_everywhere(state) == {
        "slots": {"amount": "***"},
        "events": [{"text": "to ***"}],
        "n": 3,
    }


def test_a_recipient_is_masked_to_tell_two_apart_but_never_to_write_to() -> None:
    assert mask_recipient("jan.kowalski@example.pl") == "j***@***.pl"
    assert mask_recipient("+48600100200") == "***200"
    assert mask_recipient("4243") == "***3"
    assert mask_recipient("42") == "***"
