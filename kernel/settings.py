"""Settings: `config.yml` loaded once into a validated, typed object.

The file named by `GMINA_CONFIG` (default `config.yml` in the working folder) is read first; every
key can then be overridden from the environment as `GMINA__SECTION__KEY` (nested sections too, e.g.
`GMINA__SMS__TWILIO__AUTH_TOKEN`). A value in brackets or braces is read as YAML, so
`GMINA__REMINDERS__OFFSETS_DAYS="[-7, -1, 3]"` gives a list; any other value is a string that
the typed settings convert. Bad configuration raises
`ConfigError` with one line that names the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from stdnum.pl import nip as stdnum_nip

ENV_PREFIX = "GMINA__"
CONFIG_ENV = "GMINA_CONFIG"
DEFAULT_CONFIG_PATH = Path("config.yml")


class ConfigError(Exception):
    """Configuration that cannot be used; the message is one line naming the key."""


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
        if not value.startswith(("sqlite", "postgresql", "postgres")):
            raise ValueError("only sqlite:// and postgresql:// URLs are supported")
        return value


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_base_url: str = "http://127.0.0.1:8080"
    shutdown_timeout_seconds: float = Field(default=10.0, ge=0)
    # Server processes sharing the port; more than one needs a store every process can reach.
    workers: int = Field(default=1, ge=1, le=64)

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class TelegramSettings(_Section):
    token: str | None = None
    api_base_url: str = "https://api.telegram.org"
    mode: Literal["webhook", "polling"] = "webhook"
    webhook_secret: str | None = None
    bot_username: str | None = None


class TwilioSettings(_Section):
    account_sid: str | None = None
    auth_token: str | None = None
    from_number: str | None = None
    messaging_service_sid: str | None = None
    api_base_url: str = "https://api.twilio.com"


class SmsSettings(_Section):
    twilio: TwilioSettings = TwilioSettings()


class EmailSettings(_Section):
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=0, le=65535)
    from_address: str | None = None
    username: str | None = None
    password: str | None = None
    starttls: bool = True


class RemindersSettings(_Section):
    offsets_days: list[int] = [-7, -1, 3]
    quiet_hours: str | None = "20:00-08:00"

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


class LedgerSettings(_Section):
    """Tax rules that DOMAIN.md marks unconfirmed live here, not in code."""

    # OP art. 54 §1 pkt 5: interest not above three times the registered-letter fee is not charged.
    interest_threshold: Decimal = Decimal("8.70")
    # OP art. 63 §1 rounds taxes and their interest; whether interest on a late *fee* is rounded
    # to whole złoty is unconfirmed.
    round_fee_interest: bool = False
    # Council-set due dates that differ by city ("MM-DD"); DOMAIN.md: Ruda Śląska's waste-fee
    # date is unconfirmed.
    waste_fee_due_dates: list[str] = ["03-15", "05-15", "09-15", "11-15"]
    dog_fee_due_date: str = "03-31"


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
    ledger: LedgerSettings = LedgerSettings()
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
        try:
            loaded = yaml.safe_load(chosen.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{chosen}: not valid YAML: {exc}".replace("\n", " ")) from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"{chosen}: the top level must be a mapping of sections")
        data = loaded
    elif path is not None or CONFIG_ENV in environ:
        raise ConfigError(f"{chosen}: configuration file not found")
    data = _merge(data, _env_overrides(environ))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        raise ConfigError(f"{key}: {error['msg']}") from exc
