"""Pause CPython's cyclic garbage collector while a large structure is built.

Parsing, building and costing allocate many small objects that form no reference cycles
(reference counting frees them). With the collector on, each generation-2 pass rescans the whole
growing heap, which made a 10,000-layer spec ~30x slower to parse than a 1,000-layer one
(bench/scaling.py). Pausing it keeps the work linear; the previous state is restored on exit.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
