"""Settings: `config.yml` loaded once into a validated, typed object.

The file named by `GMINA_CONFIG` (default `config.yml` in the working folder) is read first; every
key can then be overridden from the environment as `GMINA__SECTION__KEY` (nested sections too, e.g.
`GMINA__SMS__TWILIO__AUTH_TOKEN`). A value in brackets or braces is read as YAML, so
`GMINA__REMINDERS__OFFSETS_DAYS="[-7, -1, 3]"` gives a list; any other value is a string that
the typed settings convert. Bad configuration raises `ConfigurationError` with one line that
names the key: a value of the wrong type, a date that no year has, a database URL that is not one,
an SQLite file whose folder cannot exist, a file that is not UTF-8 YAML. What only the server needs
(a host that resolves, a free port) is checked by `gmina run` when it binds.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from stdnum.pl import nip as stdnum_nip

from kernel.errors import ConfigurationError

ENV_PREFIX = "GMINA__"
CONFIG_ENV = "GMINA_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.yml")


class _Section(BaseModel):
    # Environment values arrive as YAML scalars: a numeric password or NIP must stay a string.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class DatabaseSettings(_Section):
    url: str = "sqlite:///var/gmina.db"
    echo: bool = False
    pool_size: int = Field(default=10, ge=1)

    @field_validator("url")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError(
                "not a database URL (sqlite:///PATH or postgresql://USER@HOST/DB)"
            ) from None
        if url.get_backend_name() not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("only sqlite:// and postgresql:// URLs are supported")
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            _check_sqlite_path(Path(url.database))
        return value


def _check_sqlite_path(path: Path) -> None:
    """The store's file can be made: no folder on its way is a file, and it is not a folder."""
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a database file")
    for folder in path.parents:
        if folder.exists():
            if not folder.is_dir():
                raise ValueError(f"{folder} is a file, so {path} cannot be made under it")
            return


DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
# A server on every interface has no one address to put in links: a link then names this machine.
_LOOPBACK_FOR = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


class RouteLimit(_Section):
    """A token bucket per client address: `burst` requests at once, refilled at `per_minute`."""

    per_minute: float = Field(ge=0)  # 0: no limit
    burst: int = Field(ge=1)


class RateLimitSettings(_Section):
    """Limits of the public routes, per client address, counted in each server process."""

    # Proxies (addresses or networks) whose X-Forwarded-For names the client; nobody else's is
    # believed, or anyone could pick a fresh address for every request.
    trusted_proxies: list[IPvAnyNetwork] = []
    # Clients never limited: by default this machine (tests, benchmarks, `gmina chat` tools). A
    # proxy on this machine must be in trusted_proxies, or all its clients count as exempt.
    exempt: list[IPvAnyNetwork] = [IPv4Network("127.0.0.0/8"), IPv6Network("::1/128")]
    # A person types a few messages a minute; a household or an office may share one address.
    webhook: RouteLimit = RouteLimit(per_minute=60, burst=30)
    # The city portal calls from its own servers, for every resident who signs in.
    portal: RouteLimit = RouteLimit(per_minute=600, burst=100)
    # One-click unsubscribe links: a mail provider posts once per message.
    unsubscribe: RouteLimit = RouteLimit(per_minute=30, burst=10)
    # The payment page and its buttons: a resident opens it a few times, a guesser many.
    payment_page: RouteLimit = RouteLimit(per_minute=30, burst=20)


