"""Numbers that are not ordinary integers (issue 13, section 1).

Every number that reaches a layer is an int or a finite float of at most 10^15 in size. Each
class below is refused where it is written — the spec's line and column, the command-line
option, or the library keyword — with exit 1 (the spec) or 2 (the command line), never exit 3:
non-finite and enormous values, integer literals of hundreds or thousands of digits, results
that leave the reals or divide by zero, YAML 1.1 base-60 numbers, and out-of-range scale
parameters (``width``, ``depth``, ``divisor``), through ``table``, ``compare``, ``sweep``,
``explain``, ``verify`` and the library.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from refusal import HEAD, cli_run, refused, spec_file, usage

import archcalc
from archcalc.errors import SpecError

BIG = "9" * 5000  # beyond Python's 4,300-digit limit for int(str)

# ---------------------------------------------------------------- the command line: --set --


@pytest.mark.parametrize("value", ["1e308", "nan", "inf", "-inf", "NaN", "1e16",
                                   "1000000000000001", BIG])
@pytest.mark.parametrize("command", ["table", "compare", "sweep", "explain", "verify", "plot"])
def test_set_values_that_are_not_finite_numbers_up_to_1e15(command: str, value: str) -> None:
    """`--set width=VALUE` is refused as a usage error before any spec is built."""
    args = [command, "mobilenet_v2", "--set", f"width={value}"]
    if command == "explain":
        args.append("--all")
    reason = ("is not a finite number" if value.lower().lstrip("-") in ("nan", "inf")
              else "is beyond the limit 10^15")
    text = usage(cli_run(*args), "Invalid value for '--set'", reason)
    assert f"width={value[:20]}" in text


@pytest.mark.parametrize(("spec", "setting", "rule"), [
    ("mobilenet_v2", "width=-1", "width needs to be positive"),
    ("mobilenet_v2", "width=0", "width needs to be positive"),
    ("mobilenet_v2", "divisor=0", "divisor needs to be a positive whole number"),
    ("mobilenet_v2", "divisor=2.5", "divisor needs to be a positive whole number"),
    ("efficientnet_b0", "depth=-1", "depth needs to be positive"),
    ("efficientnet_b0", "depth=0", "depth needs to be positive"),
])
@pytest.mark.parametrize("command", ["table", "compare", "verify"])
def test_set_values_outside_a_scale_parameters_rule(spec: str, setting: str, rule: str,
                                                    command: str) -> None:
    """A negative depth used to empty every stage ("every layer was skipped by `if:`"), a
    negative width to round every channel count up to the divisor."""
    res = cli_run(command, spec, "--set", setting)
    file = "efficientnet.yaml" if spec.startswith("efficientnet") else f"{spec}.yaml"
    refused(res, f"{file}: error: --set {setting}: {rule}", hint="e.g.")


def test_sweep_checks_every_value_of_a_grid() -> None:
    res = cli_run("sweep", "mobilenet_v2", "--set", "width=0.5,1,-1")
    refused(res, "mobilenet_v2.yaml: error: --set width=-1: width needs to be positive",
            hint="the width multiplier scales channels")


@pytest.mark.parametrize(("option", "value", "says"), [
    ("--input", "3x12345678901234567890x227", "all positive and at most 10^15"),
    ("--input", "3x1000000000000001x8", "all positive and at most 10^15"),
    ("--input", f"3x{BIG}x8", "all positive and at most 10^15"),
    ("--batch", "99999999999999999999", "is beyond the limit 10^15"),
    ("--batch", "1000000000000001", "is beyond the limit 10^15"),
])
def test_input_and_batch_are_bounded(option: str, value: str, says: str) -> None:
    usage(cli_run("table", "alexnet", option, value), f"Invalid value for '{option}'", says)


def test_input_and_batch_at_the_limit_are_analysed() -> None:
    """10^15 itself is within the limit: costs are exact Python integers."""
    res = cli_run("table", "lenet5", "--batch", "1000000000000000", "-f", "json")
    assert res.exit_code == 0, res.output
    assert '"batch": 1000000000000000' in res.stdout


def test_verify_seed_must_not_be_negative() -> None:
    usage(cli_run("verify", "lenet5", "--seed", "-1"), "Invalid value for '--seed'",
          "-1 is not in the range x>=0")


# ------------------------------------------------------------------- numbers in the spec --

SCALE_INF = "archcalc: 1\ninput: [3, 8, 8]\nscale: {w: .inf}\nlayers:\n  - conv: {out: OUT, k: 3}\n"


@pytest.mark.parametrize("use", ["'int($w)'", "'ceil($w)'", "'floor($w) + 1'", "'round($w)'",
                                 "$w"])
@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", ".NaN"])
def test_non_finite_scale_values_are_refused_where_written(tmp_path: Path, use: str,
                                                           value: str) -> None:
    """`scale: {w: .inf}` used to reach int(), ceil() and ch() and crash with exit 3."""
    text = SCALE_INF.replace(".inf", value).replace("OUT", use)
    res = cli_run("table", spec_file(tmp_path, text))
    # "scale: {w: " is 11 characters: the value starts at column 12 of line 3
    shown = {".inf": "inf", "-.inf": "-inf", ".nan": "nan", ".NaN": "nan"}[value]
    refused(res, f"{tmp_path / 'net.yaml'}:3:12: error: scale parameter 'w' needs to be a "
            f"finite number, got {shown}", hint="finite and bounded by 10^15")


def _scaled(scale: str) -> str:
    return (f"archcalc: 1\ninput: [3, 8, 8]\nscale: {scale}\nlayers:\n"
            "  - conv: {out: 'ch(8)', k: 3}\n")


@pytest.mark.parametrize(("text", "loc", "says", "hint"), [
    # "scale: {width: " is 15 characters, "scale: {divisor: " 17, "scale: {w: " 11
    (_scaled("{width: .inf}"), "3:16", "scale parameter 'width' needs to be a finite number, "
     "got inf", "the width multiplier"),
    (_scaled("{width: -1}"), "3:16", "scale parameter 'width' needs to be positive, got -1",
     "the width multiplier"),
    (_scaled("{width: 0.0}"), "3:16", "scale parameter 'width' needs to be positive, got 0.0",
     "the width multiplier"),
    (_scaled("{divisor: 0.5}"), "3:18", "scale parameter 'divisor' needs to be a positive "
     "whole number", "multiples of it"),
    (_scaled("{divisor: .nan}"), "3:18", "scale parameter 'divisor' needs to be a finite "
     "number, got nan", "multiples of it"),
    (_scaled("{w: 1.0e+300}"), "3:12", "scale parameter 'w' needs to be at most 10^15, got "
     "1e+300", "bounded by 10^15"),
    # a variant: "variants: {v: {width: " is 22 characters
    ("archcalc: 1\ninput: [3, 8, 8]\nscale: {width: 1.0}\nvariants: {v: {width: .nan}}\n"
     "layers:\n  - conv: {out: 'ch(8)', k: 3}\n", "4:23", "variant 'v' 'width' needs to be "
     "a finite number, got nan", "the width multiplier"),
    # `width` is also a block parameter name: ch() checks the value it reads;
    # "    layers: [{conv: {out: " is 26 characters: the expression is at line 6, column 27
    ("archcalc: 1\ninput: [3, 8, 8]\nblocks:\n  b:\n    params: [width]\n"
     "    layers: [{conv: {out: 'ch(8)', k: 3}}]\nlayers:\n  - b: {width: -2}\n", "6:27",
     "layer 'b1.conv1' (conv) (block 'b'): out: ch() needs $width to be positive, got -2",
     "width multiplier"),
])
def test_scale_values_follow_the_rules_in_the_spec(tmp_path: Path, text: str, loc: str,
                                                   says: str, hint: str) -> None:
    spec = spec_file(tmp_path, text)
    refused(cli_run("table", spec), f"{spec}:{loc}: error: {says}", hint=hint)


@pytest.mark.parametrize(("field", "text", "col"), [
    ("out", "  - conv: {out: BIG, k: 3}\n", 17),  # "  - conv: {out: " is 16 characters
    ("p", "  - conv: {out: 4, k: 3, p: BIG}\n", 29),  # "  - conv: {out: 4, k: 3, p: " 28
    ("k", "  - maxpool: {k: BIG}\n", 18),  # "  - maxpool: {k: " is 17
    ("n", "  - repeat: {n: BIG, layers: [relu]}\n", 17),  # "  - repeat: {n: " is 16
])
@pytest.mark.parametrize("digits", [101, 400, 5000])
def test_integer_literals_of_hundreds_or_thousands_of_digits(tmp_path: Path, field: str,
                                                             text: str, col: int,
                                                             digits: int) -> None:
    """5,000 digits used to be a ValueError from Python's digit limit (exit 3); 400 an
    OverflowError while the message was formatted."""
    spec = spec_file(tmp_path, HEAD + text.replace("BIG", "9" * digits))
    line = refused(cli_run("table", spec), f"{spec}:4:{col}: error: the integer "
                   f"'99999999999999999999'… ({digits:,} characters) is beyond the limit 1e+15",
                   hint="bounded by 10^15")
    assert len(line) < 200  # at most a line, however long the literal


def test_long_literals_in_scale_input_and_hex(tmp_path: Path) -> None:
    for text, loc, chars in [
        (f"archcalc: 1\ninput: [3, 8, 8]\nscale: {{w: {BIG}}}\nlayers: [relu]\n", "3:12", 5000),
        (f"archcalc: 1\ninput: [3, {BIG}, 8]\nlayers: [relu]\n", "2:12", 5000),
        (HEAD + "  - conv: {out: 0x" + "f" * 120 + ", k: 3}\n", "4:17", 122),
    ]:
        spec = spec_file(tmp_path, text)
        refused(cli_run("table", spec), f"{spec}:{loc}: error: the integer ",
                f"({chars:,} characters) is beyond the limit 1e+15", hint="bounded by 10^15")


@pytest.mark.parametrize(("text", "loc", "says"), [
    # 10^20 is read (21 digits) and refused at the value: `let` and block parameters are
    # bounded like every layer argument ("let: {c: " is 9 characters, "  - b: {w: " 11)
    ("archcalc: 1\ninput: [3, 8, 8]\nlet: {c: 100000000000000000000}\nlayers:\n"
     "  - conv: {out: $c, k: 3}\n", "3:10", "c is 1e+20, beyond the limit 1e+15"),
    ("archcalc: 1\ninput: [3, 8, 8]\nblocks:\n  b:\n    params: [w]\n"
     "    layers: [{conv: {out: $w, k: 3}}]\nlayers:\n  - b: {w: 100000000000000000000}\n",
     "8:12", "parameter 'w' of block 'b' is 1e+20, beyond the limit 1e+15"),
    ("archcalc: 1\ninput: [3, 100000000000000000000, 8]\nlayers:\n  - relu\n", "2:12",
     "input must be a positive integer, got 1e+20, beyond the limit 1e+15"),
    ("archcalc: 1\ninput: [3, 8, 8]\nlet: {c: 1.0e+20}\nlayers:\n  - conv: {out: $c, k: 3}\n",
     "3:10", "c is 1e+20, beyond the limit 1e+15"),
])
def test_let_parameters_and_input_are_bounded(tmp_path: Path, text: str, loc: str,
                                              says: str) -> None:
    spec = spec_file(tmp_path, text)
    refused(cli_run("table", spec), f"{spec}:{loc}: error: ", says, hint="bounded by 10^15")


@pytest.mark.parametrize(("expr", "says", "hint"), [
    ("(-8) ** 0.5", "out: (-8) ** 0.5 is not a real number", "no real fractional power"),
    ("(-27) ** (1/3)", "out: (-27) ** 0.3333333333333333 is not a real number",
     "no real fractional power"),
    ("0 ** -1", "out: 0 ** -1 divides by zero", "1/0"),
    ("0.0 ** -2", "out: 0.0 ** -2 divides by zero", "1/0"),
    ("0.5 ** -100", "out: 0.5 ** -100 is too large", "bounded by 10^15"),
    ("1e15 / 1e-300", "out: number inf is out of range", "finite and bounded"),
    ("ceil(1e15) * 2", "out: integer 2000000000000000 exceeds the limit 1e+15",
     "bounded by 10^15"),
    ("10 ** 15 + 1", "out: integer 1000000000000001 exceeds the limit 1e+15",
     "bounded by 10^15"),
    ("4 % 0.0", "out: modulo by zero", "the divisor evaluates to 0"),
    ("2 ** 0.5 * 4", "out must be a positive integer, got 5.656854249492381 from "
     "'2 ** 0.5 * 4'", "round it to a whole number"),
])
def test_expressions_that_leave_the_reals_or_the_bound(tmp_path: Path, expr: str, says: str,
                                                       hint: str) -> None:
    spec = spec_file(tmp_path, HEAD + f"  - conv: {{out: '{expr}', k: 3}}\n")
    refused(cli_run("table", spec), f"{spec}:4:17: error: layer 'conv1' (conv): {says}",
            hint=hint)


@pytest.mark.parametrize(("literal", "value"), [("1:04", "64"), ("1:30.5", "90.5"),
                                                ("-2:00", "-120"), ("190:20:30", "685230")])
def test_yaml_base_60_numbers_are_refused_like_octals(tmp_path: Path, literal: str,
                                                      value: str) -> None:
    """YAML 1.1 reads 1:04 as 64 (1·60 + 4); 190:20:30 = 190·3600 + 20·60 + 30 = 685,230."""
    spec = spec_file(tmp_path, HEAD + f"  - conv: {{out: {literal}, k: 3}}\n")
    refused(cli_run("table", spec), f"{spec}:4:17: error: '{literal}' is a YAML 1.1 base-60 "
            f"number ({value})", hint=f"write {value} (decimal), or quote it")


def test_quoted_base_60_is_text(tmp_path: Path) -> None:
    """Quoted, 1:04 is the string it looks like (here, a name)."""
    spec = spec_file(tmp_path, "archcalc: 1\nname: '1:04'\ninput: [3, 8, 8]\nlayers: [relu]\n")
    res = cli_run("table", spec, "-f", "json")
    assert res.exit_code == 0 and '"name": "1:04"' in res.stdout


@pytest.mark.parametrize(("arg", "says"), [
    ("dropout: {p: .nan}", "p must be a probability 0 <= p < 1, got nan"),
    ("leaky_relu: {slope: .inf}", "slope must be a number, got inf"),
    ("leaky_relu: {slope: 1.0e+400}", "slope must be a number, got inf"),  # past float range
])
def test_non_finite_float_arguments(tmp_path: Path, arg: str, says: str) -> None:
    spec = spec_file(tmp_path, HEAD + f"  - {arg}\n")
    refused(cli_run("table", spec), f"{spec}:4:", says, hint="write a finite number")


# ---------------------------------------------------------------------------- the library --


@pytest.mark.parametrize(("kwargs", "error", "says"), [
    ({"width": float("nan")}, SpecError, "width=nan: width needs to be a finite number"),
    ({"width": float("inf")}, SpecError, "width=inf: width needs to be a finite number"),
    ({"width": 1e308}, SpecError, "width=1e+308: width needs to be at most 10^15"),
    ({"width": -1}, SpecError, "width=-1: width needs to be positive"),
    ({"divisor": float("nan")}, SpecError, "divisor=nan: divisor needs to be a finite number"),
    ({"divisor": 0}, SpecError, "divisor=0: divisor needs to be a positive whole number"),
    ({"width": 10**400}, SpecError, "width=an integer of about 401 digits: width needs to be "
     "at most 10^15"),
    ({"width": True}, TypeError, "scale parameter width must be an int or float, got bool"),
    ({"width": "0.5"}, TypeError, "scale parameter width must be an int or float, got str"),
    ({"width": None}, TypeError, "scale parameter width must be an int or float, got NoneType"),
    ({"widht": 0.5}, SpecError, "widht=0.5: this spec has no scale parameter 'widht'"),
    ({"depth": float("nan")}, SpecError, "depth=nan: depth needs to be a finite number"),
    ({"batch": 1.5}, TypeError, "batch must be an int, got float 1.5"),
    ({"batch": True}, TypeError, "batch must be an int, got the bool True"),
    ({"batch": "8"}, TypeError, "batch must be an int, got str '8'"),
    ({"batch": 0}, SpecError, "batch must be at least 1, got 0"),
    ({"batch": 10**20}, SpecError, "batch=1e+20 is beyond the limit 10^15"),
    ({"input_shape": (1, 32.5, 32.5)}, TypeError, "input_shape[1] must be an int (a size), "
     "got float 32.5"),
    ({"input_shape": (1, 10**20, 10**20)}, SpecError, "input shape [1, 1e+20, 1e+20] must be "
     "1 to 4 sizes from 1 to 10^15"),
    ({"input_shape": (1, 0, 32)}, SpecError, "input shape [1, 0, 32] must be 1 to 4 sizes"),
    ({"input_shape": "1x32x32"}, TypeError, "input_shape must be a tuple or list of ints"),
    ({"input_shape": 32}, TypeError, "input_shape must be a tuple or list of ints"),
    ({"input_shape": (1, None, 32)}, TypeError, "input_shape[1] must be an int (a size), got "
     "NoneType None"),
    ({"dtype": []}, TypeError, "dtype must be a str, one of float32, float16, bfloat16, int8"),
    ({"dtype": "float64"}, SpecError, "unknown dtype 'float64'; choose one of float32"),
    ({"convention": 1}, TypeError, "convention must be a str, one of lecture, full, macs"),
])
def test_library_keywords(kwargs: dict[str, object], error: type[Exception], says: str) -> None:
    """Scale keywords, batch, input shape, dtype, convention: the library's words are keywords
    (width=…), never the CLI's --set."""
    spec = "efficientnet_b0" if "depth" in kwargs else "mobilenet_v2"
    with pytest.raises(error) as info:
        archcalc.analyze(spec, **kwargs)  # type: ignore[arg-type]
    assert says in str(info.value)
    assert "--set" not in str(info.value)


def test_library_takes_a_list_or_numpy_integers_as_input_shape() -> None:
    """A list is a sequence of sizes as good as a tuple (it used to be "unhashable type")."""
    import numpy as np

    for shape in ([3, 10, 10], (np.int64(3), np.int32(10), 10)):
        report = archcalc.analyze(HEAD + "  - conv: {out: 4, k: 3}\n",
                                  input_shape=shape)  # type: ignore[arg-type]
        assert report.input_shape == (3, 10, 10)
        assert report.layers[0].output_shape == (4, 8, 8)  # 10 − 3 + 1 = 8
