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

* Hostile input (issue 13), from the grammar-aware generators of :mod:`hostile_strategies`:
  numbers and expressions in every place of a spec, the library's keywords given any Python
  value, damaged files at paths of every kind (FIFOs, sockets, links, devices), and ``-o``
  paths of every kind. Library calls raise only :class:`ArchcalcError` (located) or
  :class:`TypeError`; the CLI exits 0, 1 or 2 — never 3 — leaves no temporary file, never
  turns a FIFO or device into a file, and on an error leaves the target as it was.

Normal mode runs about 400 examples in under a minute. ``make fuzz`` (``pytest -m slow
tests/test_fuzz.py``) runs the long version — more than 100,000 cases — and prints, per
generator, the number of cases, how many analysed and how many were refused, the distinct
error-message shapes (numbers and quoted names normalised) and the time.
"""

from __future__ import annotations

import os
import random
import re
import socket
import stat
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hostile_strategies import (
    HOLES,
    OUTPUT_KINDS,
    SPEC_KINDS,
    expression,
    expression_spec,
    file_bytes,
    hostile_spec,
    number_text,
    python_value,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import Generated, mutated, valid_specs

import archcalc
from archcalc import outfile
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
    """Cases run and distinct error-message shapes seen (for the closing summary), in all and
    per generator, with the seconds each generator took."""

    def __init__(self) -> None:
        self.cases = 0
        self.analysed = 0
        self.shapes: Counter[str] = Counter()
        self.per: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # cases, analysed
        self.per_shapes: dict[str, set[str]] = defaultdict(set)
        self.seconds: dict[str, float] = defaultdict(float)

    def record(self, what: str | None, generator: str = "mutated specs") -> None:
        self.cases += 1
        self.per[generator][0] += 1
        if what is None:
            self.analysed += 1
            self.per[generator][1] += 1
        else:
            shape = message_shape(what)
            self.shapes[shape] += 1
            self.per_shapes[generator].add(shape)


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
    # the totals count what runs at inference; training-only rows (an auxiliary head) are in
    # the training totals
    inference = [row for row in report.layers if not row.training]
    assert sum(row.params for row in inference) == totals.params
    assert sum(row.macs for row in inference) == totals.macs
    if report.training_totals is not None:
        assert sum(row.params for row in report.layers) == report.training_totals.params
        assert sum(row.macs for row in report.layers) == report.training_totals.macs
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
    import archcalc.executor  # the NumPy executor

    graph = archcalc.build(archcalc.load_spec(gen.text()))
    with np.errstate(all="ignore"):  # -inf from such windows flows into later layers
        result = archcalc.executor.run(graph, keep="all")
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
            f"fuzz: {log.cases:,} cases in {seconds:.0f} s: {log.analysed:,} analysed (or "
            f"written), {log.cases - log.analysed:,} refused with {len(log.shapes)} distinct "
            "error-message shapes; 0 exit-3 results, 0 other exceptions")
        for generator, (cases, analysed) in log.per.items():
            reporter.write_line(
                f"  {generator:28} {cases:7,} cases {analysed:7,} analysed {cases - analysed:7,}"
                f" refused {len(log.per_shapes[generator]):4} shapes "
                f"{log.seconds[generator]:6.0f} s")
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
        fuzz_log.record(outcome(data.draw(mutated(gen.text()))), "mutated random specs")

    started = time.perf_counter()
    run()
    fuzz_log.seconds["mutated random specs"] += time.perf_counter() - started
    assert fuzz_log.cases - before >= SLOW_RANDOM_MUTATIONS


@pytest.mark.slow
def test_slow_mutated_bundled_specs(fuzz_log: Log) -> None:
    before = fuzz_log.cases

    @settings(SLOW, max_examples=SLOW_BUNDLED_MUTATIONS)
    @given(st.sampled_from(BUNDLED), st.data())
    def run(named: tuple[str, str], data: st.DataObject) -> None:
        fuzz_log.record(outcome(data.draw(mutated(named[1]))), "mutated bundled specs")

    started = time.perf_counter()
    run()
    fuzz_log.seconds["mutated bundled specs"] += time.perf_counter() - started
    assert fuzz_log.cases - before >= SLOW_BUNDLED_MUTATIONS



# ------------------------------------------------------- hostile input (issue 13) --
# Each generator is one function `case(r, log, tmp)` making one case from a seeded
# random.Random and checking it; a fast test runs a few seeds of each in `make test`, `make
# fuzz` runs HOSTILE_SLOW of each from a fresh base seed (printed with any failure).

TINY = "archcalc: 1\nname: t\ninput: [3, 8, 8]\nscale: {width: 1.0}\nlayers:\n" \
       "  - conv: {out: 'ch(4)', k: 3}\n"
BROKEN = "archcalc: 1\nname: t\ninput: [3, 8, 8]\nlayers:\n  - conv: {out: 4, k: three}\n"


def library(call: Callable[[], object], *, typed: bool = True) -> str | None:
    """Run a library call: None if it returns, the message if it raises ArchcalcError (or,
    with ``typed``, TypeError); any other exception fails the test."""
    try:
        call()
    except ArchcalcError as err:
        assert err.hint is not None or err.what, str(err)
        return err.what
    except TypeError as err:
        if not typed:
            raise
        return f"TypeError: {err}"
    return None


def cli_case(args: list[str], stdin: str | None = None) -> Any:
    res = CliRunner().invoke(cli, args, input=stdin)
    assert res.exit_code in (0, 1, 2), (args, res.exit_code, res.output)
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr, res.stderr
    verdict = args[0] == "verify" and "the engine and the executor disagree" in res.stderr
    if res.exit_code and not verdict:  # (verify prints its table, then exits 1 on a mismatch)
        assert res.stdout == "", (args, res.stdout[:200])
    return res


def cli_message(res: Any) -> str:
    """The message of a refusal: the `error:` line (click's `Error:` line for exit 2)."""
    lines = res.stderr.splitlines()
    found = [line for line in lines if "error: " in line.lower()]
    return (found[0] if found else lines[-1]).split("rror: ", 1)[-1]


def case_numbers(r: random.Random, log: Log, tmp: Path) -> None:
    log.record(outcome(hostile_spec(r)), "numbers in specs")


def case_expressions(r: random.Random, log: Log, tmp: Path) -> None:
    text = expression_spec(expression(r), r.choice(HOLES))
    log.record(outcome(text), "expressions")


_KEYWORDS = ("batch", "dtype", "convention", "input_shape", "width", "widht")


def case_keywords(r: random.Random, log: Log, tmp: Path) -> None:
    """analyze/execute/load_spec/to_graph given any Python value for their arguments."""
    value = python_value(r)
    which = r.randrange(5)
    if which == 0:
        key = r.choice(_KEYWORDS)
        what = library(lambda: archcalc.analyze(TINY, **{key: value}))
    elif which == 1:
        key = r.choice(["x", "seed", "batch", "max_memory"])
        import archcalc.executor as executor

        kwargs: dict[str, Any] = {key: value}
        kwargs.setdefault("max_memory", 64 << 20)
        what = library(lambda: executor.run(TINY, **kwargs))
    elif which == 2:
        what = library(lambda: archcalc.load_spec(value))
    elif which == 3:  # a dict spec with the value somewhere inside
        spec: dict[str, Any] = {"archcalc": 1, "input": [3, 8, 8],
                                "layers": [{"conv": {"out": 4, "k": 3}}]}
        place = r.choice(["out", "k", "input", "layers", "name", "scale"])
        if place in ("out", "k"):
            spec["layers"][0]["conv"][place] = value
        else:
            spec[place] = value
        what = library(lambda: archcalc.analyze(spec))
    else:
        report = archcalc.analyze(TINY)
        what = library(lambda: report.layer(value))  # type: ignore[arg-type]
    log.record(what, "library keywords")


def _make_spec_path(kind: str, data: bytes, tmp: Path) -> tuple[Path | bytes, Any]:
    """A spec at a path of ``kind``; returns (path or bytes, cleanup)."""
    path = tmp / f"spec-{kind}.yaml"
    cleanup: Any = None
    if kind in ("file", "symlink"):
        real = tmp / "real.yaml"
        real.write_bytes(data)
        if kind == "symlink":
            path.symlink_to(real)
        else:
            path = real
    elif kind == "dangling":
        path.symlink_to(tmp / "nowhere.yaml")
    elif kind == "loop":
        path.symlink_to(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)

        def writer() -> None:
            with open(path, "wb") as fh:  # blocks until the reader opens
                fh.write(data[:60_000])

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()

        def unblock() -> None:  # if nobody opened it, open it so the writer finishes
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            thread.join(5)
            os.close(fd)

        cleanup = unblock
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        cleanup = server.close
    elif kind == "dev_null":
        path = Path("/dev/null")
    elif kind == "bytes":
        return data, None
    return path, cleanup


def case_files(r: random.Random, log: Log, tmp: Path) -> None:
    """Damaged bytes at a path of every kind, through the library or the CLI."""
    kind = r.choice(SPEC_KINDS)
    content = file_bytes(r)
    where, cleanup = _make_spec_path(kind, content, tmp)
    try:
        if r.randrange(2) or isinstance(where, bytes):
            source = where if isinstance(where, bytes) else str(where)

            def load() -> None:
                try:
                    archcalc.analyze(archcalc.load_spec(source))
                except ArchcalcError as err:
                    shown = "<bytes>" if isinstance(source, bytes) else source
                    assert err.loc is not None and err.loc.file == shown, str(err)
                    assert str(err).startswith(f"{err.loc}: error: "), str(err)
                    raise

            what = library(load, typed=False)
        else:
            res = cli_case(["table", str(where), "-f", "csv"])
            what = None if res.exit_code == 0 else cli_message(res)
        log.record(what, "files")
    finally:
        if cleanup is not None:
            cleanup()


def _device(path: Path, major: int, minor: int) -> bool:
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))
    except (PermissionError, OSError):
        return False
    return True


