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


def run_torch(script: str, job: Any, python: str | None) -> Any:
    """Run a self-contained PyTorch timing ``script`` (reading ``job`` as JSON on stdin,
    printing JSON) under ``python`` — an interpreter with torch, or this one when it can import
    torch — and return what it printed; None when torch is not available or the script fails
    (the caller then leaves its torch columns out)."""
    import importlib.util
    import subprocess
    import sys

    if python is None:
        if importlib.util.find_spec("torch") is None:
            return None
        python = sys.executable
    done = subprocess.run([python, "-c", script], input=json.dumps(job), text=True,
                          capture_output=True, check=False)
    if done.returncode != 0:
        print(f"torch timing failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(done.stdout)


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
