"""SMS text: its encoding (GSM-7 or UCS-2), how many segments it costs, and fitting it to a limit.

GSM-7 (3GPP TS 23.038) carries 160 septets in one message, 153 a segment once a text needs more
(the rest is the concatenation header); a character of its extension table (`€`, `[`, `{` …)
takes two septets, and the two are never split between segments. A text with any character
outside both tables goes as UCS-2: 70 UTF-16 units in one message, 67 a segment, a surrogate pair
(an emoji) never split.

None of ą ć ę ł ń ó ś ź ż is in GSM-7, so one of them makes a Polish text UCS-2 and more than
twice as dear. `fold` writes them as a, c, e, l, n, o, s, z, z (and typographic dashes, quotes
and ellipses in their ASCII forms) when `sms.fold_diacritics` is on. Cyrillic stays
as it is: a Ukrainian text is UCS-2 whatever we do.

`sms_text` is what goes out for an outbox message: its buttons as numbered choices ("Odpisz
1 - saldo, 2 - terminy"; a reply "1" is the first one's payload), folded and fitted. The outbox
row keeps its segments and encoding: the chat path measures its replies as it renders them
(bot.channels.sms), and `SmsMeter.measured` does it for every SMS queued elsewhere (reminders,
fallback copies, broadcasts), through the same `sms_text`.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from kernel.i18n import normalise_language, render
from kernel.settings import Settings, SmsSettings
from storage.outbox import NewMessage

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Each of these is sent as ESC + the character: two septets.
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

SINGLE = {"gsm7": 160, "ucs2": 70}
PER_SEGMENT = {"gsm7": 153, "ucs2": 67}

_POLISH = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")
_TYPOGRAPHIC = str.maketrans(
    {
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2212": "-",  # minus
        "\u201e": '"',  # „
        "\u201d": '"',  # ”
        "\u201c": '"',  # “
        "\u00ab": '"',  # «
        "\u00bb": '"',  # »
        "\u2019": "'",  # ’
        "\u2018": "'",  # ‘
        "\u2026": "...",  # …
        "\u00a0": " ",  # no-break space (money: `1 234,56 zł`)
        "\u202f": " ",  # narrow no-break space
        "\u2022": "-",  # bullet
    }
)


class Encoding(enum.StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsText:
    """A text as it will be sent, with what it costs."""

    text: str
    encoding: Encoding
    segments: int


def fold(text: str) -> str:
    """Polish (and other Latin) diacritics and typographic punctuation as GSM-7 can carry them;
    characters of other scripts are left as they are."""
    text = text.translate(_POLISH).translate(_TYPOGRAPHIC)
    return "".join(_fold_letter(char) for char in text)


def _fold_letter(char: str) -> str:
    if char in GSM7_BASIC or char in GSM7_EXTENSION or char.isascii():
        return char
    base = unicodedata.normalize("NFKD", char)[0]
    # Only a Latin letter with marks (č → c); й (и + breve) stays Cyrillic.
    return base if base.isascii() and base.isalpha() else char


def encoding_of(text: str) -> Encoding:
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        return Encoding.GSM7
    return Encoding.UCS2


def _units(char: str, encoding: Encoding) -> int:
    """Septets (GSM-7) or UTF-16 units (UCS-2) one character takes."""
    if encoding is Encoding.GSM7:
        return 2 if char in GSM7_EXTENSION else 1
    return 2 if ord(char) > 0xFFFF else 1


def measure(text: str) -> SmsText:
    """The encoding the text needs and the segments it is sent in (an empty text: one)."""
    encoding = encoding_of(text)
    sizes = [_units(char, encoding) for char in text]
    if sum(sizes) <= SINGLE[encoding]:
        return SmsText(text, encoding, 1)
    limit, segments, used = PER_SEGMENT[encoding], 1, 0
    for size in sizes:
        # A two-unit character (an escape pair, a surrogate pair) is never split.
        if used + size > limit:
            segments, used = segments + 1, 0
        used += size
    return SmsText(text, encoding, segments)


def fit(
    text: str, max_segments: int, tail: str, *, fold_diacritics: bool, keep: str = ""
) -> SmsText:
    """The text (then `keep`, on its own line) folded when asked and, when that takes more than
    `max_segments`, the text cut at a word boundary with `tail` (a pointer to where the rest can
    be read) on its own line; `keep` (the choices to answer with) is never cut."""
    if fold_diacritics:
        text, tail, keep = fold(text), fold(tail), fold(keep)
    after = f"\n{keep}" if keep else ""
    whole = measure(text + after)
    if whole.segments <= max_segments:
        return whole

    def cut_at(length: int) -> str:
        return f"{text[:length].rstrip()}...\n{tail}{after}"

    # The longest prefix that fits with the tail (segments only grow with the length).
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(cut_at(middle)).segments <= max_segments:
            low = middle
        else:
            high = middle - 1
    # Back to the last space or line end, unless that throws away much.
    space = max(text.rfind(" ", 0, low + 1), text.rfind("\n", 0, low + 1))
    if space > 0 and low - space <= 40:
        low = space
    return measure(cut_at(low))


def numbered_choices(buttons: Sequence[Mapping[str, str]], language: str) -> str:
    """ "Reply 1 – Balance, 2 – Deadlines": what to answer for each button, in its order."""
    choices = ", ".join(
        render("sms_choice", language, {"number": number, "title": button["title"]})
        for number, button in enumerate(buttons, start=1)
    )
    return render("sms_choices", language, {"choices": choices})


def sms_text(
    text: str,
    buttons: Sequence[Mapping[str, str]],
    language: str,
    settings: SmsSettings,
    public_base_url: str,
) -> SmsText:
    """An outbox message as one SMS: buttons as numbered choices after the text, folded when
    `sms.fold_diacritics`, cut to `sms.max_segments` with a pointer to the web chat."""
    choices = numbered_choices(buttons, language) if buttons else ""
    tail = render("sms_rest_in_web_chat", language, {"url": f"{public_base_url}/"})
    return fit(
        text, settings.max_segments, tail, fold_diacritics=settings.fold_diacritics, keep=choices
    )


# Texts remembered by one meter (a long-lived one, the dispatcher's, must not grow forever).
_MEASURED_KEPT = 4096


class SmsMeter:
    """Segments and encoding for the SMS rows queued outside the chat path, as the sender will
    word them. A broadcast's thousands of rows share a few texts: each is measured once."""

    def __init__(self, settings: SmsSettings, public_base_url: str) -> None:
        self.settings = settings
        self.public_base_url = public_base_url
        self._measured: dict[tuple[str, tuple[tuple[str, str], ...], str], SmsText] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> SmsMeter:
        return cls(settings.sms, settings.web.public_base_url)

    def measured(self, message: NewMessage) -> NewMessage:
        """The message with its SMS cost filled in; a message on another channel as it is."""
        if message.channel != "sms":
            return message
        key = (message.text, tuple(message.buttons), normalise_language(message.language))
        cost = self._measured.get(key)
        if cost is None:
            if len(self._measured) >= _MEASURED_KEPT:
                self._measured.clear()
            buttons = [{"title": title, "payload": payload} for title, payload in key[1]]
            cost = sms_text(key[0], buttons, key[2], self.settings, self.public_base_url)
            self._measured[key] = cost
        return replace(message, sms_segments=cost.segments, sms_encoding=str(cost.encoding))

    def fitted(self, text: str, keep: str, language: str) -> str:
        """`text` and then `keep` (a payment link) on its own line; when that is longer than
        `sms.max_segments`, the text is cut (and folded) as the sender would cut it, so that
        `keep` is never the part lost."""
        settings = self.settings
        whole = f"{text}\n{keep}"
        if measure(fold(whole) if settings.fold_diacritics else whole).segments <= (
            settings.max_segments
        ):
            return whole
        tail = render("sms_rest_in_web_chat", language, {"url": f"{self.public_base_url}/"})
        return fit(
            text, settings.max_segments, tail, fold_diacritics=settings.fold_diacritics, keep=keep
        ).text

    def measured_all(self, messages: Iterable[NewMessage]) -> list[NewMessage]:
        return [self.measured(message) for message in messages]