def case_outputs(r: random.Random, log: Log, tmp: Path) -> None:
    """`-o PATH` of every kind, for a good and a broken spec, through table/compare/show."""
    kind = r.choice(OUTPUT_KINDS)
    good = bool(r.randrange(2))
    ext = r.choice([".csv", ".json", ".md", ".tex", ".txt", ""])
    target = tmp / f"out{ext}"
    spec = tmp / "in.yaml"
    spec.write_text(TINY if good else BROKEN)
    reader = None
    if kind == "existing" or kind == "readonly_file":
        target.write_text("old\n")
        target.chmod(0o664 if kind == "existing" else 0o444)
    elif kind == "symlink_file":
        (tmp / "real.csv").write_text("old\n")
        target.symlink_to(tmp / "real.csv")
    elif kind == "dangling":
        target.symlink_to(tmp / "made.csv")
    elif kind == "loop":
        target.symlink_to(target)
    elif kind == "stdout_link":
        target.symlink_to("/proc/self/fd/1")
    elif kind == "stderr_link":
        target.symlink_to("/proc/self/fd/2")
    elif kind == "dash":
        target = Path("-")
    elif kind == "dev_stdout":
        target = Path("/dev/stdout")
    elif kind in ("fifo_reader", "fifo_no_reader"):
        os.mkfifo(target)
        if kind == "fifo_reader":
            reader = os.open(target, os.O_RDONLY | os.O_NONBLOCK)
    elif kind in ("null_copy", "full_copy") and not _device(target, 1, 3 if kind == "null_copy"
                                                             else 7):
        kind = "new"
    elif kind == "directory":
        target.mkdir()
    elif kind == "missing_dir":
        target = tmp / "no" / "such" / f"out{ext}"
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(target))
        reader = server
    elif kind == "trailing_slash":
        target = Path(str(target) + "/")
    before = _state(target)
    command = r.choice(["table", "table", "compare", "show"])
    args = {"table": ["table", str(spec)], "compare": ["compare", str(spec), str(spec)],
            "show": ["show", "lenet5" if good else "lenet55"]}[command]
    outfile.FIFO_WAIT, wait = 0.02, outfile.FIFO_WAIT
    try:
        res = cli_case([*args, "-o", str(target)])
    finally:
        outfile.FIFO_WAIT = wait
        if isinstance(reader, int):
            os.close(reader)
        elif reader is not None:
            reader.close()
    assert not [p for p in tmp.rglob(".archcalc-*")], "a temporary file was left"
    after = _state(target)
    if kind in ("fifo_reader", "fifo_no_reader", "null_copy", "full_copy", "directory",
                "socket", "stdout_link", "stderr_link"):
        assert after[0] == before[0], (kind, before, after)  # still what it was
    if res.exit_code != 0 and kind not in ("stdout_link", "stderr_link", "dash", "dev_stdout"):
        assert after == before, (kind, before, after)  # an error leaves the target as it was
    if res.exit_code == 0 and kind == "existing":
        assert stat.S_IMODE(target.stat().st_mode) == 0o664
    if res.exit_code == 0 and kind in ("dash", "dev_stdout", "stdout_link"):
        assert res.stdout
    elif res.exit_code == 0:
        assert res.stdout == "", (kind, res.stdout[:100])
    log.record(None if res.exit_code == 0 else cli_message(res), "output paths")


