"""Pages of the panel: Jinja2 templates drawn in the staff member's language (Polish or English).

`await render(request, "panel/NAME.html", {context})` answers an HTML page. Templates extend
`panel/base.html` and fill the blocks `title` and `main`; they translate with `_()` and
`ngettext()` (gettext's English msgids, catalogues `kernel/locale/<lang>/LC_MESSAGES/panel.po`,
`make i18n` extracts them), put `{{ csrf_field() }}` in every form that posts, and format with
the filters `money`, `date`, `datetime` and `number`. Every page gets `staff` (None before
login), `nav` (the features the staff member's role may open), `lang`, `path` and `csrf_token`.

Templates are looked up under `bot/panel/templates/` and under any room's `templates/` folder
that has a `panel/` folder inside (`notifier/templates/panel/...`), all by the name `panel/...`.

The language is the one the staff member chose with the switch (a cookie), else the first of
Polish and English in the browser's Accept-Language, else Polish.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from babel.dates import format_datetime as babel_format_datetime
from babel.numbers import format_decimal
from markupsafe import Markup, escape

from bot.panel.state import PANEL, SESSION, may, signed_in_staff
from kernel.clock import WARSAW
from kernel.i18n import babel_locale, format_date, format_money, translations
from storage.staff import Role

PANEL_LANGUAGES = ("pl", "en")
DEFAULT_PANEL_LANGUAGE = "pl"
LANGUAGE_COOKIE = "gmina_panel_lang"
CATALOGUE = "panel"
_ROOT = Path(__file__).resolve().parents[2]
_ROOMS = ("bot/panel", "notifier", "payments", "actions", "storage")


def N_(text: str) -> str:
    """Marks `text` for extraction into the panel's catalogue; translated where it is shown."""
    return text


# The roles as staff read them.
ROLE_NAMES = {Role.CLERK: N_("clerk"), Role.APPROVER: N_("approver"), Role.ADMIN: N_("admin")}


def template_dirs() -> list[Path]:
    """Folders whose `panel/` templates the panel serves: the panel's own first."""
    folders = [_ROOT / room / "templates" for room in _ROOMS]
    return [folder for folder in folders if (folder / "panel").is_dir()]


def negotiate_language(accept_language: str) -> str:
    """The first of the panel's languages the browser asks for, by quality then order."""
    offers: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        offers.append((-quality, position, tag.strip().lower()[:2]))
    for negative_quality, _, code in sorted(offers):
        if negative_quality < 0 and code in PANEL_LANGUAGES:
            return code
    return DEFAULT_PANEL_LANGUAGE


def panel_language(request: web.Request) -> str:
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in PANEL_LANGUAGES:
        return chosen
    return negotiate_language(request.headers.get("Accept-Language", ""))


def translator(request: web.Request) -> gettext.GNUTranslations:
    """The panel's catalogue in the request's language, for words a handler puts on a page."""
    return translations(panel_language(request), CATALOGUE)


def _number(value: int | Decimal, language: str) -> str:
    return format_decimal(value, locale=babel_locale(language))


def _datetime(value: datetime, language: str) -> str:
    """A moment in Warsaw time: `10 maja 2027, 12:00` / `10 May 2027, 12:00`."""
    return babel_format_datetime(
        value.astimezone(WARSAW), "d MMMM yyyy, HH:mm", locale=babel_locale(language)
    )


def _date(value: date | str, language: str) -> str:
    return format_date(value, language)


def _money(value: Decimal | str | int, language: str) -> str:
    return format_money(value, language)


@functools.cache
def environment(language: str) -> jinja2.Environment:
    """One environment per language, with its catalogue and formats installed."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dirs()),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    catalogue = translations(language, CATALOGUE)
    env.install_gettext_callables(  # type: ignore[attr-defined]
        catalogue.gettext, catalogue.ngettext, newstyle=True
    )
    env.filters["money"] = functools.partial(_money, language=language)
    env.filters["date"] = functools.partial(_date, language=language)
    env.filters["datetime"] = functools.partial(_datetime, language=language)
    env.filters["number"] = functools.partial(_number, language=language)
    return env


def _csrf_field(token: str) -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(escape(token))


def page_context(request: web.Request, language: str) -> dict[str, Any]:
    """What every page may use: who is signed in, the navigation they may open, the token."""
    staff = signed_in_staff(request)
    token = request[SESSION].csrf
    return {
        "staff": staff,
        "nav": request.app[PANEL].visible_nav(staff) if staff is not None else [],
        "lang": language,
        "languages": PANEL_LANGUAGES,
        "path": request.path,
        "path_qs": request.path_qs,
        "csrf_token": token,
        "csrf_field": functools.partial(_csrf_field, token),
        "may": may,
        "role_names": ROLE_NAMES,
    }


async def render(
    request: web.Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
) -> web.Response:
    """The template `name` as an HTML answer in the request's language."""
    language = panel_language(request)
    template = environment(language).get_template(name)
    body = template.render(**page_context(request, language), **(context or {}))
    return web.Response(text=body, status=status, content_type="text/html")


async def refusal(request: web.Request, status: int) -> web.Response:
    """The panel's page for a refused request (403: not for your role or a forged form; 404)."""
    return await render(request, "panel/refused.html", {"status": status}, status=status)
