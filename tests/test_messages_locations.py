"""Messages and locations (issue 13, section 4): positions are the editor's, a received value
is quoted at most a line, special files are named for what they are, and a value gets the
message of what it is (a date is text, a negative depth is a negative depth).
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from refusal import cli_run, refused, spec_file

import archcalc
from archcalc.errors import MAX_MESSAGE, ArchcalcError, SpecError

BAD_LINE_3 = "input: [3, 8, x]\nlayers: [relu]\n"  # 'x' at column 15: "input: [3, 8, " is 14


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85"])
def test_unicode_line_separators_do_not_shift_lines(tmp_path: Path, char: str) -> None:
    """YAML 1.1 parsers break lines at U+2028/U+2029/U+0085; editors and YAML 1.2 do not. One
    in a comment on line 2 made the error on line 3 read 4:1 (or 3:2)."""
    spec = spec_file(tmp_path, f"archcalc: 1\n# a comment{char}with a separator\n{BAD_LINE_3}")
    refused(cli_run("table", spec), f"{spec}:3:15: error: input must be a positive integer, "
            "got the string 'x'", hint="write an integer")


def test_a_separator_in_a_quoted_name_is_a_space(tmp_path: Path) -> None:
    spec = spec_file(tmp_path,
                     "archcalc: 1\nname: 'two\u2028lines'\ninput: [3, 8]\nlayers: [relu]\n")
    assert archcalc.analyze(str(spec)).name == "two lines"


@pytest.mark.parametrize("boms", [1, 2, 3])
def test_byte_order_marks_do_not_move_line_1(tmp_path: Path, boms: int) -> None:
    """A doubled BOM (a file saved with a BOM by two tools) used to read 2:1 "did not find
    expected <document start>"; editors show none, so the columns of line 1 count without."""
    spec = tmp_path / "net.yaml"
    spec.write_bytes(b"\xef\xbb\xbf" * boms + b"archcalc: 2\ninput: [3, 8]\nlayers: [relu]\n")
    refused(cli_run("table", spec), f"{spec}:1:11: error: unknown format version 2",
            hint="write `archcalc: 1`")  # "archcalc: " is 10 characters
    with pytest.raises(SpecError) as info:
        archcalc.load_spec(spec.read_bytes())
    assert str(info.value.loc) == "<bytes>:1:11"