def _state(path: Path) -> tuple[str, int, bytes | None]:
    """(kind, mode, content of a regular file) of what is at ``path`` (not following it)."""
    try:
        info = os.lstat(path)
    except OSError:
        return ("missing", 0, None)
    mode = info.st_mode
    kind = ("link" if stat.S_ISLNK(mode) else "fifo" if stat.S_ISFIFO(mode) else
            "char" if stat.S_ISCHR(mode) else "dir" if stat.S_ISDIR(mode) else
            "socket" if stat.S_ISSOCK(mode) else "file")
    content = path.read_bytes() if kind == "file" else None
    return (kind, stat.S_IMODE(mode), content)


_OPTION_VALUES = ("", "-", "1,2", "0.5,nan", "3x224x224", "3x0x8", "3x224", "1x1x1x1x1", "2G",
                  "1x", "1e3M", "-1", "width", "width=", "=1", "width=1=2", "1,", ",",
                  "a=1,b=2")


def case_cli_options(r: random.Random, log: Log, tmp: Path) -> None:
    """--set, --input, --batch, --seed, --max-memory with hostile values, for every command."""
    command = r.choice(["table", "compare", "sweep", "explain", "verify", "plot"])
    # verify runs the network: a small one (depth=137 would make EfficientNet a 40 s run)
    args = [command, "mobilenet_v2_0.35" if command == "verify" else r.choice(
        ["mobilenet_v2", "efficientnet_b0", "lenet5"])]
    for _ in range(r.randint(1, 3)):
        option = r.choice(["--set", "--set", "--input", "--batch", "--seed", "--max-memory"])
        value = number_text(r) if r.randrange(2) else r.choice(_OPTION_VALUES)
        digits = value.lstrip("-")
        if digits.isascii() and digits.isdigit() and len(digits) < 16 and int(digits) > 8:
            # a valid but large width or depth makes a 100,000-layer network, whose `explain
            # --all` runs for minutes: numbers that large are the library fuzzers' (analysis
            # only); here they are folded into a small range, keeping their sign
            value = ("-" if value.startswith("-") else "") + str(int(digits) % 7 + 2)
        if option == "--set":
            name = r.choice(["width", "divisor", "depth", "resolution", "x"])
            value = f"{name}={value}"
        if option in ("--seed", "--max-memory") and command != "verify":
            continue
        args += [option, value]
    if command == "explain":
        args.append("--all")
    if command == "verify":
        args += ["--max-memory", "256M"] if "--max-memory" not in args else []
        args += ["--input", "3x32x32"] if "--input" not in args else []
    res = cli_case(args)
    log.record(None if res.exit_code == 0 else cli_message(res), "command-line options")