class WebSettings(_Section):
    host: str = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    # When not set, it follows host and port, so a server moved to another port links to it.
    public_base_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
    shutdown_timeout_seconds: float = Field(default=10.0, ge=0)
    # Server processes sharing the port; more than one needs a store every process can reach.
    workers: int = Field(default=1, ge=1, le=64)
    rate_limit: RateLimitSettings = RateLimitSettings()

    @model_validator(mode="before")
    @classmethod
    def _base_url_follows_the_listen_address(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("public_base_url"):
            host = str(data.get("host") or DEFAULT_HOST)
            host = _LOOPBACK_FOR.get(host, host)
            shown = f"[{host}]" if ":" in host else host
            port = data.get("port", DEFAULT_PORT)
            data = {**data, "public_base_url": f"http://{shown}:{port}"}
        return data

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


# What Telegram accepts as a webhook's secret_token.
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class TelegramSettings(_Section):
    token: str | None = None
    api_base_url: str = "https://api.telegram.org"
    mode: Literal["webhook", "polling"] = "webhook"
    webhook_secret: str | None = None
    bot_username: str | None = None
    # Telegram's own limits: about 30 messages a second overall, one a second to one chat.
    rate_per_second: float = Field(default=30.0, gt=0)
    rate_per_chat_per_second: float = Field(default=1.0, gt=0)

    @field_validator("webhook_secret")
    @classmethod
    def _secret_telegram_accepts(cls, value: str | None) -> str | None:
        if value is not None and not _TELEGRAM_SECRET.match(value):
            raise ValueError("1 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value


class TwilioSettings(_Section):
    account_sid: str | None = None
    auth_token: str | None = None
    from_number: str | None = None
    messaging_service_sid: str | None = None
    api_base_url: str = "https://api.twilio.com"


class SmsSettings(_Section):
    twilio: TwilioSettings = TwilioSettings()
    # Messages a second to the provider (a Twilio long code takes about 1, a messaging service or
    # a short code more: ask the provider what the number was bought with).
    rate_per_second: float = Field(default=10.0, gt=0)
    # ą→a … ż→z, so that a Polish text fits GSM-7 (160 characters a segment instead of 70).
    fold_diacritics: bool = True
    # A reply longer than this many segments is cut, with a pointer to the web chat.
    max_segments: int = Field(default=3, ge=1, le=10)


class EmailSettings(_Section):
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=0, le=65535)
    from_address: str | None = None
    username: str | None = None
    password: str | None = None
    # STARTTLS after connecting (port 587); `use_tls`: TLS from the first byte (port 465) instead.
    starttls: bool = True
    use_tls: bool = False
    # A CA bundle (PEM) to trust for the relay's certificate besides the system's.
    ca_file: Path | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Messages a second to the relay, and connections kept open to it.
    rate_per_second: float = Field(default=20.0, gt=0)
    connections: int = Field(default=4, ge=1, le=64)
    # Signs the one-click unsubscribe links (RFC 8058); needed when e-mail is on.
    unsubscribe_secret: str | None = None

    @model_validator(mode="after")
    def _secret_when_on(self) -> EmailSettings:
        if self.smtp_host and self.from_address and not self.unsubscribe_secret:
            raise ValueError("unsubscribe_secret must be set when smtp_host and from_address are")
        return self


class RemindersSettings(_Section):
    """The reminder policy (notifier.reminders); docs/reminders.md explains each key."""

    offsets_days: list[int] = [-7, -1, 3]
    quiet_hours: str | None = "20:00-08:00"
    # Kinds of obligation reminded; empty: every kind.
    kinds: list[str] = []
    # The hour (Europe/Warsaw) of the daily planning run inside `gmina run`.
    run_hour: int = Field(default=9, ge=0, le=23)
    # What an SMS reminder may carry: full (amounts), no_amount, minimal (neither kinds nor dates).
    sms_content: Literal["full", "no_amount", "minimal"] = "no_amount"
    # How long after a reminder a "PAY" reply pays exactly what it listed.
    reply_window_days: int = Field(default=14, ge=1)
    # Days missed while the server was down that are planned when it starts again, that long
    # after start-up (the server answers first).
    catch_up_days: int = Field(default=7, ge=0)
    start_delay_seconds: float = Field(default=10, ge=0)

    @field_validator("quiet_hours")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None:
            parse_quiet_hours(value)
        return value


class CitySettings(_Section):
    """The tax office that receives payments; shown on transfer details and QR codes."""

    name: str = "Ruda Śląska"
    office_name: str = "Urząd Miasta Ruda Śląska"
    recipient_nip: str = "6411005545"
    recipient_address: str = "pl. Jana Pawła II 6, 41-709 Ruda Śląska"
    office_hours: str = "pon. 8:00–17:00, wt.–czw. 7:30–15:30, pt. 7:30–14:00"
    office_phone: str = "+48 32 244 90 00"
    repeat_application_minutes: int = Field(default=60, ge=0)
    portal_api_key: str | None = None

    @field_validator("recipient_nip")
    @classmethod
    def _valid_nip(cls, value: str) -> str:
        if not stdnum_nip.is_valid(value):
            raise ValueError("not a valid NIP (10 digits with a correct check digit)")
        return stdnum_nip.compact(value)


class ActionsSettings(_Section):
    """`gmina actions`, the rasa-sdk action server for a city that runs Rasa."""

    # The secret Rasa sends (endpoints.yml: `action_endpoint: {url, token}` adds `?token=…`, or
    # an `Authorization: Bearer …` header); without it the server listens on loopback only.
    server_token: str | None = None


class LedgerSettings(_Section):
    """Tax rules that DOMAIN.md marks unconfirmed live here, not in code."""

    # OP art. 54 §1 pkt 5: interest not above three times the registered-letter fee is not charged.
    interest_threshold: Decimal = Decimal("8.70")
    # OP art. 63 §1 rounds taxes and their interest; whether interest on a late *fee* is rounded
    # to whole złoty is unconfirmed.
    round_fee_interest: bool = False
    # Council-set due dates that differ by city ("MM-DD"); DOMAIN.md: Ruda Śląska's waste-fee
    # date is unconfirmed.
    waste_fee_due_dates: list[str] = Field(
        default=["03-15", "05-15", "09-15", "11-15"], min_length=1
    )
    dog_fee_due_date: str = "03-31"

    @field_validator("waste_fee_due_dates")
    @classmethod
    def _every_year_has_these_days(cls, values: list[str]) -> list[str]:
        for value in values:
            _check_month_day(value)
        return values

    @field_validator("dog_fee_due_date")
    @classmethod
    def _every_year_has_this_day(cls, value: str) -> str:
        _check_month_day(value)
        return value


_MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")


def _check_month_day(value: str) -> None:
    """`"MM-DD"` of a day every year has (not 02-29: a due date must exist each year)."""
    match = _MONTH_DAY.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a day as MM-DD")
    try:
        date(2001, int(match.group(1)), int(match.group(2)))  # 2001: not a leap year
    except ValueError:
        raise ValueError(f"{value!r} is not a day of every year") from None


class NluSettings(_Section):
    # Where the trained NLU model is kept between runs (a relative path is relative to the
    # working folder); empty: train it in every process (about 1.5 s).
    cache_dir: Path | None = Path("var/cache")


class RetentionSettings(_Section):
    # Conversations of senders bound to no taxpayer, idle this long, are deleted.
    anonymous_days: int = Field(default=30, ge=1)
    # How often `gmina run` deletes them (each worker does; deleting twice is harmless).
    purge_every_hours: float = Field(default=6.0, gt=0)


class OutboxSettings(_Section):
    """How the dispatcher works through the outbox."""

    batch_size: int = Field(default=200, ge=1, le=5000)
    # Sends in flight at once, over all channels.
    concurrency: int = Field(default=64, ge=1, le=1024)
    # A claimed message whose dispatcher died goes out again after this long.
    lease_seconds: float = Field(default=60.0, gt=0)
    # Temporary failures are retried with exponential backoff and jitter, for this long.
    retry_for_hours: float = Field(default=24.0, gt=0)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_cap_seconds: float = Field(default=300.0, gt=0)
    # With nothing to send, look again after this long (a queued chat reply wakes it at once).
    idle_poll_seconds: float = Field(default=5.0, gt=0)


class Przelewy24Settings(_Section):
    """Przelewy24's REST API: HTTP Basic posId:api_key, signatures with the CRC key."""

    merchant_id: int | None = None
    pos_id: int | None = None  # empty: the merchant id
    api_key: str | None = None  # GMINA__PAYMENTS__PRZELEWY24__API_KEY
    crc: str | None = None  # GMINA__PAYMENTS__PRZELEWY24__CRC
    api_base_url: str = "https://secure.przelewy24.pl"
    timeout_seconds: float = Field(default=15.0, gt=0)


class DemoGatewaySettings(_Section):
    # The demo gateway signs its notifications as Przelewy24 does, with this key. No money moves
    # through it; a city switching to a real gateway sets that gateway's own keys.
    crc: str = "demo-gateway-crc"


class PaymentsSettings(_Section):
    """Payment links, the payment page and the online gateway."""

    link_ttl_days: int = Field(default=14, ge=1, le=365)
    gateway: Literal["demo", "przelewy24"] = "demo"
    przelewy24: Przelewy24Settings = Przelewy24Settings()
    demo: DemoGatewaySettings = DemoGatewaySettings()

    @model_validator(mode="after")
    def _gateway_has_its_keys(self) -> PaymentsSettings:
        p24 = self.przelewy24
        if self.gateway == "przelewy24" and not (p24.merchant_id and p24.api_key and p24.crc):
            raise ValueError(
                "payments.gateway przelewy24 needs payments.przelewy24.merchant_id, api_key and crc"
            )
        return self


class PanelSettings(_Section):
    """The staff panel under /panel/ (docs/panel.md)."""

    enabled: bool = False
    # Signs the panel's session cookies and derives the key that encrypts TOTP secrets at rest:
    # GMINA__PANEL__SESSION_SECRET, never in a committed file. Changing it ends every session.
    session_secret: str | None = Field(default=None, min_length=32)
    # A session ends after this long without a request, and this long after its login anyway.
    idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    absolute_minutes: int = Field(default=10 * 60, ge=1, le=7 * 24 * 60)
    # Sign-in is paused for an account after this many failures within throttle_minutes (wrong
    # password or second-factor code), and for a client address after address_failures.
    login_failures: int = Field(default=5, ge=1)
    address_failures: int = Field(default=20, ge=1)
    throttle_minutes: int = Field(default=15, ge=1)
    # Serve the panel on a port of its own (and not on web.port); 0: any free port. Empty: the
    # panel shares web.port. `bind`: the panel's own host (default web.host).
    port: int | None = Field(default=None, ge=0, le=65535)
    bind: str | None = None

    @model_validator(mode="after")
    def _secret_when_enabled(self) -> PanelSettings:
        if self.enabled and not self.session_secret:
            raise ValueError(
                "session_secret must be set when enabled is true "
                "(GMINA__PANEL__SESSION_SECRET, at least 32 characters)"
            )
        return self


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class DemoSettings(_Section):
    taxpayers: int = Field(default=2000, ge=1)
    seed: int = 2027


class Settings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    web: WebSettings = WebSettings()
    telegram: TelegramSettings = TelegramSettings()
    sms: SmsSettings = SmsSettings()
    email: EmailSettings = EmailSettings()
    reminders: RemindersSettings = RemindersSettings()
    city: CitySettings = CitySettings()
    actions: ActionsSettings = ActionsSettings()
    ledger: LedgerSettings = LedgerSettings()
    retention: RetentionSettings = RetentionSettings()
    nlu: NluSettings = NluSettings()
    outbox: OutboxSettings = OutboxSettings()
    payments: PaymentsSettings = PaymentsSettings()
    panel: PanelSettings = PanelSettings()
    logging: LoggingSettings = LoggingSettings()
    demo: DemoSettings = DemoSettings()


_QUIET_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def parse_quiet_hours(value: str) -> tuple[time, time]:
    """`"20:00-08:00"` → (20:00, 08:00); the window may wrap past midnight."""
    match = _QUIET_HOURS.match(value.strip())
    if not match:
        raise ValueError("expected HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return time(h1, m1), time(h2, m2)


def _env_value(raw: str) -> Any:
    """Lists and mappings are read as YAML; everything else stays the string it is (pydantic
    converts "9000" or "true" for typed keys, and a password like "0123" keeps its zero)."""
    if raw == "":
        return None
    if raw.lstrip().startswith(("[", "{")):
        try:
            return yaml.safe_load(raw)
        except yaml.YAMLError:
            return raw
    return raw


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not path:
            continue
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = _env_value(raw)
    return overrides


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the config file and the environment into one validated `Settings`."""
    environ = os.environ if environ is None else environ
    chosen = Path(path or environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)
    data: dict[str, Any] = {}
    if chosen.exists():
        loaded = _read_yaml(chosen)
        if not isinstance(loaded, dict):
            raise ConfigurationError(f"{chosen}: the top level must be a mapping of sections")
        data = loaded
    elif path is not None or CONFIG_ENV in environ:
        raise ConfigurationError(f"{chosen}: configuration file not found")
    data = _merge(data, _env_overrides(environ))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        raise ConfigurationError(f"{key}: {message}") from exc


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except IsADirectoryError:
        raise ConfigurationError(f"{path}: a folder, not a configuration file") from None
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigurationError(f"{path}: not valid YAML{line}: {problem}") from None
