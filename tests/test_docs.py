"""The documentation agrees with the tool: every command line of README.md and docs/*.md runs
(fenced ``sh`` blocks, ``$ `` transcripts with their printed output, and complete inline
`archcalc …` examples), and the specific disagreements issue 14 found stay fixed.

Commands run through click's test runner in a temporary directory, at ``COLUMNS=100``, each
expected to exit 0 — or, for a ``$`` transcript, to print what the transcript shows.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import archcalc
from archcalc.cli import cli

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(archcalc [^`]+)`")
#: files the examples name, made before they run: (path, content)
FIXTURES = {
    "path/to/net.yaml": "alexnet",  # a bundled spec's text
    # the README's error example: line 5, column 5 is the layer's type word
    "bad.yaml": "archcalc: 1\nname: bad\ninput: [3, 5, 5]\nlayers:\n"
                "  - conv: {id: c1, out: 4, k: 7}\n",
    # the AlexNet slide table that `check` reads (the fixture of tests/test_check.py)
    "slide.tsv": "@tests/fixtures/slides/003_alexnet.txt",
    # a small ONNX model for `archcalc import` / `archcalc table model.onnx` (docs/bridges.md)
    "model.onnx": "@tests/fixtures/model.onnx",
    # docs/executor.md's memory-budget example: 3×8×8 upsampled by 4000 is 11 GiB of output
    "up.yaml": "archcalc: 1\nname: up\ninput: [3, 8, 8]\nlayers:\n"
               "  - upsample: {scale: 4000}\n",
}
#: examples whose exit code is not 0 by design, and why
EXIT = {
    "archcalc check alexnet slide.tsv": (1, "the slide has slips: check exits 1"),
    "archcalc table alexnet --input 3x451x451": (1, "shown as refused: an fc head on a "
                                                    "larger input"),
}
#: examples that illustrate and cannot run as written, and why
ILLUSTRATIONS = {
    "archcalc verify broken.yaml": "shows the message of an engine/executor disagreement, "
                                   "which needs a bug to happen",
}
PLACEHOLDER = re.compile(r"\b[A-Z]{1,6}\b|…|\[|/svg|\bFILE\b|\|")  # … or a shell pipe
COMPLETE_ALONE = {"list", "schema"}


def commands(page: str) -> list[tuple[str, str | None]]:
    """(command, expected output or None) for every command example of ``page``."""
    text = (ROOT / page).read_text(encoding="utf-8")
    out: list[tuple[str, str | None]] = []
    for lang, body in FENCE.findall(text):
        if lang not in ("", "sh", "bash", "console") or "archcalc " not in body:
            continue
        body = body.replace("\\\n", " ")
        if body.lstrip().startswith("$ "):
            for chunk in re.split(r"^\$ ", body, flags=re.M)[1:]:
                cmd, _, shown = chunk.partition("\n")
                out.append((cmd.strip(), shown))
            continue
        out += [(line.strip(), None) for line in body.splitlines()
                if line.strip().startswith("archcalc ")]
    for span in INLINE.findall(text):
        words = span.split()
        if PLACEHOLDER.search(span.removeprefix("archcalc ")):
            continue
        if len(words) < 3 and words[-1] not in COMPLETE_ALONE:
            continue  # a bare subcommand named in a sentence
        out.append((span, None))
    return out


def _unique(found: list[tuple[str, str, str | None]]) -> list[tuple[str, str, str | None]]:
    """Each distinct command once (the README and a page often show the same one)."""
    seen: set[tuple[str, str | None]] = set()
    out = []
    for page, cmd, shown in found:
        key = (" ".join(shlex.split(cmd, comments=True)), shown)
        if key not in seen:
            seen.add(key)
            out.append((page, cmd, shown))
    return out


EXAMPLES = _unique([(page, cmd, shown) for page in PAGES for cmd, shown in commands(page)])


def run_line(line: str, tmp_path: Path) -> Result:
    argv = shlex.split(line, comments=True)
    assert argv[0] == "archcalc"
    return CliRunner().invoke(cli, argv[1:], env={"COLUMNS": "100"}, catch_exceptions=False)


def test_examples_were_found() -> None:
    pages = {page for page, _, _ in EXAMPLES}
    assert {"README.md", "docs/executor.md", "docs/compare-explain-sweep.md",
            "docs/efficientnet.md", "docs/api.md"} <= pages
    assert len(EXAMPLES) >= 40  # distinct commands


@pytest.mark.parametrize(("page", "line", "shown"), EXAMPLES,
                         ids=[f"{p}: {c}" for p, c, _ in EXAMPLES])
def test_every_command_example_runs(page: str, line: str, shown: str | None, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    command = " ".join(shlex.split(line, comments=True))
    if command in ILLUSTRATIONS:
        pytest.skip(ILLUSTRATIONS[command])
    if " plot " in f" {command} " and " -o " in f" {command} ":
        pytest.importorskip("matplotlib")  # images need the plot extra (in the test extras)
    if "--against torch" in command:
        pytest.importorskip("torch")  # the torch extra: `make crosscheck` runs these
    monkeypatch.chdir(tmp_path)
    for path, content in FIXTURES.items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("@"):
            target.write_bytes((ROOT / content[1:]).read_bytes())
        else:
            target.write_text(archcalc.load_spec(content).text if "\n" not in content
                              else content)
    result = run_line(line, tmp_path)
    if shown is None:
        code = EXIT.get(command, (0, ""))[0]
        assert result.exit_code == code, f"{page}: {line}\n{result.output}"
        return
    printed = result.stdout + result.stderr
    # "…" in a transcript stands for what it leaves out: a line of its own for any lines
    pattern = "\n".join(".*?" if ln.strip() == "…" else
                        ".*?".join(re.escape(part) for part in ln.rstrip().split("…"))
                        for ln in shown.strip().splitlines())
    assert re.fullmatch(pattern, printed.strip(), re.S), f"{page}: {line}\n{printed}"


# ------------------------------------------------------------- the disagreements, fixed --

def test_readme_counts_the_errata_slips() -> None:
    errata = (ROOT / "docs/lecture-errata.md").read_text(encoding="utf-8")
    summary = errata.split("## Summary", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \|", summary, re.M)
    assert [int(r) for r in rows] == list(range(1, len(rows) + 1))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"lists all {len(rows)} slips" in readme


def test_docs_stay_inside_the_repository() -> None:
    for page in PAGES:
        text = (ROOT / page).read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)]+)\)|`(\.\./[^`]+)`", text):
            link = next(t for t in target if t)
            if link.startswith(("http://", "https://", "#")):
                continue
            resolved = (ROOT / page).parent.joinpath(link.split("#")[0]).resolve()
            assert resolved.is_relative_to(ROOT), f"{page} points outside: {link}"
            assert resolved.exists(), f"{page} links to a missing {link}"


def test_spec_format_reference_reads_as_prose() -> None:
    text = (ROOT / "docs/spec-format.md").read_text(encoding="utf-8")
    assert not re.search(r":(class|func|meth|mod|data|attr):`", text)  # no Sphinx roles
    assert not re.search(r"\b(\d+)–\1 inputs", text)  # "Takes 2–2 inputs"
    assert "Takes 2 inputs" in text
    assert "- sequential:\n    if: $se" in text  # documented, as the MobileNetV3 specs use it


def test_errors_page_gives_the_rank_mismatch_exit_code(tmp_path: Path) -> None:
    text = " ".join((ROOT / "docs/errors.md").read_text(encoding="utf-8").split())
    assert "`--input` of the wrong rank" in text and "exits 2" in text
    assert CliRunner().invoke(cli, ["table", "alexnet", "--input", "3x224"]).exit_code == 2


def test_explain_help_names_its_own_default_format() -> None:
    text = CliRunner().invoke(cli, ["explain", "--help"]).output
    assert "(default: text" in " ".join(text.split())
    assert CliRunner().invoke(cli, ["explain", "alexnet", "conv1", "-f", "table"]).exit_code == 2


def test_unknown_layer_hint_points_at_the_reference() -> None:
    with pytest.raises(archcalc.SpecError) as info:
        archcalc.analyze("archcalc: 1\ninput: [3, 8, 8]\nlayers: [{zzqx: {}}]\n")
    assert info.value.hint == "see the layer reference in docs/spec-format.md"


def test_list_explains_the_slide_deck_numbers() -> None:
    text = CliRunner().invoke(cli, ["list"], env={"COLUMNS": "200"}).output
    assert "seed 000" not in text and "(slide deck 000)" in text
    assert "slide decks 000–004" in text and "docs/lecture-errata.md" in text
