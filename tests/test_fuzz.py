"""Property-based robustness tests (issue 7).

* Random valid specs (sequential and branching, every layer family, random arguments — see
  :mod:`strategies`) always analyse; the output shape equals the one tracked with the textbook
  formulas while generating; column sums equal totals.
* The NumPy executor (``archcalc.execute``) runs every random valid spec and its activation
  shapes equal the engine's, node by node (it also raises if parameter or MAC counts differ).
* Random mutations of valid specs and of every bundled spec either analyse or raise
  :class:`ArchcalcError` with a location (``<text>:line:col``), a hint, and a message starting
  with that location — never any other exception. The CLI turns them into exit code 1 with
  nothing on stdout.

Normal mode runs about 200 examples in a few seconds. ``make fuzz`` (``pytest -m slow
tests/test_fuzz.py``) runs the long version — more than 10,000 mutated specs — and prints the
number of cases and of distinct error-message shapes (numbers and quoted names normalised).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import Generated, mutated, valid_specs

import archcalc
from archcalc.cli import cli
from archcalc.errors import ArchcalcError
from archcalc.shapes import adaptive_window_max, adaptive_window_total, adaptive_windows
from archcalc.spec import specs_dirs

FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
#: the long run explores new examples every time (a failure prints its reproduction)
SLOW = settings(FAST, derandomize=False)


def bundled_texts() -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for d in specs_dirs():
        for path in sorted(d.glob("*.yaml")):
            seen.setdefault(path.stem, path.read_text(encoding="utf-8"))
    return sorted(seen.items())


BUNDLED = bundled_texts()


class Log:
    """Cases run and distinct error-message shapes seen (for the closing summary)."""

    def __init__(self) -> None:
        self.cases = 0
        self.analysed = 0
        self.shapes: Counter[str] = Counter()

    def record(self, what: str | None) -> None:
        self.cases += 1
        if what is None:
            self.analysed += 1
        else:
            self.shapes[message_shape(what)] += 1


def message_shape(what: str) -> str:
    """Normalise an error message to its shape: quoted words, lists and numbers replaced."""
    what = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", what)
    what = re.sub(r"\[[^\]]*\]", "[…]", what)
    return re.sub(r"-?\d+(\.\d+)?(e[+-]?\d+)?", "N", what)


def outcome(text: str) -> str | None:
    """Analyse ``text``: None on success, else the error's ``what`` — after checking the error is
    one of archcalc's, located in ``<text>`` (with a line, except for binary input), with a hint,
    rendered as ``<text>:line:col: error: …``. Any other exception propagates (a failure)."""
    if "\n" not in text:
        text += "\n"  # a one-line string would be taken for a file or bundled name
    try:
        report = archcalc.analyze(archcalc.load_spec(text))
    except ArchcalcError as err:
        assert err.loc is not None and err.loc.file == "<text>", str(err)
        assert err.loc.line >= 1 or "binary" in err.what, str(err)
        assert err.hint, f"no hint: {err}"
        assert str(err).startswith(f"{err.loc}: {err.kind}: "), str(err)
        return err.what
    totals = report.totals
    assert sum(row.params for row in report.layers) == totals.params
    assert sum(row.macs for row in report.layers) == totals.macs
    return None


# ---------------------------------------------------------------------------- valid specs --


def check_valid(gen: Generated) -> archcalc.Report:
    report = archcalc.analyze(archcalc.load_spec(gen.text()))
    assert tuple(report.layer(report.output).output_shape) == gen.out_shape, gen.text()
    for name, shape in gen.named.items():
        assert tuple(report.layer(name).output_shape) == shape, (name, gen.text())
    totals = report.totals
    assert sum(row.params for row in report.layers) == totals.params
    assert sum(row.macs for row in report.layers) == totals.macs
    assert sum(row.flops for row in report.layers) == totals.flops
    return report


@FAST
@given(valid_specs())
def test_random_valid_specs_analyse(gen: Generated) -> None:
    check_valid(gen)


def check_executor(gen: Generated) -> None:
    """Run the NumPy executor on the spec: every node runs, and the shape NumPy produced, the
    tensors it allocated and the MACs it performed equal the engine's. (``archcalc.execute(...)``
    would also refuse non-finite outputs, which PyTorch produces too when a max-pooling window
    lies entirely in the padding — a valid spec, so ``run`` is used and finiteness not asked.)"""
    import archcalc.execute  # the NumPy executor

    graph = archcalc.build(archcalc.load_spec(gen.text()))
    with np.errstate(all="ignore"):  # -inf from such windows flows into later layers
        result = archcalc.execute.run(graph, keep="all")
    assert len(result.steps) == result.planned == len(graph.nodes), gen.text()
    for node, step in zip(graph.nodes, result.steps, strict=True):
        assert step.error is None, (step.error, gen.text())
        assert step.actual_shape == node.out_shape == step.predicted_shape, (node.name, gen.text())
        assert tuple(result.activations[node.name].shape[1:]) == node.out_shape
        assert (step.params_created, step.buffers_created) == (step.params, step.buffers)
        assert step.macs_counted == step.macs, (node.name, gen.text())


@settings(FAST, max_examples=40)
@given(valid_specs())
def test_executor_shapes_equal_engine_shapes(gen: Generated) -> None:
    check_executor(gen)


# ------------------------------------------------------------------------------ mutations --


@settings(FAST, max_examples=70)
@given(st.data())
def test_mutated_random_specs_fail_cleanly(data: st.DataObject) -> None:
    gen = data.draw(valid_specs())
    outcome(data.draw(mutated(gen.text())))


@settings(FAST, max_examples=30)
@given(st.sampled_from(BUNDLED), st.data())
def test_mutated_bundled_specs_fail_cleanly(named: tuple[str, str], data: st.DataObject) -> None:
    outcome(data.draw(mutated(named[1])))


def test_every_bundled_spec_analyses() -> None:
    for name, text in BUNDLED:
        assert outcome(text) is None, name


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "spec.yaml"


@settings(FAST, max_examples=20)
@given(st.data())
def test_cli_on_mutated_specs(spec_file: Path, data: st.DataObject) -> None:
    """Through the CLI: exit 0 with output, or exit 1 with one located message on stderr and
    nothing on stdout — never a traceback or an internal error (exit 3)."""
    gen = data.draw(valid_specs(max_layers=4))
    spec_file.write_text(data.draw(mutated(gen.text())), encoding="utf-8")
    res = CliRunner().invoke(cli, ["table", str(spec_file), "-f", "csv"])
    assert res.exit_code in (0, 1), res.output
    if res.exit_code == 1:
        assert res.stdout == ""
        assert res.stderr.startswith(f"{spec_file}"), res.stderr
        assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    else:
        assert res.stdout.splitlines()[1].startswith("name,type,")  # after the # header


@given(st.integers(1, 300), st.integers(1, 300))
@settings(max_examples=100, deadline=None, derandomize=True, database=None)
def test_adaptive_window_closed_forms(n: int, out: int) -> None:
    """The O(1) sums used by adaptive pooling equal the explicit PyTorch windows."""
    windows = adaptive_windows(n, out)
    assert adaptive_window_total(n, out) == sum(hi - lo for lo, hi in windows)
    assert adaptive_window_max(n, out) == max(hi - lo for lo, hi in windows)


# --------------------------------------------------------------------- slow: `make fuzz` --

SLOW_VALID = 1_000
SLOW_EXECUTOR = 500
SLOW_RANDOM_MUTATIONS = 6_000
SLOW_BUNDLED_MUTATIONS = 5_000


@pytest.fixture(scope="module")
def fuzz_log(request: pytest.FixtureRequest) -> Iterator[Log]:
    log = Log()
    started = time.perf_counter()
    yield log
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not log.cases:
        return
    seconds = time.perf_counter() - started
    with capture.global_and_fixture_disabled():  # shown on the terminal, not captured
        reporter.write_line("")
        reporter.write_line(
            f"fuzz: {log.cases:,} mutated specs in {seconds:.0f} s: {log.analysed:,} still "
            f"analyse, {log.cases - log.analysed:,} refused with {len(log.shapes)} distinct "
            "error-message shapes; 0 other exceptions")
        for shape, count in log.shapes.most_common():
            reporter.write_line(f"  {count:6,}  {shape[:140]}")


@pytest.mark.slow
@settings(SLOW, max_examples=SLOW_VALID)
@given(valid_specs(max_layers=8))
def test_slow_random_valid_specs_analyse(gen: Generated) -> None:
    check_valid(gen)


@pytest.mark.slow
@settings(SLOW, max_examples=SLOW_EXECUTOR)
@given(valid_specs())
def test_slow_executor_shapes_equal_engine_shapes(gen: Generated) -> None:
    check_executor(gen)


@pytest.mark.slow
def test_slow_mutated_random_specs(fuzz_log: Log) -> None:
    before = fuzz_log.cases

    @settings(SLOW, max_examples=SLOW_RANDOM_MUTATIONS)
    @given(st.data())
    def run(data: st.DataObject) -> None:
        gen = data.draw(valid_specs())
        fuzz_log.record(outcome(data.draw(mutated(gen.text()))))

    run()
    assert fuzz_log.cases - before >= SLOW_RANDOM_MUTATIONS


@pytest.mark.slow
def test_slow_mutated_bundled_specs(fuzz_log: Log) -> None:
    before = fuzz_log.cases

    @settings(SLOW, max_examples=SLOW_BUNDLED_MUTATIONS)
    @given(st.sampled_from(BUNDLED), st.data())
    def run(named: tuple[str, str], data: st.DataObject) -> None:
        fuzz_log.record(outcome(data.draw(mutated(named[1]))))

    run()
    assert fuzz_log.cases - before >= SLOW_BUNDLED_MUTATIONS
