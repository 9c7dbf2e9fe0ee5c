"""Every bad spec gets one clear, located error (issue 7).

Each case is a broken spec; the test checks, through the CLI and through the library:
the exit code (1), nothing on stdout and no ``-o`` file, ``file:line:col`` (1-based, counted by
hand from the YAML text — the comment beside each case shows the count), the layer name, the
expected/received wording, and the hint. Limits are checked to be refused quickly.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import archcalc
from archcalc.cli import cli
from archcalc.errors import ArchcalcError, ShapeError, SpecError

HEAD = "archcalc: 1\nname: t\ninput: [3, 8, 8]\nlayers:\n"  # lines 1-4; the first layer: line 5
HEAD5 = HEAD.replace("[3, 8, 8]", "[3, 5, 5]")
HEAD1D = "archcalc: 1\ninput: [3, 8]\nlayers:\n"  # the first layer: line 4


@dataclass(frozen=True)
class Bad:
    id: str
    text: str
    line: int
    col: int
    says: tuple[str, ...]  # all in the first line of the message
    hint: str  # in the hint line
    error: type[ArchcalcError] = SpecError


CASES = [
    # ---------------------------------------------------------------- YAML and file level --
    Bad("yaml-unclosed-list", "archcalc: 1\ninput: [3, 8, 8\nlayers:\n  - relu\n",
        # the flow list opened at line 2, column 8 ("input: " is 7 characters) is still open
        # when the parser meets the ':' after `layers` (line 3, column 7)
        3, 7, ("YAML syntax error: did not find expected ',' or ']'",
               "flow sequence started at line 2, column 8"),
        "check indentation and quoting"),
    Bad("yaml-tab", "archcalc: 1\ninput: [3, 8, 8]\nlayers:\n\t- relu\n",
        4, 1, ("YAML syntax error: found character that cannot start any token",),
        "YAML does not allow tabs"),
    Bad("not-a-mapping", "- conv: {out: 4, k: 3}\n- relu\n",
        1, 1, ("a spec must be a mapping with keys archcalc, name, input, layers; got a list",),
        "start from a bundled spec"),
    Bad("format-version", "archcalc: 2\ninput: [3, 8, 8]\nlayers: [relu]\n",
        1, 11,  # "archcalc: " is 10 characters
        ("unknown format version 2; this archcalc reads version 1",), "write `archcalc: 1`"),
    Bad("no-format-version", "input: [3, 8, 8]\nlayers: [relu]\n",
        1, 1, ("missing the format version `archcalc: 1`",), "add `archcalc: 1`"),
    Bad("empty-file", "", 1, 1, ("the spec is empty",), "start from a bundled spec"),
    Bad("only-comments", "# TODO: write the spec\n", 1, 1, ("the spec is empty",),
        "archcalc show alexnet"),
    Bad("unknown-top-key", "archcalc: 1\ninput: [3, 8, 8]\nlayer:\n  - relu\n",
        3, 1, ("unknown key 'layer' in the spec",), "did you mean 'layers'?"),
    Bad("include-is-not-a-key", "archcalc: 1\ninclude: other.yaml\ninput: [3, 8]\nlayers: [relu]\n",
        2, 1, ("unknown key 'include' in the spec",), "allowed: archcalc, name"),
    Bad("duplicate-key", HEAD + "  - conv: {out: 4, k: 3, out: 5}\n",
        5, 26,  # "  - conv: {out: 4, k: 3, " is 25 characters
        ("duplicate key 'out' (first at line 5)",), "YAML keeps only the last one silently"),
    Bad("yaml-alias", HEAD + "  - conv: &a {out: 4, k: 3}\n  - conv: *a\n",
        6, 11,  # "  - conv: " is 10 characters: the alias, not its anchor (line 5)
        ("YAML aliases (*name) are not allowed",), "define a reusable block under `blocks:`"),
    Bad("yaml-merge-key", HEAD + "  - conv: {<<: {out: 4, k: 3}, s: 2}\n",
        5, 12,  # "  - conv: {" is 11 characters
        ("YAML merge keys (<<) are not allowed",), "use `defaults:` or a block"),
    Bad("yaml-python-tag", "archcalc: 1\ninput: !!python/tuple [3, 8, 8]\nlayers: [relu]\n",
        2, 8, ("unsupported YAML tag 'tag:yaml.org,2002:python/tuple'",), "remove the tag"),
    Bad("yaml-octal", "archcalc: 1\ninput: [3, 010, 8]\nlayers: [relu]\n",
        2, 12,  # "input: [3, " is 11 characters
        ("'010' is a YAML 1.1 octal number",), "write 10 (decimal)"),
    Bad("control-character", "archcalc: 1\ninput: [3, 8\x01, 8]\nlayers: [relu]\n",
        2, 13,  # "input: [3, 8" is 12 characters
        ("YAML error: unacceptable character #x0001: control characters are not allowed",),
        "remove the control character"),
    # ------------------------------------------------------------ types, keys, arguments --
    Bad("unknown-layer-type", HEAD + "  - conv: {out: 4, k: 3}\n  - rleu\n",
        6, 5, ("unknown layer type 'rleu'",), "did you mean 'relu'?"),
    Bad("unknown-layer-type-with-args", HEAD + "  - cnov: {out: 4, k: 3}\n",
        5, 5, ("unknown layer type 'cnov'",), "did you mean 'conv'?"),
    Bad("unknown-argument", HEAD + "  - conv: {out: 4, k: 3, stride: 2}\n",
        5, 26,  # "  - conv: {out: 4, k: 3, " is 25 characters
        ("layer 'conv1' (conv): conv has no argument 'stride'",), "did you mean 's'?"),
    Bad("defaults-unknown-argument",
        "archcalc: 1\ninput: [3, 8, 8]\ndefaults:\n  conv: {stride: 2}\n"
        "layers: [{conv: {out: 3, k: 1}}]\n",
        4, 18,  # "  conv: {stride: " is 17 characters: the value set by the default
        ("defaults for conv set 'stride', which conv does not take",), "did you mean 's'?"),
    Bad("missing-argument", HEAD + "  - conv: {k: 3}\n",
        5, 5, ("layer 'conv1' (conv): conv needs the argument 'out' (output channels",),
        "add `out:` to the layer"),
    Bad("empty-required-argument", HEAD + "  - maxpool: {k: }\n",
        5, 18,  # "  - maxpool: {k: " is 17 characters; the empty value is at the '}'
        ("layer 'maxpool1' (maxpool): maxpool needs the argument 'k' (window size), got "
         "nothing (null)",), "give a value: `k: ...`"),
    Bad("k-three", HEAD + "  - conv: {out: 4, k: three}\n",
        5, 23,  # "  - conv: {out: 4, k: " is 22 characters
        ("layer 'conv1' (conv): k must be a positive integer or a per-axis list of them, got "
         "the string 'three'",), "write an integer such as 3"),
    Bad("k-float", HEAD + "  - conv: {out: 4, k: 3.5}\n",
        5, 23, ("k must be a positive integer or a per-axis list of them, got 3.5",),
        "write a whole number such as 3"),
    Bad("k-negative", HEAD + "  - conv: {out: 4, k: -1}\n",
        5, 23, ("k must be a positive integer or a per-axis list of them, got -1",),
        "strides and kernels start at 1"),
    Bad("k-boolean", HEAD + "  - conv: {out: 4, k: yes}\n",
        5, 23, ("k must be a positive integer or a per-axis list of them, got the boolean true",),
        "write k: 3"),
    Bad("stride-zero", HEAD + "  - conv: {out: 4, k: 3, s: 0}\n",
        5, 29,  # "  - conv: {out: 4, k: 3, s: " is 28 characters
        ("layer 'conv1' (conv): s must be a positive integer or a per-axis list of them, got 0",),
        "strides and kernels start at 1"),
    Bad("groups-not-dividing", HEAD + "  - conv: {out: 4, k: 3, groups: 2}\n",
        5, 5, ("layer 'conv1' (conv): groups=2 must divide both input channels (3) and out (4)",),
        "common divisors of in and out channels", ShapeError),
    Bad("padding-sama", HEAD + "  - conv: {out: 4, k: 3, p: sama}\n",
        5, 29, ("p must be padding: an integer, a per-axis list, [before, after] pairs, same or "
                "valid, got the string 'sama'",), "did you mean same?"),
    Bad("exponent-string", HEAD + "  - conv: {out: 1e3, k: 3}\n",
        5, 17,  # "  - conv: {out: " is 16 characters
        ("layer 'conv1' (conv): out must be a positive integer, got the string '1e3' (YAML 1.1 "
         "reads 1e3-style numbers as text)",), "write 1000"),
    Bad("exponent-string-block-parameter",
        "archcalc: 1\ninput: [3, 8, 8]\nblocks:\n  b:\n    params: [w]\n    layers: "
        "[{conv: {out: $w, k: 3}}]\nlayers:\n  - b: {w: 1e3}\n",
        8, 12,  # "  - b: {w: " is 11 characters
        ("parameter 'w' of block 'b': YAML reads '1e3' as text, not a number",), "write 1000"),
    Bad("huge-literal", HEAD + "  - conv: {out: 99999999999999999999, k: 3}\n",
        5, 17, ("out must be a positive integer, got 1e+20, beyond the limit 1e+15",),
        "numbers in a spec are bounded by 10^15"),
    Bad("unknown-activation", HEAD + "  - conv: {out: 4, k: 3, act: rleu}\n",
        5, 31,  # "  - conv: {out: 4, k: 3, act: " is 30 characters
        ("layer 'conv1' (conv): unknown activation 'rleu'",), "did you mean 'relu'?"),
    Bad("unknown-activation-with-arguments",
        HEAD + "  - conv: {out: 4, k: 3, act: {leaky: {slope: 0.1}}}\n",
        5, 32,  # "  - conv: {out: 4, k: 3, act: {" is 31 characters
        ("layer 'conv1' (conv): unknown activation 'leaky'",), "did you mean 'leaky_relu'?"),
    Bad("fused-activation-argument-misspelt",
        HEAD + "  - conv: {out: 4, k: 3, act: {leaky_relu: {slop: 0.1}}}\n",
        5, 45,  # "  - conv: {out: 4, k: 3, act: {leaky_relu: {" is 44 characters
        ("act: {leaky_relu: …} takes leaky_relu's own arguments (slope), not 'slop'",),
        "did you mean 'slope'?"),
    Bad("fused-activation-has-no-place",
        HEAD + "  - conv: {out: 4, k: 3, act: {relu: {id: r}}}\n",
        5, 39,  # "  - conv: {out: 4, k: 3, act: {relu: {" is 38 characters
        ("act: {relu: …} takes relu's own arguments (none), not 'id'",),
        "it has no id, in, if or share of its own"),
    Bad("fused-activation-arguments-not-a-mapping",
        HEAD + "  - conv: {out: 4, k: 3, act: {elu: 0.5}}\n",
        5, 37,  # "  - conv: {out: 4, k: 3, act: {elu: " is 36 characters
        ("act: {elu: …} takes a mapping of the activation's arguments, got 0.5",),
        "act: {elu: {slope: 0.1}}"),
    # ----------------------------------------------------------------------------- shapes --
    Bad("kernel-larger-than-input", HEAD5 + "  - conv: {id: c1, out: 4, k: 7}\n",
        5, 5, ("layer 'c1' (conv): kernel 7 is larger than the padded input 5: "
               "⌊(5 + 2·0 − 7)/1⌋ + 1 = −1",),  # (5 + 0 − 7)/1 = −2, floor −2, + 1 = −1
        "use a smaller kernel, more padding, or a larger input", ShapeError),
    Bad("kernel-larger-than-padded-input", HEAD5 + "  - conv: {out: 4, k: 9, p: 1}\n",
        5, 5, ("kernel 9 is larger than the padded input 7: ⌊(5 + 2·1 − 9)/1⌋ + 1 = −1",),
        "more padding", ShapeError),  # 5 + 2·1 = 7 < 9
    Bad("pool-larger-than-input", HEAD5 + "  - maxpool: {k: 7}\n",
        5, 5, ("layer 'maxpool1' (maxpool): kernel 7 is larger than the padded input 5: "
               "⌊(5 + 2·0 − 7)/7⌋ + 1 = 0",),  # stride defaults to k = 7: ⌊−2/7⌋ = −1, + 1 = 0
        "use a smaller kernel", ShapeError),
    Bad("non-integer-upsampling", HEAD + "  - upsample: {scale: 1.5}\n",
        5, 23,  # "  - upsample: {scale: " is 22 characters
        ("layer 'upsample1' (upsample): scale must be a positive integer or a per-axis list of "
         "them, got 1.5",), "for a non-integer resize give the output size instead"),
    Bad("residual-shape-mismatch",
        HEAD + "  - residual:\n      body:\n        - conv: {out: 3, k: 3}\n",
        # body: (8 − 3)/1 + 1 = 6, so [3, 6, 6] cannot be added to the identity [3, 8, 8]
        5, 5, ("layer 'add1' (add): add needs equal shapes, got [3, 8, 8] + [3, 6, 6] "
               "(inputs [3, 8, 8], [3, 6, 6])",),
        "use shortcut: project", ShapeError),
    Bad("add-shape-mismatch",
        HEAD + "  - conv: {id: a, out: 4, k: 3}\n  - conv: {id: b, out: 4, k: 3}\n"
        "  - add: {in: [a, b]}\n",
        7, 5, ("add needs equal shapes, got [4, 6, 6] + [4, 4, 4]",),  # 8 → 6 → 4
        "project the shortcut", ShapeError),
    Bad("concat-spatial-mismatch",
        HEAD + "  - conv: {id: a, out: 4, k: 3}\n  - conv: {id: b, out: 4, k: 3}\n"
        "  - concat: {in: [a, b]}\n",
        7, 5, ("layer 'concat1' (concat): concat needs equal spatial sizes, got [4, 6, 6], "
               "[4, 4, 4]",), "crop the larger input first (U-Net", ShapeError),
    Bad("fc-after-spatial", HEAD + "  - conv: {out: 4, k: 3}\n  - fc: {out: 10}\n",
        6, 5, ("layer 'fc1' (fc): fc expects a flat [features] input but receives the spatial "
               "tensor [4, 6, 6]",), "add `- flatten` before this layer", ShapeError),
    Bad("conv2d-on-1d-input", HEAD1D + "  - conv2d: {out: 4, k: 3}\n",
        4, 5, ("layer 'conv2d1' (conv2d): conv is 2D but its input [3, 8] has 1 spatial axis",),
        "use `conv` to take the rank from the input", ShapeError),
    Bad("2d-kernel-on-1d-input", HEAD1D + "  - conv: {out: 4, k: [3, 3]}\n",
        4, 5, ("layer 'conv1' (conv): k has 2 values [3, 3] but the input has 1 spatial axis",),
        "give one value for all axes, or exactly 1", ShapeError),
    # ------------------------------------------------------------------------------ graph --
    Bad("in-names-nothing", HEAD + "  - conv: {out: 4, k: 3}\n  - relu: {in: nope}\n",
        6, 16,  # "  - relu: {in: " is 15 characters
        ("layer 'relu1' (relu): `in: nope` names no node defined before this layer",),
        "inputs must be defined above their use"),
    Bad("in-typo", HEAD + "  - conv: {out: 4, k: 3}\n  - relu: {in: conv}\n",
        6, 16, ("`in: conv` names no node defined before this layer",),
        "did you mean 'conv1'?"),
    Bad("name-used-twice", HEAD + "  - conv: {id: a, out: 4, k: 3}\n  - relu: {id: a}\n",
        6, 16,  # "  - relu: {id: " is 15 characters
        ("the name 'a' is used twice (first at line 5)",), "give every id a unique name"),
    Bad("cycle", HEAD + "  - conv: {id: a, out: 4, k: 3, in: c}\n  - relu: {id: b}\n"
        "  - relu: {id: c}\n",
        5, 37,  # "  - conv: {id: a, out: 4, k: 3, in: " is 36 characters
        ("layer 'a' (conv): `in: c` refers to layer 'c' defined later at line 7; a graph "
         "cannot have cycles",), "inputs must be defined above their use"),
    Bad("block-calls-itself",
        "archcalc: 1\ninput: [3, 8, 8]\nblocks:\n  loop:\n    layers:\n      - relu\n"
        "      - loop\nlayers:\n  - loop\n",
        7, 9,  # "      - " is 8 characters
        ("(block 'loop'): block 'loop' calls itself (loop → loop)",),
        "blocks cannot be recursive"),
    Bad("blocks-call-each-other",
        "archcalc: 1\ninput: [3, 8, 8]\nblocks:\n  a:\n    layers: [b]\n  b:\n    layers: [a]\n"
        "layers:\n  - a\n",
        7, 14,  # "    layers: [" is 13 characters
        ("block 'a' calls itself (a → b → a)",), "blocks cannot be recursive"),
    Bad("expression-unknown-name", HEAD + "  - conv: {out: '$foo * 2', k: 3}\n",
        5, 17, ("layer 'conv1' (conv): out: unknown name $foo in '$foo * 2' (known here: $cin)",),
        "variables are block parameters"),
    Bad("expression-typo",
        "archcalc: 1\ninput: [3, 8, 8]\nlet: {width: 2}\nlayers:\n"
        "  - conv: {out: '4 * $widht', k: 3}\n",
        5, 17, ("out: unknown name $widht",), "did you mean $width?"),
    Bad("expression-division-by-zero", HEAD + "  - conv: {out: '4 // 0', k: 3}\n",
        5, 17, ("layer 'conv1' (conv): out: division by zero",), "the divisor evaluates to 0"),
    Bad("expression-huge-power", HEAD + "  - conv: {out: '10**10**10', k: 3}\n",
        5, 17, ("out: 10 ** 10000000000 is too large",), "bounded by 10^15"),  # 10**(10**10)
    Bad("expression-code-injection",
        HEAD + "  - conv: {out: \"__import__('os').system('true')\", k: 3}\n",
        5, 17, ("is not allowed in an expression",), "expressions take $names"),
    Bad("if-unknown-name", HEAD + "  - conv: {out: 4, k: 3, if: '$x > 1'}\n",
        5, 30,  # "  - conv: {out: 4, k: 3, if: " is 29 characters
        ("layer 'conv1' (conv): if: unknown name $x",), "variables are block parameters"),
    # ----------------------------------------------------------------------------- limits --
    Bad("repeat-too-many", HEAD + "  - repeat: {n: 100000000, layers: [relu]}\n",
        5, 17,  # "  - repeat: {n: " is 16 characters
        ("100,000,000 repeats exceed the limit of 250,000 layers",), "reduce n"),
    Bad("nested-repeats-too-many",
        HEAD + "  - repeat: {n: 2000, layers: [{repeat: {n: 2000, layers: [relu]}}]}\n",
        5, 17, ("2,000 repetitions of 2,000 layers make 4,000,000 layers; the limit is 250,000",),
        "reduce n"),
    Bad("skipped-layers-too-many",
        HEAD + "  - repeat: {n: 2000, layers: [{repeat: {n: 2000, layers: [{relu: {if: false}}]}}]}"
        "\n  - relu\n",
        # one outer repetition expands the inner repeat entry + 2,000 skipped relus
        5, 17, ("2,000 repetitions of 2,001 entries make 4,002,000 expansion steps; the limit is "
                "500,000",), "reduce n"),
    Bad("blocks-nested-too-deep",
        "archcalc: 1\ninput: [3, 8, 8]\nblocks:\n"
        + "".join(f"  b{i}:\n    layers: [b{i + 1}]\n" for i in range(40))
        + "  b40:\n    layers: [relu]\nlayers:\n  - b0\n",
        # block i's `layers:` is line 5 + 2i; b31 calls b32, the 33rd level: line 5 + 62 = 67
        67, 14, ("blocks nested deeper than 32", "… 28 more …"), "flatten the block hierarchy"),
    Bad("yaml-nested-too-deep",
        "archcalc: 1\ninput: " + "[" * 100 + "]" * 100 + "\nlayers: [relu]\n",
        # the k-th '[' is at column 7 + k and depth k; depth 65 is the first refused: column 72
        2, 72, ("the YAML nests deeper than 64 levels",), "flatten the nesting"),
]


def cli_run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_gives_one_located_message(case: Bad, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(case.text, encoding="utf-8")
    started = time.perf_counter()
    res = cli_run("table", str(spec))
    assert time.perf_counter() - started < 10  # refused in bounded time, limits included
    assert res.exit_code == 1, res.output
    assert res.stdout == ""  # never a table before the error
    first, *rest = res.stderr.splitlines()
    assert first.startswith(f"{spec}:{case.line}:{case.col}: error: "), first
    for part in case.says:
        assert part in first, first
    assert len(rest) == 1 and rest[0].startswith("  hint: ") and case.hint in rest[0], rest
    # with -o nothing is written, not even a temporary file
    out = tmp_path / "out.json"
    res = cli_run("table", str(spec), "-o", str(out))
    assert res.exit_code == 1 and res.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_library_raises_the_located_error(case: Bad, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(case.text, encoding="utf-8")
    with pytest.raises(case.error) as info:
        archcalc.analyze(str(spec))
    err = info.value
    assert err.loc is not None
    assert (err.loc.file, err.loc.line, err.loc.col) == (str(spec), case.line, case.col)
    assert err.hint is not None and case.hint in err.hint


def test_text_specs_are_located_in_text() -> None:
    with pytest.raises(SpecError) as info:
        archcalc.analyze(HEAD + "  - conv: {out: 4, k: three}\n")
    assert str(info.value).startswith("<text>:5:23: error: layer 'conv1' (conv): k must be")


# ------------------------------------------------------------------------- file level --


def first_line_error(res: Result) -> str:
    assert res.exit_code == 1, res.output
    assert res.stdout == ""
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    return res.stderr.splitlines()[0]


def test_binary_file(tmp_path: Path) -> None:
    spec = tmp_path / "weights.yaml"
    spec.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    res = cli_run("table", str(spec))
    assert first_line_error(res) == f"{spec}: error: this is a binary file, not a YAML spec"
    assert "hint: give a YAML text file" in res.stderr


def test_not_utf8(tmp_path: Path) -> None:
    spec = tmp_path / "latin1.yaml"
    spec.write_bytes("archcalc: 1\nname: réseau\n".encode("latin-1"))
    res = cli_run("table", str(spec))
    # "archcalc: 1\nname: r" is 19 bytes: the é (0xE9) is byte 19, counting from 0
    assert first_line_error(res) == f"{spec}: error: the file is not UTF-8 text (byte 19)"
    assert "hint: save the spec as UTF-8" in res.stderr


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    res = cli_run("table", str(missing))
    assert first_line_error(res) == f"{missing}: error: no such file: {missing}"
    assert "hint: check the path" in res.stderr
    res = cli_run("table", str(tmp_path))
    assert first_line_error(res) == f"{tmp_path}: error: {tmp_path} is a directory, not a spec file"


def test_unknown_bundled_name_suggests_the_closest() -> None:
    res = cli_run("table", "resnet5")
    assert first_line_error(res) == "resnet5: error: no file and no bundled spec named 'resnet5'"
    hint = res.stderr.splitlines()[1]
    assert hint.startswith("  hint: did you mean resnet50")  # the closest first, up to three
    res = cli_run("table", "xyzzy")
    assert "hint: `archcalc list` shows the bundled specs" in res.stderr


def test_spec_file_too_large_is_refused_before_reading(tmp_path: Path) -> None:
    spec = tmp_path / "huge.yaml"
    spec.write_text("archcalc: 1\n" + "#" * 8_000_000 + "\n")  # 12 + 8,000,000 + 1 bytes
    started = time.perf_counter()
    res = cli_run("table", str(spec))
    assert time.perf_counter() - started < 5
    assert first_line_error(res) == (
        f"{spec}: error: the spec is 8,000,013 bytes; the limit is 8,000,000 bytes")
    assert "hint: split it into blocks and stages" in res.stderr


# ------------------------------------------------------------------------------ warnings --


def test_unused_branch_is_a_warning_not_an_error(tmp_path: Path) -> None:
    spec = tmp_path / "branch.yaml"
    spec.write_text(HEAD + "  - conv: {id: a, out: 4, k: 3}\n"
                    "  - conv: {id: b, out: 4, k: 3, in: input}\n")
    res = cli_run("table", str(spec), "-f", "json")
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    # `  - conv: {id: a, ...}` is the first layer: line 5, the type word at column 5
    assert data["warnings"] == [f"{spec}:5:5: a: output is never used (an unconnected branch?)"]
    assert data["output"] == "b"
    res = cli_run("table", str(spec))
    assert res.exit_code == 0 and f"warning: {spec}:5:5: a: output is never used" in res.stdout


# ------------------------------------------------------------------- bounded work, no hang --


def test_huge_adaptive_pooling_output_is_counted_in_constant_time() -> None:
    started = time.perf_counter()
    report = archcalc.analyze(HEAD + "  - adaptive_avgpool: {out: 100000000}\n")
    assert time.perf_counter() - started < 1
    # window reads per axis: n + o − gcd(n, o) = 8 + 10^8 − 8 = 10^8; times C = 3 for two axes
    assert report.layers[0].flops == 3 * 10**8 * 10**8


# ---------------------------------------------------------------------------- CLI misuse --


@pytest.mark.parametrize(("args", "wording"), [
    (["table", "alexnet", "--input", "axb"], "'axb' is not a shape like 3x224x224"),
    (["table", "alexnet", "--input", "3x0x8"], "all positive"),
    (["table", "alexnet", "--format", "xml"], "'xml' is not one of 'table', 'json'"),
    (["table", "alexnet", "--batch", "0"], "0 is not in the range x>=1"),
    (["table", "alexnet", "--dtype", "float64"], "'float64' is not one of"),
    (["table", "alexnet", "--set", "width"], "write NAME=VALUE"),
    (["table", "alexnet", "--set", "width=wide"], "'wide' is not a number"),
    (["table"], "Missing argument 'SPEC'"),
    (["tabel", "alexnet"], "No such command 'tabel'"),
])
def test_usage_errors_exit_2(args: list[str], wording: str, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    res = cli_run(*args, "-o", str(out)) if args[0] == "table" and len(args) > 1 else cli_run(*args)
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    assert wording in res.stderr and "Usage:" in res.stderr
    assert not out.exists()


def test_input_of_the_wrong_rank(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(HEAD + "  - conv: {out: 4, k: 3}\n")
    res = cli_run("table", str(spec), "--input", "3x224")
    # `input: [3, 8, 8]` is line 3; "input: " is 7 characters, so the list starts at column 8
    assert res.exit_code == 2 and res.stdout == ""  # command-line misuse: click's exit code
    assert (f"Invalid value for '--input': 3x224 has 2 sizes but the spec's input ({spec}:3:8) "
            "has 3; give --input as CxHxW") in res.stderr
    with pytest.raises(SpecError, match=r"input shape \[3, 224\] has 2 sizes"):
        archcalc.analyze(str(spec), input_shape=(3, 224))


def test_unknown_scale_parameter(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(HEAD + "  - relu\n")
    res = cli_run("table", str(spec), "--set", "widht=2")
    assert first_line_error(res) == (
        f"{spec}: error: --set widht: this spec has no scale parameter 'widht'")


def test_unwritable_output_is_a_message_not_a_crash(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir" / "t.csv"
    res = cli_run("table", "alexnet", "-o", str(out))
    assert res.exit_code == 1
    assert f"error: cannot write {out}: No such file or directory" in res.stderr
    assert "Traceback" not in res.stderr and not out.exists()


def test_success_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "alexnet.csv"
    res = cli_run("table", "alexnet", "-o", str(out))
    assert res.exit_code == 0 and res.stdout == "" and res.stderr == ""
    assert out.read_text().splitlines()[1].startswith("name,type,")  # after the # header


# ------------------------------------------------------------------------------ security --


def test_no_eval_exec_or_unsafe_yaml_in_the_library() -> None:
    """Spec content reaches only the safe YAML composer and the whitelisted expression walker."""
    root = Path(archcalc.__file__).parent
    forbidden = re.compile(r"\beval\(|\bexec\(|yaml\.load\(|unsafe_load|FullLoader|UnsafeLoader|"
                           r"\bpickle\b|\bmarshal\b|os\.system|subprocess|__import__")
    # the one child process: Graphviz's `dot` in diagram.render, a fixed argument list (the
    # format from a whitelist), the DOT text on stdin, no shell, a time limit
    graphviz = re.compile(forbidden.pattern.replace("|subprocess", ""))
    for path in sorted(root.glob("*.py")):
        pattern = graphviz if path.name == "diagram.py" else forbidden
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not pattern.search(line), f"{path.name}:{n}: {line.strip()}"
    assert "shell=" not in (root / "diagram.py").read_text(encoding="utf-8")
