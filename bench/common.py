"""Small timing helpers shared by the benchmarks (no timed assertions anywhere: numbers only)."""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def as_the_cli() -> None:
    """Run this benchmark process under the `archcalc` command's collector policy: its `main`
    disables the cyclic garbage collector for its one command (what a command builds lives
    until exit, so collections would reclaim nothing). The library leaves the collector to its
    caller; `bench/scaling.py` also measures one size with the collector on."""
    gc.disable()


def best_of(fn: Callable[[], object], repeat: int = 5) -> tuple[float, float]:
    """(minimum, median) wall seconds over ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def save(name: str, data: Any) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join(out)
