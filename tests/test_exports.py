"""Text exports of a report: golden files for the CLI formats (AlexNet, the stable lecture spec),
structural checks of Markdown, CSV, LaTeX and HTML with hand-derived AlexNet figures, and the
`list` and `show` commands.

Update the golden files with ``pytest --update-golden`` and review the diff.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import archcalc
import archcalc.export as export
from archcalc import builder as b
from archcalc.cli import cli

# AlexNet (lecture variant, 3×227×227), worked out by hand:
#   conv1 64×56×56 (⌊(227 + 4 − 11)/4⌋ + 1 = 56), conv2 192×27×27, conv3-5 ×13×13, pool5 256×6×6.
CONV1_PARAMS = 64 * 3 * 11 * 11 + 64
CONV1_MACS = (64 * 56 * 56) * (3 * 11 * 11)
CONV1_BYTES = 64 * 56 * 56 * 4
FC6_PARAMS = 9216 * 4096 + 4096
ALEXNET_PARAMS = (
    CONV1_PARAMS
    + (192 * 64 * 5 * 5 + 192)
    + (384 * 192 * 3 * 3 + 384)
    + (256 * 384 * 3 * 3 + 256)
    + (256 * 256 * 3 * 3 + 256)
    + FC6_PARAMS
    + (4096 * 4096 + 4096)
    + (4096 * 1000 + 1000)
)
ALEXNET_ROWS = ("conv1", "pool1", "conv2", "pool2", "conv3", "conv4", "conv5", "pool5",
                "flatten", "fc6", "fc7", "fc8")
Golden = Callable[[str, str], None]


@pytest.fixture(scope="module")
def alexnet() -> archcalc.Report:
    return archcalc.analyze("alexnet")


#: environment variables that would make rich colour or resize the captured table
RICH_ENV: dict[str, str | None] = {name: None for name in (
    "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")}


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), env=RICH_ENV)
    assert result.exit_code == 0, result.output
    return result.output


def test_hand_figures() -> None:
    assert ALEXNET_PARAMS == 61_100_840  # torchvision alexnet: 61,100,840 parameters


# ------------------------------------------------------------------------------ golden --

@pytest.mark.parametrize(("fmt", "golden_name"), [
    ("table", "alexnet.table.txt"),
    ("markdown", "alexnet.md"),
    ("csv", "alexnet.csv"),
    ("latex", "alexnet.tex"),
    ("json", "alexnet.json"),
])
def test_golden_cli_formats(golden: Golden, fmt: str, golden_name: str) -> None:
    golden(golden_name, run("table", "alexnet", "--format", fmt))


@pytest.mark.parametrize(("ext", "fmt"), [(".md", "markdown"), (".csv", "csv"),
                                          (".json", "json"), (".tex", "latex")])
def test_output_file_format_from_extension(tmp_path: Path, ext: str, fmt: str) -> None:
    target = tmp_path / f"alexnet{ext}"
    run("table", "alexnet", "-o", str(target))
    assert target.read_text() == run("table", "alexnet", "--format", fmt)


def test_explicit_format_beats_extension(tmp_path: Path) -> None:
    target = tmp_path / "alexnet.txt"
    run("table", "alexnet", "--format", "latex", "-o", str(target))
    assert target.read_text().startswith("% archcalc: AlexNet")


def test_golden_files_carry_the_hand_figures() -> None:
    golden_dir = Path(__file__).parent / "golden"
    data = json.loads((golden_dir / "alexnet.json").read_text())
    assert data["totals"]["params"] == ALEXNET_PARAMS
    assert [row["name"] for row in data["layers"]] == list(ALEXNET_ROWS)
    assert f"{ALEXNET_PARAMS:,}" in (golden_dir / "alexnet.table.txt").read_text()


# ----------------------------------------------------------------------------- markdown --

def markdown_rows(text: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_markdown_table_shape_and_cells(alexnet: archcalc.Report) -> None:
    rows = markdown_rows(alexnet.to_markdown(style="lecture"))
    header, rule, *body = rows
    assert header == ["layer", "type", "output", "memory KB", "params k", "flop M", "RF"]
    assert rule == ["---", "---", "---", "---:", "---:", "---:", "---"]
    body = body[:body.index(["totals", "", ""])]  # the totals block is a second table
    assert all(len(r) == 7 for r in body)
    assert [r[0] for r in body] == [*ALEXNET_ROWS, "**total**"]
    conv1 = body[0]
    assert conv1[1:6] == ["conv+relu", "64×56×56", f"{CONV1_BYTES / 1024:,.1f}",
                          f"{CONV1_PARAMS / 1000:,.1f}", f"{CONV1_MACS / 1e6:,.1f}"]
    assert conv1[2:5] == ["64×56×56", "784.0", "23.3"]  # 802,816 B / 1024; 23,296 / 1000
    assert conv1[6] == "11"  # receptive field of conv1 = its kernel
    assert body[-1][4] == f"**{ALEXNET_PARAMS / 1000:,.1f}**"


def test_markdown_human_units_and_header(alexnet: archcalc.Report) -> None:
    """The default style: auto-scaled units; the header names input, batch, dtype and the
    convention (issue 14 §4: markdown used to drop batch and dtype)."""
    batch8 = archcalc.analyze("alexnet", batch=8, dtype="float16")
    text = batch8.to_markdown()
    assert text.startswith("**AlexNet (lecture variant)** — input 3×227×227 · batch 8 · "
                           "float16 · FLOPs: lecture\n")
    header, _, conv1, *_ = markdown_rows(text)
    assert header == ["layer", "type", "output", "params", "MACs", "FLOPs", "memory", "RF"]
    # conv1: 23,296 params → 23.3 k; 8 × 72,855,552 MACs = 582,844,416 → 583 M;
    # 8 × 64·56·56 × 2 bytes = 3,211,264 B = 3.0625 MiB → 3.06 MiB
    assert conv1 == ["conv1", "conv+relu", "64×56×56", "23.3 k", "583 M", "583 M", "3.06 MiB",
                     "11"]
    assert "| Total params | 61,100,840 | (61.1 M) |" in text


def test_markdown_escapes_pipes() -> None:
    spec = b.spec("a|b", [3, 8, 8], [b.conv(4, 3, id="x|y")])
    text = archcalc.analyze(spec).to_markdown()
    assert "| x\\|y |" in text
    table = markdown_rows(text.replace("\\|", "/"))
    assert all(len(r) == 8 for r in table[:table.index(["totals", "", ""])])


def test_repr_markdown_is_the_markdown(alexnet: archcalc.Report) -> None:
    assert alexnet._repr_markdown_() == alexnet.to_markdown()


# ---------------------------------------------------------------------------------- csv --

def test_csv_exact_integers_and_row_sums(alexnet: archcalc.Report) -> None:
    text = alexnet.to_csv()
    assert text.startswith("# AlexNet (lecture variant) · input 3×227×227 · batch 1 · "
                           "float32 · FLOPs: lecture\n")
    rows = list(csv.DictReader(line for line in io.StringIO(text) if not line.startswith("#")))
    assert [r["name"] for r in rows] == [*ALEXNET_ROWS, "total"]
    conv1 = rows[0]
    assert int(conv1["params"]) == CONV1_PARAMS
    assert int(conv1["macs"]) == CONV1_MACS
    assert int(conv1["activation_bytes"]) == CONV1_BYTES
    assert conv1["output_shape"] == "64x56x56"
    assert rows[0]["path"] == ""  # AlexNet has no groups
    *layers, total = rows
    for column in ("params", "buffers", "macs", "flops", "activation_bytes"):
        assert sum(int(r[column]) for r in layers) == int(total[column]), column
    assert int(total["params"]) == ALEXNET_PARAMS


# -------------------------------------------------------------------------------- latex --

def check_latex(text: str) -> list[str]:
    """Balanced environments and braces, booktabs rules in order, one cell per column in every
    row; returns the table rows (without the trailing \\\\)."""
    stack: list[str] = []
    for kind, name in re.findall(r"\\(begin|end)\{([^}]*)\}", text):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, f"\\end{{{name}}} closes nothing open"
    assert not stack, f"unclosed environments {stack}"
    code = "\n".join(line for line in text.splitlines() if not line.startswith("%"))
    unescaped = re.sub(r"\\[{}]", "", code)
    assert unescaped.count("{") == unescaped.count("}")
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", code)
    assert spec is not None
    columns = len(spec.group(1))
    rules = [line for line in code.splitlines() if line.endswith("rule")]
    assert rules == ["\\toprule", "\\midrule", "\\midrule", "\\bottomrule"]
    rows = [line[:-2].rstrip() for line in code.splitlines() if line.endswith("\\\\")]
    for row in rows:
        cells = re.split(r"(?<!\\)&", row)
        assert len(cells) == columns, row
        for cell in cells:
            assert re.sub(r"\$\\(times|cdot)\$", "", cell).count("$") == 0, cell
            assert not re.search(r"(?<!\\)[_%#]", cell), cell
    return rows


def test_latex_booktabs_table(alexnet: archcalc.Report) -> None:
    text = alexnet.to_latex(style="lecture")
    rows = check_latex(text)
    assert rows[0] == "layer & type & output & memory KB & params k & flop M & RF"
    assert rows[1].startswith(r"conv1 & conv+relu & 64$\times$56$\times$56 & 784.0 & 23.3")
    assert rows[-1].startswith(f"total &  &  & {alexnet.totals.activation_bytes / 1024:,.1f}")
    assert len(rows) == 1 + len(ALEXNET_ROWS) + 1
    lecture = export.Options(style="lecture")
    assert text == export.report_latex(alexnet, lecture) == export.render(alexnet, "latex",
                                                                           lecture)


def test_latex_escapes_special_characters() -> None:
    spec = b.spec("50% & more_", [3, 8, 8], [b.conv(4, 3, id="conv_1&2#3")])
    text = archcalc.analyze(spec).to_latex()
    check_latex(text)
    assert r"conv\_1\&2\#3 & conv" in text
    assert r"% archcalc: 50\% \& more\_ $\cdot$ input 3$\times$8$\times$8 $\cdot$ batch 1" in text


def test_latex_document_compiles_standalone_structure(alexnet: archcalc.Report) -> None:
    text = export.report_latex(alexnet, document=True)
    check_latex(text)
    lines = text.splitlines()
    assert lines[0] == r"\documentclass{article}"
    assert r"\usepackage{booktabs}" in lines
    assert lines[-1] == r"\end{document}"
    assert export.report_latex(alexnet) in text


# --------------------------------------------------------------------------------- html --

def test_html_repr(alexnet: archcalc.Report) -> None:
    text = alexnet._repr_html_()
    assert text.count("<tr") == 1 + len(ALEXNET_ROWS) + 1  # header, layers, totals
    assert text.count("<table>") == text.count("</table>") == 1
    assert '<td style="text-align:right">784 KiB</td>' in text  # 802,816 B / 1024 = 784
    assert f"{ALEXNET_PARAMS:,}" in text
    assert "input 3×227×227 · batch 1 · float32 · FLOPs: lecture" in text


def test_html_escapes_and_truncates() -> None:
    layers = [b.conv(4, 3, p=1, id="<b>first</b>")] + [b.act("relu") for _ in range(9)]
    report = archcalc.analyze(b.spec("x", [3, 8, 8], layers))
    text = export.report_html(report)
    assert "&lt;b&gt;first&lt;/b&gt;" in text and "<b>first" not in text
    short = export.report_html(report, export.Options(max_rows=4))
    assert short.count("<tr") == 1 + 4 + 1 + 1  # header, 2 + 2 rows, the gap, totals
    assert "6 of 10 rows hidden" in short


# ------------------------------------------------------------------------------ save/render --

@pytest.mark.parametrize(("name", "fmt"), [("t.md", "markdown"), ("t.CSV", "csv"),
                                           ("t.json", "json"), ("t.tex", "latex"),
                                           ("t.html", "html"), ("t.txt", None)])
def test_format_from_path(name: str, fmt: str | None) -> None:
    assert export.format_from_path(name) == fmt


def test_save_writes_each_format(tmp_path: Path, alexnet: archcalc.Report) -> None:
    for fmt in export.FORMATS:
        target = tmp_path / f"out.{fmt}"
        assert export.save(alexnet, target, fmt) == fmt
        assert target.read_text() == export.render(alexnet, fmt)
    assert json.loads((tmp_path / "out.json").read_text()) == alexnet.to_dict()


def test_save_refuses_unknown_extension(tmp_path: Path, alexnet: archcalc.Report) -> None:
    with pytest.raises(archcalc.ArchcalcError, match="extension"):
        export.save(alexnet, tmp_path / "out.docx")
    with pytest.raises(archcalc.ArchcalcError, match="unknown export format"):
        export.render(alexnet, "docx")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- list / show commands --

def cli_run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=RICH_ENV)
    return result.exit_code, result.output


def test_list_shows_every_bundled_spec_with_totals() -> None:
    code, output = cli_run("list", "--format", "json")
    assert code == 0, output
    rows = {row["name"]: row for row in json.loads(output)}
    assert set(rows) == set(archcalc.bundled_names())
    assert not [name for name, row in rows.items() if "error" in row]
    alexnet = rows["alexnet"]
    assert alexnet["params"] == 61_100_840 and alexnet["input"] == [3, 227, 227]
    assert alexnet["macs"] == 716_767_232 and alexnet["description"]
    # torchvision mobilenet_v2 at width 1.0: 3,504,872 params, 300,774,272 MACs
    assert (rows["mobilenet_v2"]["params"], rows["mobilenet_v2"]["macs"]) == (3_504_872,
                                                                            300_774_272)
    assert "mobilenet_v2_0.5" in rows["mobilenet_v2"]["variants"]
    code, table = cli_run("list")
    assert code == 0
    line = next(t for t in table.splitlines() if t.strip().startswith("alexnet "))
    assert "61.1 M" in line and "3×227×227" in line  # 61,100,840 params


def test_list_reports_a_broken_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "zz_broken.yaml").write_text("archcalc: 1\ninput: [3, 8, 8]\nlayers: [{cnv: {}}]\n")
    monkeypatch.setenv("ARCHCALC_SPECS", str(tmp_path))
    code, output = cli_run("list")
    assert code == 1
    assert "zz_broken" in output and "unknown layer type 'cnv'" in output
    assert "bundled specs that do not analyse: zz_broken" in output


def test_show_prints_the_yaml_to_copy(tmp_path: Path) -> None:
    code, output = cli_run("show", "alexnet")
    assert code == 0
    assert output == archcalc.load_spec("alexnet").text
    copy = tmp_path / "mynet.yaml"
    assert cli_run("show", "alexnet", "-o", str(copy))[0] == 0
    assert archcalc.analyze(str(copy)).totals == archcalc.analyze("alexnet").totals


def test_show_a_variant_writes_the_variant(tmp_path: Path) -> None:
    """`show VARIANT -o x.yaml` writes a spec that analyses as the variant (issue 14: the copy
    used to lose it and analyse as the default width)."""
    code, output = cli_run("show", "mobilenet_v2_0.5")
    assert code == 0
    assert output.startswith("# mobilenet_v2_0.5: variant '0.5' of mobilenet_v2.yaml")
    copy = tmp_path / "half.yaml"
    assert cli_run("show", "mobilenet_v2_0.5", "-o", str(copy))[0] == 0
    half = archcalc.analyze(str(copy))
    assert (half.totals.params, half.totals.macs) == (1_968_680, 97_131_840)  # torchvision
    for variant in ("efficientnet_b3", "resnet50_v1", "classifier_head_example_googlenet"):
        target = tmp_path / f"{variant}.yaml"
        assert cli_run("show", variant, "-o", str(target))[0] == 0
        assert archcalc.analyze(str(target)).totals == archcalc.analyze(variant).totals


def test_show_unknown_name_suggests() -> None:
    code, output = cli_run("show", "alexnt")
    assert code == 1
    assert "did you mean alexnet" in output


def test_save_into_a_missing_directory(tmp_path: Path, alexnet: archcalc.Report) -> None:
    with pytest.raises(archcalc.ArchcalcError, match=r"cannot write .*No such file or directory"):
        export.save(alexnet, tmp_path / "missing" / "alexnet.md")
