"""Readable output (issue 14): units, the width-aware layout, depth and ranges, columns, the
totals block, headers in every format, the JSON contract 2, the library's text and records,
and golden files of every command at 60, 80, 100, 120 and 200 columns.

Reference figures: torchvision 0.29 resnet50 (25,557,032 params, 4,089,184,256 MACs) and
torchinfo 1.8.0's summary of it, measured in the scratch PyTorch 2.14.1 environment with
``torchinfo.summary(resnet50(), input_size=(1, 3, 224, 224), depth=2)``: stage parameters
215,808 / 1,219,584 / 7,098,368 / 14,964,736, "Input size (MB): 0.60", "Params size (MB):
102.23", "Forward/backward pass size (MB): 177.83" (177,831,744 bytes), "Total mult-adds":
4,089,238,376. Everything else is worked out by hand below.

Update the golden files with ``pytest --update-golden`` and look at them (``tests/golden/
width/``): each is what a terminal of that width shows.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import archcalc
from archcalc import units
from archcalc.cli import cli
from archcalc.hierarchy import NotFound
from archcalc.tableview import Options, kernel_texts, parse_columns, table_view
from archcalc.terminal import explanation_lines, spec_list_lines, verify_lines
from archcalc.textable import Column, Row, render, shorten_name

Golden = Callable[[str, str], None]
WIDTHS = (60, 80, 100, 120, 200)
RESNET50_PARAMS = 25_557_032
RESNET50_MACS = 4_089_184_256
#: torchinfo depth=1 stage rows of resnet50 (Sequential 1-5 … 1-8), and conv1 + bn1, fc
RESNET50_STAGES = (215_808, 1_219_584, 7_098_368, 14_964_736)
STEM = 64 * 3 * 7 * 7 + 2 * 64
HEAD = 2048 * 1000 + 1000


def run(*args: str, width: int | None = 80) -> Result:
    env = {"COLUMNS": None if width is None else str(width), "NO_COLOR": None,
           "FORCE_COLOR": None}
    return CliRunner().invoke(cli, list(args), env=env)


def ok(*args: str, width: int | None = 80) -> str:
    result = run(*args, width=width)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def resnet50() -> archcalc.Report:
    return archcalc.analyze("resnet50")


# -------------------------------------------------------------------------------- units --

def test_units_three_significant_digits() -> None:
    assert units.si(RESNET50_PARAMS) == "25.6 M"  # the "Total params: 25.6 M"
    assert units.si(RESNET50_MACS) == "4.09 G"  # torchvision's "4.09 GFLOPS"
    assert units.binary(RESNET50_PARAMS * 4) == "97.5 MiB"  # 102,228,128 / 2^20 = 97.49
    assert units.si(118_013_952) == "118 M"  # ResNet-50 conv1: 64·112·112 · 3·7·7
    assert [units.si(n) for n in (0, 12, 999, 1000, 9_995, 99_949, 999_500)] == [
        "0", "12", "999", "1.00 k", "10.0 k", "99.9 k", "1.00 M"]  # 999.5 k rounds up a prefix
    assert [units.binary(n) for n in (0, 1023, 1024, 1536, 802_816)] == [
        "0 B", "1023 B", "1.00 KiB", "1.50 KiB", "784 KiB"]  # 802,816 / 1024 = 784
    assert units.binary(5 * 2**30) == "5.00 GiB"
    assert units.exact(61_100_840) == "61,100,840"
    assert units.megabytes(102_228_128) == "102.23 MB"  # torchinfo's "Params size (MB)"
    assert [units.lecture_kb(802_816), units.lecture_k(23_296), units.lecture_m(72_855_552)] \
        == ["784.0", "23.3", "72.9"]


def test_ratio_is_written_one_way() -> None:
    # seed 000: 672 / 2160 = 14/45 = 0.3111…; 1/120 = 0.008333…
    assert [units.ratio(v) for v in (Fraction(14, 45), Fraction(1, 120), Fraction(21, 50),
                                     Fraction(226, 100), Fraction(2158, 100), 250, 12345)] == [
        "0.311", "0.00833", "0.420", "2.26", "21.6", "250", "12,345"]
    assert units.percent(1, 3) == "33.3%" and units.percent(1, 0) == "–"


# ----------------------------------------------------------------------------- layout --

def test_numbers_are_never_cut_and_columns_drop_in_order() -> None:
    cols = (Column("layer", "layer", kind="name"), Column("a", "params"),
            Column("b", "MACs", drop=1), Column("c", "FLOPs", drop=2))
    rows = [Row(("conv1", "25,557,032", "4,089,184,256", "4,091,090,944"))]
    wide = render(cols, rows)
    assert wide.lines[2].text == "conv1  25,557,032  4,089,184,256  4,091,090,944"
    narrow = render(cols, rows, width=30)
    assert [c.key for c in narrow.dropped] == ["c", "b"]  # the highest drop rank first
    assert narrow.lines[2].text == "conv1  25,557,032"
    tiny = render(cols, rows, width=5)  # nothing left to drop: wider than asked, never cut
    assert "25,557,032" in tiny.text() and tiny.width > 5


def test_names_keep_their_distinguishing_tail() -> None:
    assert shorten_name("layer1.0.downsample1", 14) == "…0.downsample1"
    names = ["stage1.block.0.expand", "stage1.block.0.project", "stage2.block.0.expand"]
    rows = [Row((n, "1")) for n in names]
    cols = (Column("layer", "layer", kind="name"), Column("p", "params"))
    out = render(cols, rows, width=29)
    # the two "expand" rows differ only in their first part: the column keeps their 21
    # characters; "…block.0.project" is the longest tail of the third that fits in them
    assert [line.text.split()[0] for line in out.lines[2:]] == [
        "stage1.block.0.expand", "…block.0.project", "stage2.block.0.expand"]


def test_no_trailing_spaces_and_multiline_cells() -> None:
    cols = (Column("m", "", align="left"), Column("a", "alexnet"), Column("b", "vgg16"))
    out = render(cols, [Row(("params", "61.1 M", "138 M\n(2.26×)"))])
    assert [line.text for line in out.lines] == [
        "        alexnet    vgg16", "────────────────────────",
        "params   61.1 M    138 M", "                 (2.26×)"]
    assert all(line.text == line.text.rstrip() for line in out.lines)


# -------------------------------------------------------------------- depth and ranges --

def test_table_depth_one_is_the_paper_stage_table() -> None:
    text = ok("table", "resnet50", "--depth", "1", "--exact", "--quiet")
    rows = {line.split()[0]: line.split() for line in text.splitlines()[4:10]}
    assert list(rows) == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert [int(rows[name][4].replace(",", "")) for name in rows] == [
        STEM, *RESNET50_STAGES, HEAD]
    assert rows["layer3"][1:4] == ["25", "layers", "1024×14×14"]  # 6 blocks: 5·1 + 4·5 rows
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert f"{RESNET50_PARAMS:,}" in total and f"{RESNET50_MACS:,}" in total


def test_table_depth_two_and_full() -> None:
    lines = ok("table", "resnet50", "--depth", "2", "--quiet").splitlines()
    assert sum(1 for line in lines if line.startswith("  layer")) == 16  # the bottlenecks
    assert any(line.startswith("layer1 ") and "13 layers" in line for line in lines)
    full = ok("table", "resnet50", "--depth", "full", "--quiet").splitlines()
    assert any(line.startswith("    layer1.0.downsample1 ") for line in full)
    assert run("table", "resnet50", "--depth", "0").exit_code == 2


def test_range_with_subtotal_googlenet_stem_vs_vgg16() -> None:
    """The lecture's comparison: VGG-16 from 224 to 28 (conv1_1 … pool3): 1,735,488 params,
    10 rows (7 convs, 3 pools), output 256×28×28 (test_lecture_tables holds the rows)."""
    text = ok("table", "vgg16", "--from", "conv1_1", "--to", "pool3", "--exact", "--quiet")
    lines = text.splitlines()
    assert [line.split()[0] for line in lines[4:14]] == [
        "conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2", "conv3_1", "conv3_2",
        "conv3_3", "pool3"]
    rng = next(line for line in lines if line.startswith("range"))
    assert "1,735,488" in rng
    assert "range = conv1_1 … pool3: 10 layers, output 256×28×28" in text
    # a range by group names, and a reversed range
    assert "layer2.0.conv1" in ok("table", "resnet50", "--from", "layer2", "--to", "layer2")
    bad = run("table", "vgg16", "--from", "pool3", "--to", "conv1_1")
    assert bad.exit_code == 1 and "comes before" in bad.stderr
    missing = run("table", "vgg16", "--from", "conv9")
    assert missing.exit_code == 1 and "no layer or group named 'conv9'" in missing.stderr


def test_long_tables_collapse_to_a_depth_that_fits() -> None:
    report = archcalc.analyze("densenet264")
    view = table_view(report)
    assert len(report.layers) > 400 and len(view.rows) <= 400 + 1
    assert view.notes[0].startswith(f"{len(report.layers):,} layers shown at depth 2")
    every = table_view(report, Options(max_rows=None))
    assert sum(r.kind == "layer" for r in every.rows) == len(report.layers)
    html = report._repr_html_()  # Jupyter no longer cuts at 400 silently
    assert "layers shown at depth 2" in html


# ------------------------------------------------------------------------------- columns --

def test_columns_edit_and_kernel_text() -> None:
    assert parse_columns("+kernel,-rf") == ("layer", "type", "output", "kernel", "params",
                                            "macs", "flops", "memory")
    assert parse_columns("output,macs") == ("layer", "output", "macs")
    with pytest.raises(archcalc.ArchcalcError, match="unknown column 'mac'"):
        parse_columns("mac")
    kernels = kernel_texts(archcalc.to_graph("resnet50"))
    # torchvision's v1.5: conv1 7×7/2 pad 3, max-pool 3×3/2 pad 1, the stride in the 3×3
    assert kernels["conv1"] == "7×7 s2 p3" and kernels["maxpool"] == "3×3 s2 p1"
    assert kernels["layer1.0.conv1"] == "1×1" and kernels["layer2.0.conv2"] == "3×3 s2 p1"
    assert kernel_texts(archcalc.to_graph("resnext50_32x4d"))["layer1.0.conv2"] == "3×3 p1 g32"
    text = ok("table", "resnet50", "--columns", "layer,kernel,params%,macs%,cum-macs",
              "--quiet")
    conv1 = next(line for line in text.splitlines() if line.startswith("conv1 "))
    # 9,536 / 25,557,032 = 0.037 %; 118,013,952 / 4,089,184,256 = 2.886 %
    assert conv1.split() == ["conv1", "7×7", "s2", "p3", "0.0%", "2.9%", "118", "M"]
    assert run("table", "alexnet", "--columns", "macs,foo").exit_code == 2


def test_input_and_buffers_columns() -> None:
    text = ok("table", "resnet50", "--columns", "+input,+buffers", "--exact", "--wide",
              "--quiet")
    conv2 = next(line for line in text.splitlines() if line.startswith("layer1.0.conv2 "))
    assert "64×56×56" in conv2.split()[2] and "128" in conv2.split()  # BN mean + var of 64


# ---------------------------------------------------------------- styles and the footer --

def test_lecture_style_is_the_default_for_the_lecture_tables_only() -> None:
    assert "memory KB  params k  flop M" in ok("table", "alexnet")
    assert "params    MACs" in ok("table", "lenet5")  # the LeNet slides print exact counts
    assert "memory KB" in ok("table", "resnet50", "--style", "lecture")
    human = ok("table", "alexnet", "--style", "human")
    assert "fc6      fc+relu    4096       37.8 M  37.7 M  37.7 M  16.0 KiB" in human


def test_small_models_read_in_human_units() -> None:
    lenet = ok("table", "lenet5", "--quiet")
    c1 = next(line for line in lenet.splitlines() if line.startswith("C1 "))
    # C1: 6·(5·5 + 1) = 156 params; 6·28·28 · 25 = 117,600 MACs; 6·28·28·4 = 18,816 B
    assert c1.split()[3:9] == ["156", "118", "k", "118", "k", "18.4"]
    listing = ok("list")
    line = next(t for t in listing.splitlines() if t.startswith("lenet5 "))
    assert "60.8 k" in line and "328 k" in line  # was "0.000" GMACs


def test_dropped_columns_footer_and_wide() -> None:
    narrow = ok("table", "resnet50", width=80)
    assert "not shown at 80 columns: FLOPs — --wide shows every column" in narrow
    assert all(len(line) <= 80 for line in narrow.splitlines())
    wide = ok("table", "resnet50", "--wide", width=80)
    assert "not shown" not in wide and "FLOPs" in wide.splitlines()[2]


def test_convention_one_line_full_and_quiet() -> None:
    text = ok("table", "resnet50", width=200)
    assert "FLOPs = MACs + pooling-window reads" in text
    assert "--explain-convention" in text and "bias, BN, activations" not in text
    full = " ".join(ok("table", "resnet50", "--explain-convention", width=200).split())
    assert "bias, BN, activations and merges are not counted" in full
    quiet = ok("table", "resnet50", "--quiet")
    assert "Total params" not in quiet and "pooling-window" not in quiet


# ----------------------------------------------------------------------- totals block --

def test_totals_block_matches_torchinfo_where_the_definitions_agree(
        resnet50: archcalc.Report) -> None:
    text = ok("table", "resnet50", width=100)
    block = dict(line.split(":", 1) for line in text.splitlines()
                 if ":" in line and line.split(":")[0] in (
                     "Total params", "Trainable params", "Non-trainable params", "Input size",
                     "Params size", "Total MACs"))
    assert block["Total params"].split() == ["25,557,032", "(25.6", "M)"]
    assert block["Trainable params"].split()[0] == "25,557,032"
    assert block["Non-trainable params"].split() == ["0"]
    assert block["Input size"].split()[-2:] == ["(0.60", "MB)"]  # torchinfo: 0.60
    assert block["Params size"].split() == ["97.5", "MiB", "(102.23", "MB)"]  # torchinfo 102.23
    assert resnet50.input_bytes == 3 * 224 * 224 * 4 == 602_112
    assert resnet50.buffer_bytes == 53_120 * 4  # 2 per BN channel, float32
    assert resnet50.estimated_total_bytes == (RESNET50_PARAMS * 4 + 53_120 * 4
                                              + resnet50.totals.peak_activation_bytes)


def test_where_torchinfo_counts_differently(resnet50: archcalc.Report) -> None:
    """The README's account of the two torchinfo figures archcalc does not print as such:
    "Total mult-adds" adds BN's γ, β count and the fc bias to the MACs; "Forward/backward pass
    size" is 2 × the outputs of the modules that hold parameters (a fused BN is a module)."""
    bn_params = resnet50.totals.buffers  # γ, β per BN channel = mean, var per channel
    assert resnet50.totals.macs + bn_params + 1000 == 4_089_238_376
    fwd_bwd = 2 * sum(row.activation_bytes * (1 + row.post.count("bn"))
                      for row in resnet50.layers if row.params)
    assert fwd_bwd == 177_831_744


