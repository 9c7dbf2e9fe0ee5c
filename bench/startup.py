"""Cold start: `archcalc table alexnet` in a fresh process — wall time and peak memory.

Target (issue 8): <= 0.15 s wall and <= 30 MiB peak RSS. Also reports which heavy modules were
imported (numpy must not be) and the import time of yaml + rich + click for comparison.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from common import save, table

ROOT = Path(__file__).resolve().parent.parent
EXE = [sys.executable, "-m", "archcalc"]


# A user's install has bytecode caches; this machine sets PYTHONDONTWRITEBYTECODE=1, which would
# make every run recompile archcalc from source (~35 ms more). Compile once, run without it.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["COLUMNS"] = "160"


def precompile() -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "archcalc")],
                   check=True, stdout=subprocess.DEVNULL, env=ENV)


def run_once(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB of the child) for one cold run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, cwd=ROOT, env=ENV)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(after, before) / 1024


def measure(args: list[str], repeat: int = 10) -> dict[str, float]:
    walls, rss = [], []
    for _ in range(repeat):
        w, r = run_once(args)
        walls.append(w)
        rss.append(r)
    walls.sort()
    return {"min_s": walls[0], "median_s": walls[len(walls) // 2], "peak_rss_mib": max(rss)}


def imported_modules() -> list[str]:
    code = ("import sys, runpy; sys.argv=['archcalc','table','alexnet'];"
            "import io, contextlib\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        runpy.run_module('archcalc', run_name='__main__')\n"
            "    except SystemExit: pass\n"
            "print(' '.join(sorted(m for m in sys.modules if '.' not in m)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=ENV)
    return out.stdout.split()


def main() -> dict[str, object]:
    precompile()
    results: dict[str, object] = {
        "python -c pass": measure([sys.executable, "-c", "pass"]),
        "import yaml+rich+click": measure(
            [sys.executable, "-c", "import yaml, rich.console, rich.table, click"]),
        "archcalc table alexnet": measure([*EXE, "table", "alexnet"]),
        "archcalc table resnet50": measure([*EXE, "table", "resnet50"]),
    }
    mods = imported_modules()
    results["numpy imported by table"] = "numpy" in mods
    rows = [[k, f"{v['min_s'] * 1000:.0f}", f"{v['median_s'] * 1000:.0f}",
             f"{v['peak_rss_mib']:.1f}"] for k, v in results.items() if isinstance(v, dict)]
    print("cold start (ms, MiB)")
    print(table(["command", "min ms", "median ms", "peak RSS MiB"], rows))
    print(f"numpy imported by `table`: {results['numpy imported by table']}")
    save("startup", results)
    return results


if __name__ == "__main__":
    main()
