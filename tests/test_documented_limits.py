"""The limits and exit codes documented in README.md, docs/errors.md and docs/spec-format.md
agree with the tool (issue 13): every figure is read from the documents and compared with
the constant the code enforces, and every documented command-line example is run for the
exit code the documents give it.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
ERRORS = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
SPEC_FORMAT = " ".join((ROOT / "docs" / "spec-format.md").read_text(encoding="utf-8").split())
_NUMBER = re.compile(r"(\d[\d,]*(?:\.\d+)?)(?:\^(\d+))?\s*(%?)")


def numbers(text: str) -> list[float]:
    """The figures written in ``text``: ``8,000,000`` → 8e6, ``10^15``, ``2^64``, ``80 %`` →
    0.8, ``5 s`` → 5."""
    out = []
    for base, exponent, percent in _NUMBER.findall(text):
        value = float(base.replace(",", "")) ** (int(exponent) if exponent else 1)
        out.append(value / 100 if percent else value)
    return out


def constant(path: str) -> float:
    module, name = path.rsplit(".", 1)
    return float(getattr(importlib.import_module(f"archcalc.{module}"), name))


def limits_table() -> list[tuple[str, str, list[str]]]:
    """(limit, value text, constants) for each row of the Limits table in docs/errors.md."""
    section = ERRORS.split("## Limits", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[2].startswith("`"):
            rows.append((cells[0], cells[1], re.findall(r"`([a-z_]+\.[A-Z_]+)`", cells[2])))
    return rows


def test_the_limits_table_is_complete() -> None:
    named = {c for _, _, consts in limits_table() for c in consts}
    assert named == {
        "ytree.MAX_SPEC_BYTES", "ytree.MAX_NODES", "ytree.MAX_DEPTH", "ytree.MAX_INT_CHARS",
        "graph.MAX_NODES", "graph.MAX_STEPS", "graph.MAX_BLOCK_DEPTH", "graph.MAX_NESTING",
        "expr.MAX_INT", "expr.MAX_EXPR_CHARS", "shapes.RF_LIMIT", "sweep.MAX_POINTS",
        "sweep.MAX_LAYERS", "args.MAX_SUGGEST", "errors.MAX_QUOTE", "errors.MAX_MESSAGE",
        "budget.DEFAULT_SHARE", "outfile.FIFO_WAIT"}


@pytest.mark.parametrize(("limit", "value", "consts"), limits_table(),
                         ids=[row[0] for row in limits_table()])
def test_each_documented_limit_is_the_constant(limit: str, value: str, consts: list[str]) -> None:
    """The value column's first figures are the named constants, in order."""
    figures = numbers(value)
    assert figures[:len(consts)] == [constant(c) for c in consts], (limit, value)


README_LIMITS = {  # phrase of the README's limits sentence → the constant it states
    "8,000,000 bytes per spec file": "ytree.MAX_SPEC_BYTES",
    "2,000,000 YAML values": "ytree.MAX_NODES",
    "64 YAML nesting levels": "ytree.MAX_DEPTH",
    "250,000 layers after expansion": "graph.MAX_NODES",
    "500,000 expansion steps": "graph.MAX_STEPS",
    "blocks nested 32 deep": "graph.MAX_BLOCK_DEPTH",
    "composites nested 64 deep in all": "graph.MAX_NESTING",
    "of at most 10^15": "expr.MAX_INT",
    "an integer literal at most 100 characters": "ytree.MAX_INT_CHARS",
    "expressions of at most 500 characters": "expr.MAX_EXPR_CHARS",
    "exact below 2^64": "shapes.RF_LIMIT",
    "at most 10,000 points": "sweep.MAX_POINTS",
    "10,000,000 layer analyses": "sweep.MAX_LAYERS",
    "within 80 % of the available memory": "budget.DEFAULT_SHARE",
}
SPEC_FORMAT_LIMITS = {
    "at most 8,000,000 bytes": "ytree.MAX_SPEC_BYTES",
    "2,000,000 YAML nodes": "ytree.MAX_NODES",
    "nested at most 64 levels": "ytree.MAX_DEPTH",
    "at most 250,000 layers after expansion": "graph.MAX_NODES",
    "500,000 expansion steps": "graph.MAX_STEPS",
    "blocks nest at most 32 deep": "graph.MAX_BLOCK_DEPTH",
    "at most 64 deep in all": "graph.MAX_NESTING",
    "a finite float of at most 10^15": "expr.MAX_INT",
    "integer literals of at most 100 characters": "ytree.MAX_INT_CHARS",
    "expressions are at most 500 characters": "expr.MAX_EXPR_CHARS",
}


@pytest.mark.parametrize(("text", "table"), [(README, README_LIMITS),
                                             (SPEC_FORMAT, SPEC_FORMAT_LIMITS)],
                         ids=["README", "spec-format"])
def test_the_limits_in_readme_and_spec_format(text: str, table: dict[str, str]) -> None:
    for phrase, const in table.items():
        assert phrase in text, phrase
        assert numbers(phrase)[-1] == constant(const), (phrase, const)


# ---------------------------------------------------------------------------- exit codes --


def test_the_same_exit_codes_everywhere() -> None:
    readme = README.split("## Exit codes", 1)[1].split("##", 1)[0]
    in_readme = {int(c) for c in re.findall(r"`(\d+)` [a-z]", readme)}
    section = ERRORS.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    in_errors = {int(m) for m in re.findall(r"^\| (\d+) \|", section, re.MULTILINE)}
    help_text = CliRunner().invoke(cli, ["--help"]).stdout
    in_help = {int(c) for c in re.findall(r"(\d+) [a-z]", " ".join(
        help_text.split("Exit codes:", 1)[1].split())[:200])}
    assert in_readme == in_errors == in_help == {0, 1, 2, 3, 130}


# each documented usage example, with the command it is given to, and its documented code
EXAMPLES = [
    (["table", "alexnet", "--input", "axb"], "`--input axb`", 2),
    (["table", "alexnet", "--input", "3x224"], "`3x224`", 2),
    (["table", "alexnet", "--format", "xml"], "`--format xml`", 2),
    (["table", "alexnet", "--batch", "0"], "`--batch 0`", 2),
    (["table", "mobilenet_v2", "--set", "width=nan"], "`--set width=nan`", 2),
    (["table", "alexnet", "--input", "3x10000000000000000x8"],
     "`--input 3x10000000000000000x8`", 2),
    (["verify", "lenet5", "--seed", "-1"], "`--seed -1`", 2),
    (["table", "mobilenet_v2", "--set", "width=-1"], "`--set width=-1`", 1),
    (["verify", "lenet5", "--max-memory", "1K"], "beyond the memory budget", 1),
]


@pytest.mark.parametrize(("args", "documented", "code"), EXAMPLES,
                         ids=[" ".join(e[0][2:]) for e in EXAMPLES])
def test_documented_examples_exit_as_documented(args: list[str], documented: str,
                                                code: int) -> None:
    assert documented in README
    if code == 2 and documented.startswith("`--"):
        assert documented in ERRORS
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == code, res.output
    assert res.stdout == ""


def test_the_library_limit_is_the_cli_limit() -> None:
    """10^15 is accepted and 10^15 + 1 refused, by the library as by the CLI."""
    text = "archcalc: 1\ninput: [3, 8, 8]\nlayers:\n  - relu\n"
    assert archcalc.analyze(text, batch=10**15).batch == 10**15
    with pytest.raises(archcalc.SpecError, match="beyond the limit 10\\^15"):
        archcalc.analyze(text, batch=10**15 + 1)
