"""The statutory interest-rate history the store starts with; the city extends it as data.

`tax`: odsetki za zwłokę, 200% of the NBP lombard rate + 2%, at least 8% (OP art. 56 §1), per
DOMAIN.md (which lists only the "recent history": intermediate 2022 changes can be added
as data). `civil`: odsetki ustawowe za opóźnienie, the NBP reference rate + 5.5 pp (KC art. 481
§2), for perpetual usufruct; unconfirmed against the statute, so it lives here as data that
`gmina rates set` can correct.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

SEED_RATES: dict[str, list[tuple[date, Decimal]]] = {
    "tax": [
        # From 2016 the formula gave less than the 8% floor until the 2022 rises.
        (date(2016, 1, 1), Decimal("8")),
        (date(2022, 2, 9), Decimal("8.5")),
        (date(2022, 5, 6), Decimal("13.5")),
        (date(2022, 9, 8), Decimal("16.5")),
        (date(2023, 9, 7), Decimal("15")),
        (date(2023, 10, 5), Decimal("14.5")),
        (date(2025, 5, 8), Decimal("13.5")),
        (date(2025, 7, 3), Decimal("13")),
        (date(2025, 9, 4), Decimal("12.5")),
        (date(2025, 10, 9), Decimal("12")),
        (date(2025, 11, 6), Decimal("11.5")),
        (date(2025, 12, 4), Decimal("11")),
    ],
    "civil": [
        (date(2016, 1, 1), Decimal("7")),
        (date(2020, 3, 18), Decimal("6.5")),
        (date(2020, 4, 9), Decimal("6")),
        (date(2020, 5, 29), Decimal("5.6")),
        (date(2021, 10, 7), Decimal("6")),
        (date(2021, 11, 4), Decimal("6.75")),
        (date(2021, 12, 9), Decimal("7.25")),
        (date(2022, 1, 5), Decimal("7.75")),
        (date(2022, 2, 9), Decimal("8.25")),
        (date(2022, 5, 6), Decimal("10.75")),
        (date(2022, 9, 8), Decimal("12.25")),
        (date(2023, 9, 7), Decimal("11.5")),
        (date(2023, 10, 5), Decimal("11.25")),
        (date(2025, 5, 8), Decimal("10.75")),
        (date(2025, 7, 3), Decimal("10.5")),
        (date(2025, 9, 4), Decimal("10.25")),
        (date(2025, 10, 9), Decimal("10")),
        (date(2025, 11, 6), Decimal("9.75")),
        (date(2025, 12, 4), Decimal("9.5")),
    ],
}


def seed_rows() -> list[dict[str, object]]:
    return [
        {"table_name": table, "effective_from": start, "rate_percent": rate}
        for table, history in SEED_RATES.items()
        for start, rate in history
    ]