def test_crlf_line_endings_keep_lines_and_columns(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_bytes(b"archcalc: 1\r\n# c\r\n" + BAD_LINE_3.replace("\n", "\r\n").encode())
    refused(cli_run("table", spec), f"{spec}:3:15: error: input must be a positive integer",
            hint="")


def test_a_huge_scalar_is_quoted_in_at_most_a_line(tmp_path: Path) -> None:
    """A 7.5 MB text file was echoed whole into the message (7.5 MB on stderr)."""
    spec = tmp_path / "big.txt"
    spec.write_text("x" * 7_500_000 + "\n")
    res = cli_run("table", spec)
    refused(res, f"{spec}:1:1: error: a spec must be a mapping with keys archcalc, name, input, "
            "layers; got the string 'xxxxxxxx", "'… (7,500,000 characters)",
            hint="start from a bundled spec")
    assert len(res.stderr) < 400


@pytest.mark.parametrize(("text", "says"), [
    # a YAML simple key has at most 1,024 characters: 1,000 then
    ("archcalc: 1\n" + "k" * 1000 + ": 1\n", "unknown key 'kkkkk"),
    ("archcalc: 1\ninput: [3, 8]\nlayers:\n  - " + "r" * 100_000 + "\n",
     "unknown layer type 'rrr"),
    ("archcalc: 1\ninput: [3, 8]\nlayers:\n  - relu: {" + "a" * 1000 + ": 1}\n",
     "relu has no argument 'aaa"),
    ("archcalc: 1\ninput: [3, 8]\nlayers:\n  - conv: {out: 4, k: '" + "9 +" * 30_000 + " 9'}\n",
     "expression longer than 500 characters"),
])
def test_long_keys_and_names_are_quoted_short(text: str, says: str) -> None:
    with pytest.raises(SpecError) as info:
        archcalc.analyze(text)
    assert says in str(info.value)
    assert len(str(info.value)) < 400


def test_no_message_is_longer_than_the_cap() -> None:
    err = ArchcalcError("y" * 50_000)
    assert len(err.what) < MAX_MESSAGE + 60 and "characters cut" in err.what


# --------------------------------------------------------------------------- special files --


def test_dev_null_is_an_empty_spec() -> None:
    res = cli_run("table", "/dev/null")
    refused(res, "/dev/null:1:1: error: the spec is empty", hint="start from a bundled spec")


def test_an_endless_device_is_too_large() -> None:
    if not os.path.exists("/dev/zero"):
        pytest.skip("no /dev/zero here")
    refused(cli_run("table", "/dev/zero"), "/dev/zero: error: the spec is more than "
            "8,000,000 bytes; the limit is 8,000,000 bytes", hint="split it")


def test_a_fifo_is_read(tmp_path: Path) -> None:
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    text = "archcalc: 1\ninput: [3, 8, 8]\nlayers: [{conv: {out: 4, k: 3}}]\n"
    writer = threading.Thread(target=lambda: fifo.write_text(text), daemon=True)
    writer.start()
    res = cli_run("table", fifo, "-f", "csv")
    writer.join(10)
    assert res.exit_code == 0, res.output
    assert "conv1,conv,,input,4x6x6,112" in res.stdout  # 4·(3·3·3 + 1) = 112 params


def test_standard_input_as_the_spec() -> None:
    text = "archcalc: 1\ninput: [3, 8, 8]\nlayers: [{conv: {out: 4, k: three}}]\n"
    # "layers: [{conv: {out: 4, k: " is 28 characters
    refused(cli_run("table", "-", stdin=text), "<stdin>:3:29: error: layer 'conv1' (conv): k "
            "must be a positive integer", hint="write an integer")
    res = cli_run("table", "-", "-f", "csv", stdin=text.replace("three", "3"))
    assert res.exit_code == 0 and "conv1,conv,,input,4x6x6,112" in res.stdout


STDIN_SPEC = "archcalc: 1\ninput: [3, 8, 8]\nlayers: [{conv: {out: 4, k: 3}}]\n"


def test_standard_input_as_one_of_several_specs() -> None:
    # compare/plot read `-` once; the spec's errors are located in <stdin>
    res = cli_run("compare", "-", "lenet5", "-f", "csv", stdin=STDIN_SPEC)
    assert res.exit_code == 0, res.output
    rows = [line.split(",")[:3] for line in res.stdout.splitlines()[1:]]
    # stdin: 4·(3·3·3 + 1) = 112 params, 4·6·6 · 3·3·3 = 3,888 MACs; LeNet-5 60,840 / 328,096
    # (the bundled spec, LeCun et al. 1998; torchvision has no LeNet)
    assert rows == [["stdin", "112", "3888"], ["lenet5", "60840", "328096"]]
    refused(cli_run("compare", "-", "lenet5", stdin=STDIN_SPEC.replace("k: 3", "k: three")),
            "<stdin>:3:29: error: layer 'conv1' (conv): k must be a positive integer",
            hint="write an integer")
    res = cli_run("plot", "-", stdin=STDIN_SPEC)
    assert res.exit_code == 0 and "conv1" in res.stdout


@pytest.mark.parametrize("args", [("compare", "-", "-"), ("plot", "-", "-"),
                                  ("check", "-", "-"), ("compare", "-", "-", "--separable")])
def test_standard_input_is_read_once(args: tuple[str, ...]) -> None:
    res = cli_run(*args, stdin=STDIN_SPEC)
    assert res.exit_code == 2 and "standard input can be read once" in res.stderr
    assert res.stdout == ""


def test_sockets_and_directories_are_named_for_what_they_are(tmp_path: Path) -> None:
    refused(cli_run("table", tmp_path), f"{tmp_path}: error: {tmp_path} is a directory, not a "
            "spec file", hint="check the path")
    sock = tmp_path / "s.yaml"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(sock))
        refused(cli_run("table", sock), f"{sock}: error: {sock} is a socket, not a spec file",
                hint="check the path")
    finally:
        server.close()
    missing = tmp_path / "nope.yaml"
    refused(cli_run("table", missing), f"{missing}: error: no such file: {missing}",
            hint="check the path")
    loop = tmp_path / "loop.yaml"
    loop.symlink_to(loop)
    refused(cli_run("table", loop), f"{loop}: error: cannot read {loop}: Too many levels of "
            "symbolic links", hint="check the path")


# --------------------------------------------------------------------- values, as they are --


@pytest.mark.parametrize("value", ["2024-01-01", "2001-12-14t21:59:43.10-05:00", "="])
def test_dates_and_equals_are_text(value: str) -> None:
    """YAML 1.1 timestamps were refused as "unsupported YAML tag" although no tag was written."""
    report = archcalc.analyze(f"archcalc: 1\nname: {value}\ninput: [3, 8]\nlayers: [relu]\n")
    assert report.name == value


def test_an_explicit_timestamp_tag_is_still_refused() -> None:
    with pytest.raises(SpecError, match=r"unsupported YAML tag 'tag:yaml\.org,2002:timestamp'"):
        archcalc.analyze("archcalc: 1\nname: !!timestamp 2024-01-01\ninput: [3, 8]\n"
                         "layers: [relu]\n")


def test_a_date_where_a_number_goes_is_an_expression_that_does_not_parse() -> None:
    with pytest.raises(SpecError) as info:
        archcalc.analyze("archcalc: 1\ninput: [3, 8]\n"
                         "layers: [{conv: {out: 4, k: 2024-01-01}}]\n")
    assert info.value.what == "k: cannot parse the expression '2024-01-01'"


def test_a_negative_depth_is_named_not_every_layer_skipped() -> None:
    """`--set depth=-1` emptied every stage row and read "every layer was skipped by `if:`"."""
    res = cli_run("table", "efficientnet_b0", "--set", "depth=-1")
    line = refused(res, "efficientnet.yaml: error: --set depth=-1: depth needs to be positive",
                   hint="scales the blocks of a stage")
    assert "skipped" not in line
