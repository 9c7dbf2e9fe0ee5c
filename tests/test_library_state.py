"""The library keeps no global mutable state: the garbage collector's policy is its caller's,
caches live for one build, layers are values nothing writes to.

The collector used to be paused inside `build`/`analyze`/`parse_yaml`; its check-then-disable
was racy (with a 1 µs switch interval, 8 threads left the collector off in 13 of 40 rounds).
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

import archcalc
from archcalc.explain import explain


@pytest.fixture
def collector_untouchable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any call that changes the collector's state fails the test."""
    def refuse(*args: Any) -> None:
        raise AssertionError("the library changed the garbage collector's state")

    for name in ("disable", "enable", "freeze", "unfreeze", "set_threshold"):
        monkeypatch.setattr(gc, name, refuse)
    yield


def test_the_library_never_touches_the_collector(collector_untouchable: None) -> None:
    text = ("archcalc: 1\nname: t\ninput: [3, 16, 16]\nlayers:\n"
            + "  - conv: {out: 4, k: 3, p: 1, act: relu}\n" * 50)
    for spec in ("resnet50", "efficientnet_b0", text):
        report = archcalc.analyze(spec, batch=2)
        report.to_dict()
    graph = archcalc.to_graph("alexnet")
    explain(graph, "conv1")
    archcalc.load_spec(text)


@pytest.mark.parametrize("enabled", [True, False])
def test_eight_threads_leave_the_collector_as_the_caller_left_it(enabled: bool) -> None:
    """The issue's reproducer: 8 threads analysing at once, a 1 µs switch interval, 40 rounds;
    the collector must end as the caller set it (each round, and both ways)."""
    was_enabled, interval = gc.isenabled(), sys.getswitchinterval()
    spec = archcalc.load_spec("resnet18")
    try:
        (gc.enable if enabled else gc.disable)()
        sys.setswitchinterval(1e-6)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                archcalc.analyze(spec)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        for _ in range(40):
            threads = [threading.Thread(target=work) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert not errors
            assert gc.isenabled() is enabled
    finally:
        sys.setswitchinterval(interval)
        (gc.enable if was_enabled else gc.disable)()


def test_the_command_runs_without_the_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    """The policy lives in the CLI process: `archcalc`'s main disables it for its one command."""
    import archcalc.cli as cli

    calls: list[str] = []
    monkeypatch.setattr(gc, "disable", lambda: calls.append("disable"))
    monkeypatch.setattr(cli, "cli", lambda **kw: calls.append("cli"))
    cli.main()
    assert calls == ["disable", "cli"]


def test_layer_instances_are_shared_within_a_build_only() -> None:
    """Equal layers are one instance per build (the engine memoises by identity); no cache
    outlives a build, so two builds share nothing."""
    first, second = archcalc.to_graph("resnet50"), archcalc.to_graph("resnet50")
    ops = {}
    for node in first.nodes:
        ops.setdefault(node.op, node.op)
        assert ops[node.op] is node.op  # equal → the same object
    assert not {id(n.op) for n in first.nodes} & {id(n.op) for n in second.nodes}


def test_nothing_is_written_onto_layers() -> None:
    """Layers are immutable values: analysing and explaining a graph adds no attribute (no
    memo) to any of them, and assigning one is refused."""
    import dataclasses

    graph = archcalc.to_graph("googlenet")
    archcalc.analyze(graph, convention="full")
    for node in graph.nodes[:40]:
        explain(graph, node.name)
    for node in graph.nodes:
        for layer in node.layers:
            names = {f.name for f in dataclasses.fields(layer)}  # type: ignore[arg-type]
            assert set(vars(layer)) == names, (node.name, set(vars(layer)) - names)
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.nodes[0].op._memo = {}  # type: ignore[attr-defined]
