"""`gmina run --workers N`: processes sharing one port and one store, stopped together."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import sqlalchemy as sa

from storage.conversation_models import Conversation
from storage.db import sync_url
from storage.migrate import upgrade
from tests.conftest import Store

GMINA = str(Path(sys.executable).with_name("gmina"))
START_LIMIT_S = 60.0
WORKERS = 2


def _new_store(folder: Path) -> str:
    url = f"sqlite:///{folder / 'gmina.db'}"
    upgrade(url)
    return url


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(url: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = _free_port()
    env = {**os.environ, "GMINA__DATABASE__URL": url, "GMINA__LOGGING__LEVEL": "WARNING"}
    server = subprocess.Popen(
        [GMINA, "run", "--workers", str(WORKERS), "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_LIMIT_S
    while len(_serving(server)) < WORKERS:
        assert server.poll() is None, "gmina run ended during start-up"
        assert time.monotonic() < deadline, "the workers did not start listening"
        time.sleep(0.2)
    try:
        yield server, base
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _serving(server: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """The workers listening already."""
    children = psutil.Process(server.pid).children()
    return [
        child
        for child in children
        if any(c.status == psutil.CONN_LISTEN for c in child.net_connections(kind="tcp"))
    ]


def test_workers_share_the_port_and_one_conversation(store: Store) -> None:
    sender = "web-" + "a1" * 16
    texts = [f"pomoc {n}" for n in range(12)]
    # `serving` has seen both workers listen on the one port before the first message.
    with serving(store.url) as (server, base):
        for text in texts:
            # A new connection each time: the kernel spreads connections over the workers.
            request = urllib.request.Request(
                f"{base}/webhooks/rest/webhook",
                data=json.dumps({"sender": sender, "message": text}).encode(),
                headers={"Content-Type": "application/json", "Connection": "close"},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.status == 200
                assert json.load(answer), text
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    engine = sa.create_engine(sync_url(store.url))
    with engine.connect() as connection:
        state = connection.execute(
            sa.select(Conversation.state).where(Conversation.sender_id == sender)
        ).scalar_one()
    engine.dispose()
    said = [event["text"] for event in state["events"] if event["event"] == "user"]
    assert said == texts


def test_workers_stop_when_the_parent_is_killed(tmp_path: Path) -> None:
    with serving(_new_store(tmp_path)) as (server, _):
        workers = _serving(server)
        server.kill()
        server.wait()
        _, alive = psutil.wait_procs(workers, timeout=30)
        assert not alive


def test_a_worker_that_dies_stops_the_service(tmp_path: Path) -> None:
    # The store is not touched: a new SQLite file will do, on one engine only.
    with serving(_new_store(tmp_path)) as (server, _):
        first, second = _serving(server)
        first.kill()
        assert server.wait(timeout=30) == 128 + signal.SIGKILL
        assert not second.is_running() or second.status() == psutil.STATUS_ZOMBIE
