"""The 150,000-taxpayer city the benchmarks run on: its CSV files, its stores, `gmina` commands.

`csv_city` writes the city once with `gmina demo-data --csv-dir`; `fresh_store` gives an empty
store (SQLite file or PostgreSQL database); `ensure_city` gives a migrated store holding the whole
city, importing it only when it is not there already.

    python -m bench.city [--taxpayers N] [--engines sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from bench.common import DEFAULT_POSTGRES_URL
from storage.db import sync_url

DATA = Path(__file__).parent / "data"
GMINA = [str(Path(sys.executable).with_name("gmina"))]
IMPORT_KINDS = ("taxpayers", "obligations", "payments")
CITY_STORE = "city"


def gmina(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Run one `gmina` command; wall seconds and peak RSS in MiB of that process alone."""
    started = time.perf_counter()
    process = subprocess.Popen([*GMINA, *args], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"gmina {' '.join(args)} failed with {status}")
    return elapsed, usage.ru_maxrss // 1024


def store_env(url: str) -> dict[str, str]:
    """The environment of a `gmina` command on the store at `url`."""
    return {**os.environ, "GMINA__DATABASE__URL": url, "GMINA__LOGGING__LEVEL": "WARNING"}


def csv_city(taxpayers: int) -> Path:
    folder = DATA / f"city-{taxpayers}"
    if not (folder / "payments.csv").exists():
        folder.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "GMINA__DATABASE__URL": f"sqlite:///{DATA / 'scratch.db'}"}
        args = ["demo-data", "--taxpayers", str(taxpayers), "--seed", "1", "--csv-dir", str(folder)]
        gmina(args, env)
    return folder


def count_rows(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle) - 1


def store_url(engine_name: str, name: str) -> str:
    """The SQLite file bench/data/NAME.db, or the PostgreSQL database gmina_NAME."""
    if engine_name == "sqlite":
        return f"sqlite:///{DATA / f'{name}.db'}"
    admin_url = os.environ.get("GMINA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    return sync_url(admin_url).set(database=f"gmina_{name}").render_as_string(hide_password=False)


def fresh_store(engine_name: str, name: str = "bench") -> str:
    """An empty store (no tables yet) at `store_url(engine_name, name)`."""
    if engine_name == "sqlite":
        for leftover in DATA.glob(f"{name}.db*"):
            leftover.unlink()
        return store_url(engine_name, name)
    admin_url = os.environ.get("GMINA_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    admin = sa.create_engine(sync_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "gmina_{name}" WITH (FORCE)'))
        connection.execute(sa.text(f'CREATE DATABASE "gmina_{name}"'))
    admin.dispose()
    return store_url(engine_name, name)


def _marker(engine_name: str, name: str = CITY_STORE) -> Path:
    return DATA / f"{name}-{engine_name}.done"


def _taxpayer_count(url: str) -> int | None:
    """Taxpayers in the store, or None when there is no such store or table."""
    if url.startswith("sqlite") and not Path(sa.make_url(url).database or "").exists():
        return None
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM taxpayers")).scalar_one())
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def ensure_city(engine_name: str, taxpayers: int, name: str = CITY_STORE) -> str:
    """The URL of a migrated store holding the whole city, imported only when missing; `name`
    gives a benchmark that writes into the city a store of its own.

    A marker file written after the last import says the store is complete; the taxpayer count
    must also match, so a store dropped or rebuilt meanwhile is imported again.
    """
    url = store_url(engine_name, name)
    marker = _marker(engine_name, name)
    env = store_env(url)
    complete = marker.exists() and marker.read_text(encoding="utf-8").strip() == str(taxpayers)
    if complete and _taxpayer_count(url) == taxpayers:
        gmina(["db", "upgrade"], env)  # cheap when current; follows new migrations
        return url
    folder = csv_city(taxpayers)
    marker.unlink(missing_ok=True)
    print(f"  building the {taxpayers}-taxpayer city on {engine_name}", flush=True)
    url = fresh_store(engine_name, name)
    gmina(["db", "upgrade"], env)
    for kind in IMPORT_KINDS:
        seconds, _ = gmina(["import", kind, str(folder / f"{kind}.csv")], env)
        print(f"  import {kind}: {seconds:.1f} s", flush=True)
    if _taxpayer_count(url) != taxpayers:
        raise SystemExit(f"the {engine_name} city does not hold {taxpayers} taxpayers")
    marker.write_text(f"{taxpayers}\n", encoding="utf-8")
    return url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--taxpayers", type=int, default=150_000)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    for engine_name in args.engines.split(","):
        print(f"{engine_name}: {ensure_city(engine_name, args.taxpayers)}", flush=True)


if __name__ == "__main__":
    main()
