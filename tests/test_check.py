"""`archcalc check SPEC TABLE`: the slips of docs/lecture-errata.md, found from the slides.

Each fixture in tests/fixtures/slides/ is a slide of the seeds pasted as the text rendering gives
it (a comment names the seed; where the rendering lost a header cell or a row label, the fixture
says what was restored). Every test asserts the exact places the check flags — the errata's
slips — and that it flags nothing else. The first-principles values the check prints come from
the engine; the numbers asserted here are the errata's hand derivations.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import archcalc
from archcalc.check import CheckResult, check, network
from archcalc.check_parse import chain, evaluate, printed_number, read
from archcalc.cli import cli as archcalc_cli
from archcalc.errors import ArchcalcError

SLIDES = Path(__file__).resolve().parent / "fixtures" / "slides"


def run_check(fixture: str, spec: str, against: str | None = None,
              text: str | None = None) -> CheckResult:
    def net(name: str) -> Any:
        base, _, span = name.partition(":")
        first, _, last = span.partition("..")
        return network(archcalc.load_spec(base), base, first=first or None, last=last or None)

    body = text if text is not None else (SLIDES / fixture).read_text(encoding="utf-8")
    return check(body, net(spec), spec=archcalc.load_spec(spec.partition(":")[0]),
                 against=net(against) if against else None, source=fixture)


def flagged(result: CheckResult) -> list[tuple[int, str, str]]:
    return [(f.line, f.where, f.printed) for f in result.disagreements]


def cli(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(archcalc_cli, list(args), input=stdin)


# ------------------------------------------------------------------------ the errata, 1–22 --

def test_alexnet_table_slips_1_to_5() -> None:
    """Seed 003's AlexNet table and its worked examples: conv4 flop 145 (150, slip 1), fc6 params
    37,749 k (37,753: 9216·4096 + 4096, slip 2), the example's "= 37,725,832" (37,752,832, slip
    3), "9216 * 6409" for 9216·4096 (slip 4), fc7/fc8 16,777 k / 4,096 k (16,781 / 4,097: the
    bias left out, slip 5). Everything else — 117 figures — agrees."""
    r = run_check("003_alexnet.txt", "alexnet")
    assert flagged(r) == [
        (9, "conv4 · flop (M)", "145"),
        (13, "fc6 · params (k)", "37,749"),
        (14, "fc7 · params (k)", "16,777"),
        (15, "fc8 · params (k)", "4,096"),
        (66, "arithmetic", "37,725,832"),
        (72, "arithmetic", "9216 * 6409"),
    ]
    by_line = {f.line: f for f in r.disagreements}
    assert by_line[9].expected == "150 (149,520,384 FLOPs)"  # (256·13·13)·(384·3·3)
    assert "256·13·13·384·3·3 = 149,520,384" in "\n".join(by_line[9].derivation)
    assert by_line[13].expected == "37,753 (37,752,832 params)"  # 9216·4096 + 4096
    assert by_line[13].cause.startswith("the bias left out: weights only = 37,748,736")
    assert by_line[15].expected == "4,097 (4,097,000 params)"  # 4096·1000 + 1000
    assert by_line[66].cause == "digits transposed: the value rounds to 37,752,832"
    assert "6409 should be 4096" in by_line[72].cause
    assert len(r.findings) == 123 and not r.skipped


def test_alexnet_vs_vgg16_slips_6_to_8() -> None:
    """"AlexNet total: 1.9 MB" (2.28 MB, slip 6: the conv and fc rows only), "VGG-16 total:
    48.6 MB" (57.6, slip 7), "13.6 GFLOP (19.4x)" (15.5 GFLOP, 21.6x: slip 8); the 25x agrees
    (25.2). The params lines ("61M", "138M") do not say what they measure: not checked."""
    r = run_check("003_alexnet_vs_vgg16.txt", "vgg16", against="alexnet")
    assert flagged(r) == [
        (18, "alexnet total memory", "1.9 MB"),
        (20, "vgg16 total memory", "48.6 MB"),
        (30, "vgg16 total flop", "13.6 GFLOP"),
        (30, "vgg16 total flop ratio to alexnet", "19.4x"),
    ]
    alex, vgg_mem, vgg_flop, ratio = r.disagreements
    # 2,395,296 B / 1024² = 2.28 MB; conv + fc rows: (200,704 + 139,968 + 64,896 + 2·43,264 +
    # 4096 + 4096 + 1000)·4 = 2,005,152 B = 1.91 MB
    assert alex.expected == "2.3 MB (2,395,296)"
    assert alex.cause.startswith("only the conv and fc rows were summed") and "2,005,152" in \
        alex.cause
    assert vgg_mem.expected == "57.6 MB (60,448,672)"
    assert vgg_flop.expected == "15.5 GFLOP (15,476,385,792)"
    assert ratio.expected == "21.6x" and "13.6 GFLOP / 0.7 GFLOP = 19.43" in ratio.cause
    assert [f.printed for f in r.findings if f.agrees] == ["25x", "0.7 GFLOP"]
    assert [s.line for s in r.skipped] == [23, 25]


def test_vgg_design_slips_9_and_10() -> None:
    """"Stage 3: conv-conv-pool" (VGG-16 has conv-conv-conv-pool, slip 9); "(VGG-19 has 4 conv
    in stages 4 and 5)" — stages 3, 4 and 5 (slip 10). Stages 1, 2, 4, 5 agree; the design
    rules in symbols (4HWC, 9C², 36HWC²) are formulas, not figures."""
    r = run_check("003_vgg_design.txt", "vgg16", against="vgg19")
    assert flagged(r) == [
        (12, "vgg16 stages", "Stage 3: conv-conv-pool"),
        (19, "vgg19 stages", "VGG-19 has 4 conv in stages 4 and 5"),
    ]
    stage3, vgg19 = r.disagreements
    assert stage3.expected == "conv-conv-conv-pool"
    assert vgg19.expected == "4 convs in stages 3, 4, 5"
    assert len(r.findings) == 6 and not r.skipped


def test_googlenet_stem_slips_11_and_12() -> None:
    """The stem's "MFLOP: 418" (481 = 118 + 2 + 13 + 347 + 1, slip 11, digits transposed), and
    "Compare VGG-16" from 224 to 28 (conv1_1 … pool3): 42.9 MB, 1.1M, 7485 MFLOP and 5.7x, 8.9x,
    17.8x are 51.3 MB, 1.74M, 9341 and 6.9x, 13.9x, 19.4x (slip 12). Every stem row agrees."""
    r = run_check("003_googlenet_stem.txt", "googlenet_stem", against="vgg16:..pool3")
    got = flagged(r)
    assert got[0] == (13, "googlenet_stem total flop", "418")
    assert r.disagreements[0].cause == "digits transposed: the value rounds to 481"
    assert got[1:] == [
        (16, "vgg16 (conv1_1 … pool3) total memory", "42.9 MB"),
        (16, "vgg16 (conv1_1 … pool3) total memory ratio to googlenet_stem", "5.7x"),
        (17, "vgg16 (conv1_1 … pool3) total params", "1.1M"),
        (17, "vgg16 (conv1_1 … pool3) total params ratio to googlenet_stem", "8.9x"),
        (18, "vgg16 (conv1_1 … pool3) total flop", "7485"),
        (18, "vgg16 (conv1_1 … pool3) total flop ratio to googlenet_stem", "17.8x"),
    ]
    # errata 12: 52,528 KB = 51.3 MB; 1,735,488 params; 9,335,144,448 + 5,619,712 FLOPs
    assert [f.expected for f in r.disagreements[1:]] == [
        "51.3 MB (53,788,672)", "6.9x", "1.7 M (1,735,488)", "13.9x", "9,341 (9,340,764,160)",
        "19.4x"]
    assert 52_528 * 1024 == 53_788_672 and 9_335_144_448 + 5_619_712 == 9_340_764_160
    agreeing = [f.printed for f in r.findings if f.agrees and f.line > 10]
    assert agreeing == ["7.5 MB", "124K"]  # 7,644 KB = 7.46 MB; 124,416 params


def test_googlenet_gap_slip_13_and_vgg16_head_slip_14() -> None:
    """GoogLeNet's head: the fc's memory "0" is 1000·4 B = 3.9 KB → 4 (slip 13). VGG-16's head
    it is compared with: fc6/fc7/fc8 102760 / 16777 / 4096 K are the weights without the bias
    (102,765 / 16,781 / 4,097: slip 14)."""
    gap = run_check("003_googlenet_gap.txt", "classifier_head_example_googlenet")
    assert flagged(gap) == [(6, "fc (classifier) · memory (KB)", "0")]
    assert gap.disagreements[0].expected == "4 (4,000 B)"
    head = run_check("003_vgg16_head.txt", "vgg16")
    assert flagged(head) == [(6, "fc6 · params (K)", "102760"), (7, "fc7 · params (K)", "16777"),
                             (8, "fc8 · params (K)", "4096")]
    assert [f.expected.split(" (")[0] for f in head.disagreements] == ["102,765", "16,781",
                                                                       "4,097"]
    assert all(f.cause.startswith("the bias left out") for f in head.disagreements)
    # the rendering put the fc widths under "kernel": listed, not checked (an fc has none)
    assert [s.why for s in head.skipped] == ["a fc has no kernel"] * 3


def test_vgg16_structure_slips_15_and_16() -> None:
    """Seed 004: the second max-pool row's 65,664 params (= 2·2·128·128 + 128, the conv rule on
    a pooling row: slip 15) and the total 138,423,208 that carries it (138,357,544: slip 16)."""
    r = run_check("004_vgg16_structure.txt", "vgg16")
    assert flagged(r) == [(13, "maxpool (pool2) · Param", "65664"),
                          (29, "Total · Param", "138,423,208")]
    pool, total = r.disagreements
    assert "2·2·128·128 + 128 = 65,664" in pool.cause
    assert 2 * 2 * 128 * 128 + 128 == 65_664
    assert total.expected == "138,357,544 (138,357,544)"
    assert 138_423_208 - 65_664 == 138_357_544
    assert total.cause.startswith("the total of the slide's own column")
    assert len(r.findings) == 244


def test_lenet_slips_17_and_18() -> None:
    """Seed 004's LeNet: S4 "Trainable params: 12" (16 + 16 = 32, slip 17: S2's text copied);
    C5 "120x(5x5x16 +1bias)=42120" (120·401 = 48,120, slip 18). C1 156, C3 1516, S2 12, the
    kernels, pads and strides agree."""
    r = run_check("004_lenet.txt", "lenet5")
    assert flagged(r) == [(29, "S4 · params", "12"), (41, "C5 · params", "42120")]
    s4, c5 = r.disagreements
    assert s4.expected == "32 params" and s4.cause == "the value of S2 (12), copied?"
    assert c5.expected == "48,120 params" and "gives 48,120" in c5.cause
    assert 120 * (5 * 5 * 16 + 1) == 48_120
    assert {f.printed for f in r.findings if f.quantity == "params" and f.agrees} == {
        "156", "1516", "12"}


def test_googlenet_fc_slip_19() -> None:
    """Seed 001: "7 × 7 × 1024 × 1024 = 51.3M" is 51,380,224 = 51.4M (truncated: slip 19); the
    Inception figures 112.9M, 1.5M, 3.8M, 5.3M agree."""
    r = run_check("001_googlenet.txt", "googlenet")
    assert flagged(r) == [(18, "arithmetic", "51.3M")]
    assert r.disagreements[0].cause == "truncated, not rounded: the value is 51.38"
    assert len(r.findings) == 5


def test_mobilenet_v2_block_slip_20() -> None:
    """Seed 000: "2.6M = 6 × 6 × 128 × 9 × 64" (2,654,208) and "2.7M = …" (2,778,624) are
    truncated (2.65M, 2.78M: slip 20); 120m, 2.4m, 10m, 12.4m, 2160, 432, 240, 672, 0.31
    agree."""
    r = run_check("000_costs.txt", "mobilenet_v2")
    assert [(f.line, f.printed) for f in r.disagreements] == [(23, "2.6M"), (25, "2.7M")]
    assert [f.cause for f in r.disagreements] == [
        "truncated, not rounded: the value is 2.654", "truncated, not rounded: the value is 2.779"]
    assert 6 * 6 * 128 * 9 * 64 == 2_654_208
    assert 6 * 6 * 384 * 64 + 6 * 6 * 384 * 9 + 6 * 6 * 128 * 384 == 2_778_624
    assert len(r.findings) == 11


def test_mobilenet_table7_slip_21() -> None:
    """MobileNet v1 Table 7 at 160 px: 290 M mult-adds, first principles 290,675,200 → 291 (slip
    21): the 224 row's 569 scaled by (160/224)² gives 290.3 — the fc's 1,024,000 do not scale.
    Table 6 (width) and the other resolutions agree, mult-adds and params."""
    r = run_check("mobilenet_tables_6_7.md", "mobilenet_v1")
    assert flagged(r) == [(20, "resolution=160 · Million Mult-Adds", "290")]
    assert r.disagreements[0].expected == "291 (290,675,200)"
    assert "scaled by (160/224)²: 290.3" in r.disagreements[0].cause
    assert round(569 * 160**2 / 224**2, 1) == 290.3
    assert len(r.findings) == 16 and [s.text for s in r.skipped] == [
        "column 'ImageNet Accuracy'"] * 2


def test_mobilenet_table1_slip_22() -> None:
    """Table 1 as printed in seed 000: the last "Conv dw / s2" at 7×7×1024 is stride 1 (a
    stride 2 would make the map 4×4; the next row reads 7×7×1024: slip 22). Every other row —
    the 5× group expanded — agrees; the spec has no softmax layer, so that row is listed."""
    r = run_check("000_mobilenet_v1_body.txt", "mobilenet_v1")
    assert flagged(r) == [(20, "Conv dw / s2 (stage9.0.dwconv1) · Type / Stride",
                          "Conv dw / s2")]
    assert r.disagreements[0].expected == "stride 1"
    assert "next row reads 7 × 7 × 1024" in r.disagreements[0].cause
    assert [s.text for s in r.skipped] == ["row 'Softmax / s1'"]
    assert len(r.findings) == 82


def test_slides_without_slips_pass() -> None:
    """The ResNet stem rows (GoogLeNet's, seed 003) and the "Neural network example" (seed 000,
    the parameter expressions (5×5×3 + 1)·8 = 608, …, 84·10 + 10 = 850) agree everywhere."""
    for fixture, spec, count in (("003_resnet_stem.txt", "googlenet_stem", 21),
                                 ("000_nn_example.txt", "lenet_example", 8)):
        r = run_check(fixture, spec)
        assert r.ok and len(r.findings) == count, (fixture, flagged(r))


def test_errata_items_accounted_for() -> None:
    """Every slip of docs/lecture-errata.md's 24 is flagged by one of the tests above (1–22),
    or is an arithmetic example of a convolution, not a cost: 23 and 24, the "Strided
    convolution" outputs, which the NumPy executor recomputes (tests/test_execute.py). 25–27 are
    published tables the check does not read (a row per network): Table 4's 4866 is asserted in
    tests/test_rewrites.py, the ResNet counts in tests/test_zoo.py."""
    errata = (Path(__file__).resolve().parent.parent / "docs" / "lecture-errata.md").read_text()
    rows = [line for line in errata.splitlines() if line.startswith("| ") and
            line.split("|")[1].strip().isdigit()]
    assert [int(r.split("|")[1]) for r in rows] == list(range(1, 28))
    assert "88" in rows[22] and "117" in rows[23]
    assert "4,867,293,184" in rows[24] and "3,663,761,408" in rows[25]
    assert (archcalc.analyze("resnet34").totals.macs,
            archcalc.analyze("resnet50_v1").totals.macs) == (3_663_761_408, 3_857_973_248)
    executor_tests = (Path(__file__).resolve().parent / "test_execute.py").read_text()
    assert "88" in executor_tests and "117" in executor_tests


# ---------------------------------------------------------------------- formats and parts --


def _as(fmt: str, tsv: str) -> str:
    rows = [line.split("\t") for line in tsv.splitlines() if "\t" in line]
    if fmt == "markdown":
        out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
        return "\n".join(out) + "\n"
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def test_markdown_csv_and_tsv_read_alike() -> None:
    """The AlexNet table pasted as Markdown or CSV (numbers with thousands commas quoted) flags
    the same cells as the tab-separated slide."""
    tsv = "\n".join((SLIDES / "003_alexnet.txt").read_text().splitlines()[2:15]) + "\n"
    want = [(w, p) for _, w, p in flagged(run_check("t", "alexnet", text=tsv))]
    assert want == [("conv4 · flop (M)", "145"), ("fc6 · params (k)", "37,749"),
                    ("fc7 · params (k)", "16,777"), ("fc8 · params (k)", "4,096")]
    for fmt in ("markdown", "csv"):
        got = [(w, p) for _, w, p in flagged(run_check("t", "alexnet", text=_as(fmt, tsv)))]
        assert got == want, fmt


def test_rows_by_type_in_order_and_layer_names() -> None:
    """Unnamed rows match layers of their type in data-flow order, choosing the assignment that
    agrees most: "conv" rows of the GoogLeNet stem are conv1, conv2_reduce, conv2."""
    r = run_check("003_googlenet_stem.txt", "googlenet_stem", against="vgg16:..pool3")
    rows = [f.where.split(" · ")[0] for f in r.findings if f.line in (4, 6, 7)]
    assert list(dict.fromkeys(rows)) == ["conv (conv1)", "conv (conv2_reduce)", "conv (conv2)"]
    table = [f for f in r.findings if f.line <= 8 and f.quantity == "params"]
    assert [f.printed for f in table] == ["9", "0", "4", "111", "0"]
    assert all(f.agrees for f in table)  # 9,472 · 0 · 4,160 · 110,784 · 0


def test_printed_rounding() -> None:
    """A printed number stands for the interval of half its last digit: 182 KB for 182.25,
    0 MFLOP for 0.42, 7.5 MB for 7.46 MB; 2.6M is not 2,654,208."""
    kb = printed_number("182", 1024, "KB")
    assert kb is not None and kb.agrees(186_624) and not kb.agrees(187_200)
    assert printed_number("7.5 MB") is not None
    assert printed_number("2.6M").agrees(2_600_000)  # type: ignore[union-attr]
    assert not printed_number("2.6M").agrees(2_654_208)  # type: ignore[union-attr]
    assert printed_number("0.39B").value == 390_000_000  # type: ignore[union-attr]
    assert printed_number("four") is None
    assert evaluate("120x(5x5x16 +1bias)") == (48_120, ("120", "5", "5", "16", "1"))
    assert evaluate("C_in × C_out + C_out") is None
    assert evaluate("floor(53 / 2 + 1)")[0] == 27  # type: ignore[index]
    assert evaluate("10m + 2.4m")[0] == 12_400_000  # type: ignore[index]
    ch = chain(1, "W' = floor((W - K) / S + 1) = floor(53 / 2 + 1) = 27")
    assert [p.value for p in ch.numeric] == [27, 27]


def test_check_cli_exit_codes_and_formats(tmp_path: Path) -> None:
    bad = cli("check", "alexnet", str(SLIDES / "003_alexnet.txt"))
    assert bad.exit_code == 1
    assert ("003_alexnet.txt:9:39: conv4 · flop (M)\n  slide 145, first principles 150 "
            "(149,520,384 FLOPs)\n") in bad.output
    assert "likely cause:" in bad.output and "123 figures checked" in bad.output
    good = cli("check", "googlenet_stem", str(SLIDES / "003_resnet_stem.txt"))
    assert good.exit_code == 0, good.output
    assert "21 figures checked against googlenet_stem: 21 agree, 0 disagree" in good.output
    data = json.loads(cli("check", "alexnet", str(SLIDES / "003_alexnet.txt"), "-f",
                          "json").output)
    assert set(data) == {"archcalc_check", "spec", "against", "source", "convention", "dtype",
                         "batch", "ok", "checked", "disagree", "findings", "skipped"}
    assert (data["archcalc_check"], data["ok"], data["checked"], data["disagree"]) == (
        1, False, 123, 6)
    assert set(data["findings"][0]) == {"line", "col", "where", "quantity", "printed",
                                        "expected", "agrees", "derivation", "cause"}
    md = cli("check", "alexnet", str(SLIDES / "003_alexnet.txt"), "-f", "markdown").output
    assert "| 9:39 | conv4 · flop (M) | 145 | 150 (149,520,384 FLOPs) | **no** |" in md
    stdin = cli("check", "googlenet_stem", "-",
                stdin=(SLIDES / "003_resnet_stem.txt").read_text())
    assert stdin.exit_code == 0 and "<stdin>" in stdin.output
    strict = cli("check", "vgg16", str(SLIDES / "003_vgg16_head.txt"), "--strict")
    assert strict.exit_code == 1
    every = cli("check", "googlenet_stem", str(SLIDES / "003_resnet_stem.txt"), "--all")
    assert every.output.count(": ok ") == 21
    out = tmp_path / "report.json"
    assert cli("check", "alexnet", str(SLIDES / "003_alexnet.txt"), "-o", str(out)).exit_code \
        == 1
    assert json.loads(out.read_text())["disagree"] == 6


@pytest.mark.parametrize("args, code, text", [
    (["alexnet", "/no/such/file.txt"], 1, "cannot read /no/such/file.txt"),
    (["alexnet:conv9..fc8", "-"], 1, "has no layer 'conv9'"),
    (["alexnet:conv1", "-"], 2, "a layer range is SPEC:FIRST..LAST"),
])
def test_check_cli_errors(args: list[str], code: int, text: str) -> None:
    result = cli("check", *args, stdin="x\n")
    assert result.exit_code == code, result.output
    assert text in result.output and "Traceback" not in result.output


def test_check_needs_something_to_check() -> None:
    with pytest.raises(ArchcalcError, match="found no table"):
        run_check("t", "alexnet", text="just words here\n")
    with pytest.raises(ArchcalcError, match="at most"):
        read("x\n" * 6000)


def test_statements_without_a_second_network_are_listed() -> None:
    r = run_check("t", "alexnet", text="AlexNet total: 0.7 GFLOP\nVGG-16 total: 13.6 GFLOP "
                                        "(19.4x)\n")
    assert [f.printed for f in r.findings] == ["0.7 GFLOP"] and r.ok
    assert "VGG-16" in r.skipped[0].why and "--against" in r.skipped[0].why