HOSTILE: dict[str, Callable[[random.Random, Log, Path], None]] = {
    "numbers": case_numbers, "expressions": case_expressions, "keywords": case_keywords,
    "files": case_files, "outputs": case_outputs, "cli_options": case_cli_options,
}
#: `make fuzz`: cases per generator (103,000 in all, plus the 12,500 above)
HOSTILE_SLOW = {"numbers": 40_000, "expressions": 25_000, "keywords": 12_000, "files": 10_000,
                "outputs": 8_000, "cli_options": 8_000}


GENERATOR_NAMES = {"numbers": "numbers in specs", "keywords": "library keywords",
                   "outputs": "output paths", "cli_options": "command-line options"}


def _hostile_run(name: str, seeds: range, base: str, log: Log,
                 tmp_factory: pytest.TempPathFactory) -> None:
    root = tmp_factory.mktemp(f"hostile-{name}")
    started = time.perf_counter()
    for i in seeds:
        seed = f"{base}-{name}-{i}"
        tmp = root / str(i)
        tmp.mkdir()
        try:
            with np.errstate(all="ignore"):
                HOSTILE[name](random.Random(seed), log, tmp)
        except BaseException as exc:  # say how to reproduce it, then fail as it did
            exc.add_note(f"hostile case {name!r}, seed {seed!r}: case_{name}(random.Random("
                         f"{seed!r}), Log(), tmp) in tests/test_fuzz.py reproduces it")
            raise
    log.seconds[GENERATOR_NAMES.get(name, name)] += time.perf_counter() - started


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_input(name: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """`make test`: a fixed set of seeds of every generator (reproducible)."""
    count = 60 if name in ("numbers", "expressions", "keywords") else 20
    _hostile_run(name, range(count), "fast", Log(), tmp_path_factory)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_slow_hostile_input(name: str, fuzz_log: Log,
                            tmp_path_factory: pytest.TempPathFactory) -> None:
    before = fuzz_log.cases
    # ARCHCALC_FUZZ_SCALE=0.05 for a quick look while developing; `make fuzz` runs them all
    examples = max(1, int(HOSTILE_SLOW[name] * float(os.environ.get("ARCHCALC_FUZZ_SCALE", 1))))
    _hostile_run(name, range(examples), os.environ.get("ARCHCALC_FUZZ_SEED", str(time.time_ns())),
                 fuzz_log, tmp_path_factory)
    assert fuzz_log.cases - before >= examples


def test_the_slow_run_is_at_least_100000_hostile_cases() -> None:
    assert sum(HOSTILE_SLOW.values()) >= 100_000
