"""The crosscheck's mutation run: break each layer class's PyTorch rule (`to_torch`) in turn and
show whether `verify --against torch` catches it (`make crosscheck` runs it after the table).

Mutations, one per class: the first integer argument of the module + 1 (a channel count, a
kernel size, a stride, …); a module without one becomes `nn.Identity()`; a merge passes its
first input on. A mutation is caught when a row or the totals disagree (or the forward fails,
which is reported at its row). verify compares shapes, parameters, buffers and MACs, and the
values of every row's output with the NumPy executor's on the same weights and input: a
mutation that changes no count (an activation replaced by the identity, a merge that passes
one input on, LRN's window) changes the values. Two classes are the identity in eval mode by
construction — ``identity`` (``nn.Identity``) and ``dropout`` (``nn.Dropout`` is the identity
in eval mode, as the executor's inference forward is): replacing them by ``nn.Identity``
changes nothing PyTorch computes, so no check can catch it; the table says so apart from a
miss.

Each class is tried on its conformance cases (tests/layer_cases.py) and the smallest bundled
spec that uses it, until one catches the mutation. Needs torch (the crosscheck environment).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from archcalc import bundled_names, load_spec, to_graph
from archcalc.errors import ArchcalcError
from archcalc.layers.registry import LAYER_CLASSES
from archcalc.torch_check import check_against_torch
from archcalc.torch_code import TorchCall, TorchMerge, call

#: modules that are the identity in eval mode: `→ nn.Identity()` changes nothing they compute
EVAL_IDENTITY = frozenset({"nn.Identity", "nn.Dropout"})


def mutate(found: Any) -> tuple[Any, str]:
    """The broken module and what was broken."""
    if isinstance(found, TorchMerge):
        return TorchMerge(lambda names: names[0]), "merge → its first input"
    args = list(found.args)
    for i, (name, value) in enumerate(args):
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            args[i] = (name, value + 1)
            return found._replace(args=tuple(args)), f"{found.fn} {name} {value} → {value + 1}"
        if isinstance(value, TorchCall):
            inner, what = mutate(value)
            if not what.endswith("nn.Identity()"):
                args[i] = (name, inner)
                return found._replace(args=tuple(args)), what
    return call("nn.Identity"), f"{found.fn} → nn.Identity()"


def candidates() -> dict[type, list[tuple[str, Any]]]:
    """Each class → the specs tried on it: the conformance cases of the class
    (tests/layer_cases.py, one small spec each), then the bundled spec with the fewest rows
    that uses it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from layer_cases import CASES

    found: dict[type, list[tuple[str, Any]]] = {}
    for case in CASES:
        spec = case.spec()
        op = type(to_graph(spec).node(case.target).op)
        found.setdefault(op, []).append((f"case {case.target} of {op.__name__}", spec))
    sizes: list[tuple[int, str, set[type]]] = []
    for name in bundled_names():
        graph = to_graph(load_spec(name))
        sizes.append((len(graph.nodes), name, {type(layer) for node in graph.nodes
                                               for layer in node.layers}))
    seen: set[type] = set()
    for _, name, kinds in sorted(sizes, key=lambda t: t[:2]):
        for cls in kinds - seen:
            found.setdefault(cls, []).append((name, load_spec(name)))
        seen |= kinds
    return found


def main() -> int:
    import torch

    torch.set_num_threads(2)
    started = time.perf_counter()
    tried = candidates()
    print("| class | mutation | caught on | by |")
    print("|---|---|---|---|")
    caught = 0
    identities: list[str] = []
    missed: list[str] = []
    for cls in LAYER_CLASSES:
        original = cls.to_torch
        log: list[str] = []

        def broken(self: Any, ins: Any, out: Any, original: Any = original,
                   cls: type = cls, log: list[str] = log) -> Any:
            found = original(self, ins, out)
            if type(self) is not cls:
                return found
            mutated, what = mutate(found)
            log.append(what)
            return mutated

        cls.to_torch = broken  # type: ignore[method-assign]
        verdict, where = "", ""
        try:
            for name, spec in tried.get(cls, []):
                where = name
                log.clear()
                try:
                    result = check_against_torch(to_graph(spec))
                except ArchcalcError as exc:
                    verdict = f"refused: {exc.what}"
                else:
                    bad = result.failures
                    verdict = f"{bad[0].name}: {bad[0].problems[0]}" if bad else (
                        "" if result.ok else "the totals")
                if verdict:
                    break
        finally:
            cls.to_torch = original  # type: ignore[method-assign]
        what = log[0] if log else "(not exported)"
        if verdict:
            caught += 1
        elif what.split(" → ")[0] in EVAL_IDENTITY:
            identities.append(cls.__name__)
            where = f"not caught on {len(tried.get(cls, []))} specs"
            verdict = "the identity in eval mode by construction: nothing changes"
        else:
            missed.append(cls.__name__)
            where = f"not caught on {len(tried.get(cls, []))} specs"
            verdict = "MISSED: no count and no value changes"
        print(f"| {cls.__name__} | {what} | {where} | {verdict[:80]} |", flush=True)
    total = caught + len(identities) + len(missed)
    print(f"\n{caught} of {total} mutations caught; {len(identities)} are the identity in eval "
          f"mode by construction ({', '.join(identities) or 'none'}); {len(missed)} missed"
          f"{' (' + ', '.join(missed) + ')' if missed else ''} "
          f"({time.perf_counter() - started:.0f} s).")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
