"""Bad configuration stops every command with one line naming the key and exit code 1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from storage.migrate import upgrade

GMINA = str(Path(sys.executable).with_name("gmina"))
RUN_LIMIT_S = 120


def _gmina(config: Path, *args: str, **environ: str) -> tuple[int, str]:
    """Exit code and stderr of one `gmina` command with CONFIG as its configuration file."""
    env = {"GMINA_CONFIG": str(config), **environ}
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stderr


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(f"database:\n  url: sqlite:///{tmp_path / 'gmina.db'}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ('ledger:\n  waste_fee_due_dates: ["02-30"]\n', "ledger.waste_fee_due_dates: '02-30'"),
        ("ledger:\n  dog_fee_due_date: 13-45\n", "ledger.dog_fee_due_date: '13-45'"),
        ('ledger:\n  dog_fee_due_date: "02-29"\n', "is not a day of every year"),
        ("ledger:\n  waste_fee_due_dates: [March]\n", "is not a day as MM-DD"),
        ("database:\n  url: not a url\n", "database.url: not a database URL"),
        ("web:\n  port: eighty\n", "web.port:"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_key(
    tmp_path: Path, yaml_text: str, expected: str
) -> None:
    path = tmp_path / "config.yml"
    path.write_text(yaml_text, encoding="utf-8")
    code, stderr = _gmina(path, "db", "upgrade")
    assert code == 1
    line = _one_line(stderr)
    assert line.startswith("Error: configuration: ")
    assert expected in line


def test_an_sqlite_path_under_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "var").write_text("a file where a folder should be", encoding="utf-8")
    path = tmp_path / "config.yml"
    path.write_text(f"database:\n  url: sqlite:///{tmp_path / 'var' / 'gmina.db'}\n", "utf-8")
    code, stderr = _gmina(path, "balance", "T000001")
    assert code == 1
    assert _one_line(stderr) == (
        f"Error: configuration: database.url: {tmp_path / 'var'} is a file, "
        f"so {tmp_path / 'var' / 'gmina.db'} cannot be made under it"
    )


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_bytes("city:\n  name: Ruda Śląska\n".encode("cp1250"))
    code, stderr = _gmina(path, "db", "upgrade")
    assert code == 1
    assert _one_line(stderr) == f"Error: configuration: {path}: not UTF-8 text (byte 19)"


def test_a_config_path_that_is_a_folder_is_named(tmp_path: Path) -> None:
    code, stderr = _gmina(tmp_path, "db", "upgrade")
    assert code == 1
    assert (
        _one_line(stderr) == f"Error: configuration: {tmp_path}: a folder, not a configuration file"
    )


def test_a_config_file_that_is_not_yaml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("web:\n  port: [8080\n", encoding="utf-8")
    code, stderr = _gmina(path, "db", "upgrade")
    assert code == 1
    assert _one_line(stderr).startswith(f"Error: configuration: {path}: not valid YAML (line 3)")


def test_the_public_base_url_follows_the_port_unless_set(config: Path) -> None:
    code, _ = _gmina(config, "db", "upgrade")
    assert code == 0
    result = CliRunner().invoke(
        main, ["demo-data", "--taxpayers", "3"],
        env={"GMINA_CONFIG": str(config), "GMINA__WEB__PORT": "8090"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "open http://127.0.0.1:8090/ and send /start " in result.stdout
    set_explicitly = {
        "GMINA_CONFIG": str(config),
        "GMINA__WEB__PORT": "8090",
        "GMINA__WEB__PUBLIC_BASE_URL": "https://podatki.example.pl/",
    }
    result = CliRunner().invoke(main, ["demo-data", "--if-empty"], env=set_explicitly)
    assert "open https://podatki.example.pl/ and send /start " in result.stdout


@pytest.fixture
def migrated(config: Path) -> Path:
    upgrade(config.read_text(encoding="utf-8").split("url: ")[1].strip())
    return config


def _run_server(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GMINA_CONFIG": str(config), "GMINA__LOGGING__LEVEL": "WARNING"}
    return subprocess.run(
        [GMINA, "run", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        check=False,
        cwd=config.parent,
    )


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_run_on_a_port_in_use_says_so_in_one_line(migrated: Path, taken_port: int) -> None:
    finished = _run_server(migrated, "--port", str(taken_port))
    assert finished.returncode == 1
    assert _one_line(finished.stderr) == (
        f"Error: configuration: web.port: cannot listen on 127.0.0.1:{taken_port}: "
        "Address already in use"
    )


def test_run_on_a_host_that_does_not_resolve_says_so_in_one_line(migrated: Path) -> None:
    finished = _run_server(migrated, "--host", "no-such-host.invalid", "--port", "0")
    assert finished.returncode == 1
    line = _one_line(finished.stderr)
    assert line.startswith(
        "Error: configuration: web.host: 'no-such-host.invalid' does not resolve"
    )


def test_run_checks_its_own_options_like_configuration(migrated: Path) -> None:
    code, stderr = _gmina(migrated, "run", "--port", "70000")
    assert code == 1
    assert _one_line(stderr).startswith("Error: configuration: web.port: ")
