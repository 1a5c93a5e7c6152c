from decimal import Decimal
from pathlib import Path

import pytest

from kernel.errors import ConfigurationError
from kernel.settings import load_settings


def _empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "empty.yml"
    path.write_text("", encoding="utf-8")
    return path


def test_defaults_match_the_contract(tmp_path: Path) -> None:
    settings = load_settings(_empty_config(tmp_path), environ={})
    assert settings.database.url == "sqlite:///var/gmina.db"
    assert settings.telegram.api_base_url == "https://api.telegram.org"
    assert settings.sms.twilio.api_base_url == "https://api.twilio.com"
    assert settings.ledger.interest_threshold == Decimal("8.70")


def test_repository_config_file_loads() -> None:
    settings = load_settings(Path(__file__).parents[2] / "config.yml", environ={})
    assert settings.reminders.offsets_days == [-7, -1, 3]
    assert settings.telegram.token is None


def test_environment_overrides_nested_keys_and_parses_lists(tmp_path: Path) -> None:
    config = tmp_path / "c.yml"
    config.write_text("web:\n  port: 9000\n", encoding="utf-8")
    settings = load_settings(
        environ={
            "GMINA_CONFIG": str(config),
            "GMINA__DATABASE__URL": "postgresql://u@h/db",
            "GMINA__SMS__TWILIO__AUTH_TOKEN": "secret",
            "GMINA__REMINDERS__OFFSETS_DAYS": "[-3, 0]",
        }
    )
    assert settings.web.port == 9000
    assert settings.database.url == "postgresql://u@h/db"
    assert settings.sms.twilio.auth_token == "secret"
    assert settings.reminders.offsets_days == [-3, 0]


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"GMINA__WEB__PORT": "eighty"}, "web.port"),
        ({"GMINA__REMINDERS__QUIET_HOURS": "8pm-8am"}, "reminders.quiet_hours"),
        ({"GMINA__TELEGRAM__MODE": "carrier-pigeon"}, "telegram.mode"),
        ({"GMINA__DATABASE__URL": "mysql://x"}, "database.url"),
        ({"GMINA__WEB__UNKNOWN_KEY": "1"}, "web.unknown_key"),
        ({"GMINA__CITY__RECIPIENT_NIP": "6410005541"}, "city.recipient_nip"),
    ],
)
def test_bad_configuration_names_the_key_in_one_line(
    tmp_path: Path, environ: dict[str, str], key: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(_empty_config(tmp_path), environ=environ)
    assert str(caught.value).startswith(f"{key}:")
    assert "\n" not in str(caught.value)


def test_numeric_secrets_from_the_environment_stay_strings(tmp_path: Path) -> None:
    settings = load_settings(_empty_config(tmp_path), environ={"GMINA__EMAIL__PASSWORD": "0123"})
    assert settings.email.password == "0123"


def test_named_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        load_settings(environ={"GMINA_CONFIG": str(tmp_path / "nope.yml")})
