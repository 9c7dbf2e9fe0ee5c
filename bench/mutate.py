"""Mutation run: break each layer class's forward, receptive-field rule and weight rule (and its
weight roles, and a fused layer's in-place forward) in turn, and show that a named test fails.

``python bench/mutate.py`` (or ``make mutate``) runs tests/test_conformance.py once per mutation
in a fresh process (bench/mutate_plugin.py applies the mutation) and prints, per class and rule,
the first test that failed — or SURVIVED. Not part of ``make test``: ~130 runs take a few
minutes. Exits 1 if a forward, RF or weight mutation survives.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import save

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from layer_cases import CASES  # noqa: E402

import archcalc  # noqa: E402
from archcalc.layers import LAYER_CLASSES, POST_PROTOCOL, Layer  # noqa: E402

TESTS = ["tests/test_conformance.py"]
#: the rules every class must defend, and those shown for information
REQUIRED = ("forward", "rf", "tensors")
COLUMNS = ("forward", "rf", "tensors", "role", "forward_inplace")
_FAILED = re.compile(r"^FAILED (.+?)(?: - .*)?$", re.M)


def run(mutation: str | None) -> str:
    """The first failing test's id (``test_name[case]``), or SURVIVED."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    if mutation:
        env["ARCHCALC_MUTATION"] = mutation
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "mutate_plugin", "-x", "-q", "-p",
         "no:cacheprovider", "-o", "addopts=", *TESTS],
        cwd=ROOT, env=env, capture_output=True, text=True)
    found = _FAILED.search(out.stdout)
    if out.returncode == 0:
        return "SURVIVED"
    if found is None:
        return f"error (exit {out.returncode}): {out.stdout[-300:]}{out.stderr[-300:]}"
    return found.group(1).split("::", 1)[-1]


def mutations() -> list[tuple[str, str]]:
    """(class, rule) pairs; ``role`` only for classes whose cases have tensors,
    ``forward_inplace`` only for the fusable classes."""
    targets = [archcalc.to_graph(c.spec()).node(c.target) for c in CASES]
    with_tensors = {type(node.op) for node in targets if node.op.tensors(node.in_shapes)}
    out = []
    for cls in LAYER_CLASSES:
        for rule in COLUMNS:
            if rule == "role" and cls not in with_tensors:
                continue
            if rule in POST_PROTOCOL and getattr(cls, rule) is getattr(Layer, rule):
                continue
            out.append((cls.__name__, rule))
    return out


def main() -> int:
    start = time.perf_counter()
    baseline = run(None)
    if baseline != "SURVIVED":
        print(f"the unmutated tests fail: {baseline}")
        return 2
    todo = mutations()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(todo, pool.map(lambda m: run(f"{m[0]}.{m[1]}"), todo), strict=True))
    lines = ["| class | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for cls in LAYER_CLASSES:
        cells = [results.get((cls.__name__, rule), "–") for rule in COLUMNS]
        lines.append(f"| {cls.__name__} | " + " | ".join(f"`{c}`" if c not in ("–", "SURVIVED")
                                                         else c for c in cells) + " |")
    print("\n".join(lines))
    survived = [f"{c}.{r}" for (c, r), v in results.items() if v != "–" and v == "SURVIVED"]
    required = [m for m in survived if m.split(".")[1] in REQUIRED]
    print(f"\n{len(results)} mutations, {len(results) - len(survived)} caught, "
          f"survived: {', '.join(survived) or 'none'} ({time.perf_counter() - start:.0f} s)")
    save("mutate", {f"{c}.{r}": v for (c, r), v in results.items()})
    print(json.dumps({"required_survivors": required}))
    return 1 if required else 0


if __name__ == "__main__":
    sys.exit(main())
