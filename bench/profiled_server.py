"""`gmina run` with cProfile and a garbage-collection timer on its main thread, SIGUSR1 to SIGUSR2.

SIGUSR2 writes the profile to PROFILE and the collections (count and seconds per generation, and
the objects the collector tracked when the window opened) to PROFILE with the suffix `.gc.json`.

    python -m bench.profiled_server PROFILE run [--host H] [--port P]
"""

from __future__ import annotations

import cProfile
import gc
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bot.cli import main as gmina


class Window:
    def __init__(self, output: Path) -> None:
        self.output = output
        self.profiler = cProfile.Profile()
        self.counts = [0, 0, 0]
        self.seconds = [0.0, 0.0, 0.0]
        self.tracked = 0
        self._collecting_since: float | None = None

    def collecting(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._collecting_since = time.perf_counter()
        elif self._collecting_since is not None:
            generation = info["generation"]
            self.counts[generation] += 1
            self.seconds[generation] += time.perf_counter() - self._collecting_since
            self._collecting_since = None

    def open(self, *_: object) -> None:
        self.tracked = len(gc.get_objects())
        gc.callbacks.append(self.collecting)
        self.profiler.enable()

    def close(self, *_: object) -> None:
        self.profiler.disable()
        gc.callbacks.remove(self.collecting)
        self.profiler.dump_stats(self.output)
        collections = {
            "tracked_objects_at_start": self.tracked,
            "collections_by_generation": self.counts,
            "seconds_by_generation": [round(s, 4) for s in self.seconds],
        }
        self.output.with_suffix(".gc.json").write_text(json.dumps(collections), encoding="utf-8")


def main() -> None:
    window = Window(Path(sys.argv[1]))
    signal.signal(signal.SIGUSR1, window.open)
    signal.signal(signal.SIGUSR2, window.close)
    gmina(sys.argv[2:], standalone_mode=False)


if __name__ == "__main__":
    main()
