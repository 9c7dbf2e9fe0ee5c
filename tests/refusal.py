"""Shared checks of the hardening tests (issue 13): how a refusal must look.

Through the CLI a refused input exits 1 (the spec) or 2 (the command line), prints nothing on
stdout, and says on stderr one line ``file:line:col: error: …`` and one ``  hint: …`` line
(click's usage block for exit 2) — never a traceback or "internal error".
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from archcalc.cli import cli

HEAD = "archcalc: 1\ninput: [3, 8, 8]\nlayers:\n"  # lines 1-3: the first layer is line 4


def cli_run(*args: str | Path, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], input=stdin)


def spec_file(tmp_path: Path, text: str, name: str = "net.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(res: Result, prefix: str, *says: str, hint: str = "") -> str:
    """Exit 1 with nothing on stdout; the first stderr line starts with ``prefix`` (the
    location and ``error:``) and holds every part of ``says``; the second is the hint."""
    assert res.exit_code == 1, (res.exit_code, res.output)
    assert res.stdout == ""
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    lines = res.stderr.splitlines()
    assert lines[0].startswith(prefix), (lines[0], prefix)
    for part in says:
        assert part in lines[0], (part, lines[0])
    assert len(lines) == 2 and lines[1].startswith("  hint: ") and hint in lines[1], lines
    return lines[0]


def usage(res: Result, *says: str) -> str:
    """Exit 2 (command-line usage), nothing on stdout, click's usage block naming the problem."""
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert res.stdout == ""
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr, res.stderr
    assert "Usage:" in res.stderr
    for part in says:
        assert part in res.stderr, (part, res.stderr)
    return res.stderr
