"""E-mail dispatch to a local SMTP server, beside a raw aiosmtplib loop to the same server.

    python -m bench.bench_email [--engines sqlite,postgresql] [--messages 3000]

The server (tests/peers/smtp.py: aiosmtpd with STARTTLS on a certificate of a test CA, and AUTH)
runs in a process of its own. Each engine gets a fresh store; `--messages` reminders to as many
addresses are queued, then one dispatcher (limits off, the default batch and concurrency) sends
them through the e-mail sender (`email.connections` kept-open connections). The raw loop sends
the same number of prebuilt messages over as many connections with aiosmtplib's `sendmail`,
connected, upgraded and logged in once: the ceiling this machine and server allow. The time to
compose one message (templates, headers, MIME) is measured on its own too.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib

from bench.city import fresh_store
from bench.common import latency_summary_ms, write_results
from kernel.clock import SystemClock
from kernel.settings import OutboxSettings, Settings
from notifier.dispatcher import Dispatcher
from notifier.email_content import wire_bytes
from notifier.senders.email import build_email_sender, tls_context
from storage.db import create_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.outbox import Category, Claimed, NewMessage, enqueue
from tests.peers.smtp import PASSWORD, USERNAME, start_smtp

FROM = "powiadomienia@rudaslaska.example"
TEXT = (
    "Przypominamy o racie podatku od nieruchomości: 1 234,56 zł do 15 marca 2027.\n"
    "Konto: 22 1050 1214 1000 0000 1234 5678"
)


def _serve_peer(folder: str, port_queue: Any, stop: Any) -> None:
    async def main() -> None:
        server = await start_smtp(Path(folder))
        port_queue.put((server.port, str(server.ca_file)))
        while not stop.is_set():
            await asyncio.sleep(0.2)
            server.peer.received.clear()  # keep the peer's memory flat
        await server.close()

    asyncio.run(main())


class PeerProcess:
    def __enter__(self) -> PeerProcess:
        context = multiprocessing.get_context("spawn")
        self.folder = tempfile.TemporaryDirectory(prefix="bench-smtp-")
        ports, self.stop = context.Queue(), context.Event()
        arguments = (self.folder.name, ports, self.stop)
        self.process = context.Process(target=_serve_peer, args=arguments)
        self.process.start()
        self.port, self.ca_file = ports.get(timeout=30)
        return self

    def settings(self) -> Settings:
        return Settings.model_validate(
            {
                "email": {
                    "smtp_host": "127.0.0.1",
                    "smtp_port": self.port,
                    "from_address": FROM,
                    "username": USERNAME,
                    "password": PASSWORD,
                    "ca_file": self.ca_file,
                    "unsubscribe_secret": "bench",
                },
                "web": {"public_base_url": "https://gmina.example"},
            }
        )

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.process.join(timeout=30)
        self.folder.cleanup()


def _address(n: int) -> str:
    return f"resident{n}@example.org"


async def _dispatch(url: str, settings: Settings, count: int) -> float:
    engine = create_engine(url)
    sessions = make_sessionmaker(engine)
    prefix = f"m{time.monotonic_ns()}"
    messages = [
        NewMessage(f"{prefix}-{n}", "email", _address(n), Category.REMINDER, TEXT)
        for n in range(count)
    ]
    async with sessions() as session:
        for start in range(0, count, 5000):
            await enqueue(session, messages[start : start + 5000], datetime.now(UTC))
        await session.commit()
    sender = build_email_sender(settings, SystemClock())
    dispatcher = Dispatcher(sessions, {"email": sender}, SystemClock(), OutboxSettings())
    started = time.perf_counter()
    handled = await dispatcher.run_until_idle()
    elapsed = time.perf_counter() - started
    await sender.close()
    await engine.dispose()
    assert handled == count, (handled, count)
    return elapsed


def _claimed(n: int) -> Claimed:
    now = datetime.now(UTC)
    content = {"text": TEXT, "buttons": [], "image": None}
    return Claimed(n, f"raw-{n}", "email", _address(n), "reminder", 5, "pl", content, 1, now)


async def _raw_loop(settings: Settings, count: int) -> float:
    """aiosmtplib alone: the same messages, prebuilt, over `email.connections` connections."""
    email = settings.email
    composer = build_email_sender(settings, SystemClock()).composer
    data = [wire_bytes(composer.compose(_claimed(n))) for n in range(count)]
    clients = [
        aiosmtplib.SMTP(
            hostname=email.smtp_host,
            port=email.smtp_port,
            username=email.username,
            password=email.password,
            start_tls=True,
            tls_context=tls_context(email),
        )
        for _ in range(email.connections)
    ]
    for client in clients:
        await client.connect()

    async def one_connection(index: int) -> None:
        client = clients[index]
        for n in range(index, count, len(clients)):
            await client.sendmail(FROM, [_address(n)], data[n])

    started = time.perf_counter()
    await asyncio.gather(*(one_connection(i) for i in range(len(clients))))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.quit()
    return elapsed


def _compose_times(settings: Settings, count: int) -> list[float]:
    composer = build_email_sender(settings, SystemClock()).composer
    times = []
    for n in range(count):
        started = time.perf_counter()
        wire_bytes(composer.compose(_claimed(n)))
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    results: dict[str, Any] = {"messages": args.messages}
    with PeerProcess() as peer:
        settings = peer.settings()
        results["connections"] = settings.email.connections
        results["compose_one_message"] = latency_summary_ms(_compose_times(settings, 500))
        for engine_name in args.engines.split(","):
            url = fresh_store(engine_name, "email")
            upgrade(url)
            raw = asyncio.run(_raw_loop(settings, args.messages))
            dispatched = asyncio.run(_dispatch(url, settings, args.messages))
            results[engine_name] = {
                "dispatch_messages_per_s": round(args.messages / dispatched, 1),
                "raw_aiosmtplib_messages_per_s": round(args.messages / raw, 1),
                "dispatch_to_raw_ratio": round(raw / dispatched, 3),
            }
            print(engine_name, results[engine_name], flush=True)
    results["note"] = (
        "the SMTP server shares the machine's two cores with the client; both sides speak "
        "STARTTLS and AUTH; the dispatcher's own limit (email.rate_per_second) is off here"
    )
    write_results("email", results)


if __name__ == "__main__":
    main()
