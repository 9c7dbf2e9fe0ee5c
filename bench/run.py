"""`make bench`: every benchmark, results as JSON in bench/results/ and tables on stdout."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

BENCHES = ["startup", "analysis", "training", "scaling", "output", "peers", "executor", "backward",
           "verify", "bridges"]


def main() -> None:
    for name in BENCHES:
        if not (HERE / f"{name}.py").exists():
            print(f"[{name}] not present, skipped\n")
            continue
        start = time.perf_counter()
        print(f"== {name} ==")
        importlib.import_module(name).main()
        print(f"[{name}] {time.perf_counter() - start:.1f} s\n")


if __name__ == "__main__":
    main()