# -------------------------------------------------------------------- every format says --

@pytest.mark.parametrize("fmt", ["table", "markdown", "latex", "html", "csv"])
def test_every_format_names_input_batch_dtype_convention(fmt: str) -> None:
    text = ok("table", "alexnet", "--batch", "8", "--dtype", "float16", "-f", fmt, width=200)
    head = "\n".join(text.splitlines()[:3])
    for part in ("3×227×227" if fmt != "latex" else "3$\\times$227$\\times$227", "batch 8",
                 "float16", "FLOPs: lecture"):
        assert part in head, (fmt, part)


def test_json_and_csv_refuse_view_options_and_unknown_extensions(tmp_path: Path) -> None:
    res = run("table", "resnet50", "-f", "json", "--depth", "1")
    assert res.exit_code == 2 and "always carries every layer" in res.output
    target = tmp_path / "out.yaml"
    res = run("table", "alexnet", "-o", str(target))
    assert res.exit_code == 2 and "cannot tell the format" in res.output
    assert not target.exists()
    text = tmp_path / "out.txt"
    assert run("table", "alexnet", "-o", str(text)).exit_code == 0
    assert text.read_text().startswith("AlexNet (lecture variant) · input")


# ---------------------------------------------------------------------- JSON contract 2 --

def test_json_contract_2_paths_and_groups(resnet50: archcalc.Report) -> None:
    data = json.loads(ok("table", "resnet50", "-f", "json"))
    assert data["archcalc_json"] == 3
    conv = next(layer for layer in data["layers"] if layer["name"] == "layer1.0.conv1")
    assert conv["path"] == ["layer1", "layer1.0"]
    groups = {g["name"]: g for g in data["groups"]}
    assert [g["name"] for g in data["groups"] if g["level"] == 1] == [
        "stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert [groups[f"layer{i}"]["params"] for i in range(1, 5)] == list(RESNET50_STAGES)
    assert groups["layer1.0"] == {
        "name": "layer1.0", "aliases": [], "parent": "layer1", "level": 2, "synthetic": False,
        "first": "layer1.0.conv1", "last": "layer1.0.add", "layers": 5,
        "output_shape": [256, 56, 56], "params": 75_008, "buffers": 1_280,
        "macs": 56 * 56 * (64 * 64 + 64 * 64 * 9 + 64 * 256 + 64 * 256),
        "flops": 56 * 56 * (64 * 64 + 64 * 64 * 9 + 64 * 256 + 64 * 256),
        "activation_bytes": (2 * 64 + 3 * 256) * 56 * 56 * 4}  # conv1, conv2 | conv3, …
    assert groups["stem"]["synthetic"] is True and groups["stem"]["first"] == "conv1"
    assert data["totals"]["input_bytes"] == 602_112


def test_json_text_equals_the_dict_for_every_bundled_spec() -> None:
    for name in archcalc.bundled_names():
        report = archcalc.analyze(name)
        assert json.loads(report.to_json()) == report.to_dict(), name
    # fractional receptive-field starts (pooling with an even window) and names to escape
    report = archcalc.analyze(archcalc.builder.spec('q"uote ü', [3, 8, 8], [
        archcalc.builder.conv(4, 3, p=1, id='a"b\\c'), archcalc.builder.maxpool(2)]))
    data = json.loads(report.to_json())
    # the 3×3 conv with padding 1 centres its first unit on pixel 0; the 2×2 pool's first
    # window covers units 0 and 1, centred at ½
    assert data == report.to_dict() and data["layers"][1]["receptive_field"]["start"] == [
        0.5, 0.5]


# ----------------------------------------------------------------------------- library --

def test_str_text_records_and_lookups(resnet50: archcalc.Report) -> None:
    assert str(resnet50) == resnet50.to_text()
    assert str(resnet50).startswith("ResNet-50 · input 3×224×224 · batch 1 · float32")
    assert len(repr(resnet50)) > 0 and "Report(" in repr(resnet50)
    assert all(len(line) <= 100 for line in str(resnet50).splitlines())
    one = resnet50.to_text(width=60, depth=1, quiet=True)
    assert next(x for x in one.splitlines() if x[:1].isalpha() and " layers " in x).startswith(
        "stem ")
    records = resnet50.to_records()
    assert len(records) == len(resnet50.layers)
    assert records[2]["name"] == "layer1.0.conv1" and records[2]["group"] == "layer1.0"
    assert records[0]["group"] == "stem" and records[0]["rf_size"] == (7, 7)
    assert sum(r["params"] for r in records) == RESNET50_PARAMS
    assert resnet50.group("layer3").totals.params == RESNET50_STAGES[2]
    with pytest.raises(NotFound) as info:
        resnet50.layer("layer1.0.conv4")
    assert isinstance(info.value, KeyError) and "did you mean" in str(info.value)
    md = resnet50.to_markdown(depth=1)
    assert "| layer2 | 17 layers | 512×28×28 | 1.22 M |" in md


def test_to_pandas(resnet50: archcalc.Report, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real = importlib.import_module

    def no_pandas(name: str, *args: Any) -> Any:
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_pandas)
    with pytest.raises(archcalc.ArchcalcError, match=r"archcalc\[pandas\]"):
        resnet50.to_pandas()
    monkeypatch.undo()
    pandas = pytest.importorskip("pandas")  # the `pandas` extra; `make test-extras` installs it
    frame = resnet50.to_pandas()
    assert isinstance(frame, pandas.DataFrame) and frame.index.name == "name"
    assert int(frame["params"].sum()) == RESNET50_PARAMS
    assert frame.loc["layer1.0.conv2", "group"] == "layer1.0"
    assert int(frame.groupby("group")["params"].sum()["layer1.0"]) == 75_008


# -------------------------------------------------------------------------- at any width --

def _lines_fit(text: str, width: int) -> list[str]:
    return [line for line in text.splitlines() if len(line) > width]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(("name", "args"), [
    ("table-resnet50", ("table", "resnet50")),
    ("table-resnet50-depth1", ("table", "resnet50", "--depth", "1")),
    ("table-alexnet", ("table", "alexnet")),
    ("compare-specs", ("compare", "alexnet", "vgg16", "resnet50", "mobilenet_v2")),
    ("compare-separable", ("compare", "vgg16", "--separable")),
    ("sweep-efficientnet", ("sweep", "efficientnet", "--zip", "--set",
                            "width=1,1,1.1,1.2,1.4,1.6,1.8,2", "--set",
                            "depth=1,1.1,1.2,1.4,1.8,2.2,2.6,3.1", "--set",
                            "resolution=224,240,260,300,380,456,528,600")),
    ("explain-conv1", ("explain", "alexnet", "conv1")),
])
def test_golden_at_each_width(golden: Golden, name: str, args: tuple[str, ...],
                              width: int) -> None:
    text = ok(*args, width=width)
    golden(f"width/{name}.{width}.txt", text)
    assert all(line == line.rstrip() for line in text.splitlines()), "trailing spaces"
    assert not _lines_fit(text, width), f"lines wider than {width}"


@pytest.mark.parametrize("width", WIDTHS)
def test_golden_verify(golden: Golden, width: int) -> None:
    """verify's table from a real run, the times and NumPy's scratch allocations fixed (they
    vary run to run)."""
    data = json.loads(ok("verify", "alexnet", "-f", "json"))
    for step in data["layers"]:
        step["seconds"] = 0.0123
    data["totals"]["seconds"], data["totals"]["wall_seconds"] = 0.15, 0.5
    data["memory"]["peak_allocated_bytes"] = 10 * 2**20
    text = "".join(f"{line.text}\n" for line in verify_lines(data, width=width))
    golden(f"width/verify-alexnet.{width}.txt", text)
    assert not _lines_fit(text, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_golden_list(golden: Golden, width: int) -> None:
    """list's table for a fixed set of specs (the bundled set grows)."""
    from archcalc.cli_tools import spec_rows

    keep = ("alexnet", "classifier_head_example", "efficientnet", "lenet5", "resnet50")
    rows = [row for row in spec_rows() if row["name"] in keep]
    text = "".join(f"{line.text}\n" for line in spec_list_lines(rows, width=width))
    golden(f"width/list.{width}.txt", text)
    assert not _lines_fit(text, width)


def test_explain_breaks_before_equals_signs() -> None:
    graph = archcalc.to_graph("alexnet")
    from archcalc.explain import explain

    lines = explanation_lines(explain(graph, "conv1"), width=60)
    i = next(i for i, line in enumerate(lines) if line.lstrip().startswith("MACs ="))
    assert lines[i] == "  MACs = C_out·H′·W′·C_in·K·K = 64·56·56·3·11·11"
    assert lines[i + 1] == "       = 72,855,552"
    assert all(len(line) <= 60 for line in lines)


def test_piped_output_honours_columns() -> None:
    for width in (60, 120):
        text = ok("list", width=width)
        assert max(len(line) for line in text.splitlines()) <= width
    text = ok("table", "resnet50", width=None)  # no COLUMNS, no terminal: 100
    assert max(len(line) for line in text.splitlines()) <= 100
