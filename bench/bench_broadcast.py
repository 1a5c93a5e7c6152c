"""A broadcast of 100,000 into the outbox: `send_broadcast` from approval to the last batch.

    python -m bench.bench_broadcast [--engines sqlite,postgresql] [--taxpayers 100000]

Each engine gets a fresh store holding `--taxpayers` taxpayers, each with one consented address
(a third each on Telegram, SMS and e-mail; a tenth in English, a tenth in Ukrainian). A broadcast
to `all` with a Polish and an English text is approved and fanned out in the default batches;
the timings are the segment's read (recipients and their channels) and the whole fan-out. The
same fan-out again (every key queued already) shows what a restart costs. Goal: ≤ 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher

from bench.city import fresh_store
from bench.common import write_results
from kernel.clock import SystemClock
from notifier.broadcasts import BATCH_SIZE, send_broadcast
from storage.broadcasts import approve_broadcast, create_broadcast, segment_recipients, set_text
from storage.db import create_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.models import Contact, Taxpayer
from storage.outbox_models import OutboxMessage
from storage.segments import parse_segment
from storage.staff import Role, add_staff

GOAL_SECONDS = 10.0
CHANNELS = (("telegram", "telegram"), ("phone", "sms"), ("email", "email"))


def _city_rows(count: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    now = datetime.now(UTC)
    taxpayers = [
        {
            "id": n,
            "ref": f"B-{n:06d}",
            "last_name": f"Podatnik {n}",
            "district": f"Dzielnica {n % 11}",
            "street": f"Ulica {n % 97}",
            "language": "en" if n % 10 == 1 else "uk" if n % 10 == 2 else "pl",
            "row_hash": "bench",
        }
        for n in range(1, count + 1)
    ]
    contacts = []
    for n in range(1, count + 1):
        kind, _ = CHANNELS[n % 3]
        value = {"telegram": str(10_000_000 + n), "phone": f"+48600{n:06d}"}.get(
            kind, f"p{n}@example.org"
        )
        contacts.append(
            {
                "taxpayer_id": n,
                "kind": kind,
                "value": value,
                "source": "import",
                "notify_consent": True,
                "consent_source": "import",
                "consent_at": now,
                "created_at": now,
            }
        )
    return taxpayers, contacts


async def _measure(url: str, taxpayers: int) -> dict[str, Any]:
    engine = create_engine(url)
    sessions = make_sessionmaker(engine)
    clock = SystemClock()
    now = clock.now()
    taxpayer_rows, contact_rows = _city_rows(taxpayers)
    async with sessions() as session:
        for start in range(0, taxpayers, 10_000):
            await session.execute(sa.insert(Taxpayer), taxpayer_rows[start : start + 10_000])
            await session.execute(sa.insert(Contact), contact_rows[start : start + 10_000])
        quick = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        for name, role in (("autor", Role.CLERK), ("zatwierdza", Role.APPROVER)):
            await add_staff(session, name, role, "bench password 1234", actor="bench", now=now,
                            hasher=quick)  # fmt: skip
        made = await create_broadcast(
            session, "all", "pl", "Komunikat miasta: jutro przerwa w dostawie wody.",
            staff="autor", now=now,
        )  # fmt: skip
        await set_text(session, made.id, "en", "City notice: no water tomorrow.", staff="autor",
                       now=now)  # fmt: skip
        await approve_broadcast(session, made.id, staff="zatwierdza", now=now)
        await session.commit()
        if url.startswith("postgresql"):
            await session.execute(sa.text("ANALYZE"))
            await session.commit()

    async with sessions() as session:
        started = time.perf_counter()
        recipients = await segment_recipients(session, parse_segment("all"), now.date())
        segment_seconds = time.perf_counter() - started

    started = time.perf_counter()
    result = await send_broadcast(sessions, made.id, staff=None, clock=clock, quiet_hours=None)
    fan_out_seconds = time.perf_counter() - started
    async with sessions() as session:
        queued = await session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage))
        # The same fan-out once more, as after a crash: every key is there already.
        await session.execute(
            sa.text("UPDATE broadcasts SET status = 'sending' WHERE id = :id"), {"id": made.id}
        )
        await session.commit()
    started = time.perf_counter()
    again = await send_broadcast(sessions, made.id, staff=None, clock=clock, quiet_hours=None)
    again_seconds = time.perf_counter() - started
    await engine.dispose()
    return {
        "taxpayers": taxpayers,
        "recipients": len(recipients),
        "queued": queued,
        "batch_size": BATCH_SIZE,
        "segment_read_s": round(segment_seconds, 2),
        "fan_out_s": round(fan_out_seconds, 2),
        "messages_per_s": round(result.newly_queued / fan_out_seconds),
        "rerun_s": round(again_seconds, 2),
        "rerun_newly_queued": again.newly_queued,
        "goal_s": GOAL_SECONDS,
        "met": fan_out_seconds <= GOAL_SECONDS and queued == taxpayers,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--taxpayers", type=int, default=100_000)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    for engine_name in args.engines.split(","):
        url = fresh_store(engine_name, "broadcast")
        upgrade(url)
        results[engine_name] = asyncio.run(_measure(url, args.taxpayers))
        print(engine_name, results[engine_name], flush=True)
    write_results("broadcast", {"engines": results})


if __name__ == "__main__":
    main()
