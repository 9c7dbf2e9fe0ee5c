"""Library API misuse (issue 13, section 5): a wrong Python type is a TypeError naming what is
accepted, a wrong value an ArchcalcError in library words — never another exception
(RecursionError, OverflowError, ValueError, a bare KeyError) escaping from inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import archcalc
from archcalc import ytree
from archcalc.errors import ArchcalcError, ExecError, NotFound, SpecError
from archcalc.sweep import grid_points

TINY = {"archcalc": 1, "input": [3, 8, 8], "layers": [{"conv": {"out": 4, "k": 3}}]}
TINY_YAML = "archcalc: 1\ninput: [3, 8, 8]\nlayers: [{conv: {out: 4, k: 3}}]\n"

# ------------------------------------------------------------------------------- load_spec --


@pytest.mark.parametrize("source", [None, 42, 4.2, object(), ["alexnet"], {"alexnet"}])
def test_load_spec_refuses_other_types_by_name(source: object) -> None:
    """These were looked up as bundled names ("no bundled spec named 'None'")."""
    with pytest.raises(TypeError) as info:
        archcalc.load_spec(source)  # type: ignore[arg-type]
    assert str(info.value) == (
        "load_spec() takes a bundled name, a path, YAML text (str), the bytes of a YAML file or "
        f"a mapping; got {type(source).__name__}")


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_load_spec_decodes_bytes_as_a_file(kind: type) -> None:
    spec = archcalc.load_spec(kind(b"\xef\xbb\xbf" + TINY_YAML.encode()))
    assert archcalc.analyze(spec).totals.params == 4 * (3 * 3 * 3 + 1)  # 112
    with pytest.raises(SpecError, match=r"the file is not UTF-8 text \(byte 10\)"):
        archcalc.load_spec(b"archcalc: \xff")
    with pytest.raises(SpecError, match="this is a binary file"):
        archcalc.load_spec(b"\x00\x01")


def test_load_spec_takes_paths_and_returns_a_spec_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "net"  # no .yaml suffix: a Path is a path, never a bundled name
    path.write_text(TINY_YAML)
    spec = archcalc.load_spec(path)
    assert archcalc.load_spec(spec) is spec
    with pytest.raises(TypeError, match="variant must be a str"):
        archcalc.load_spec("mobilenet_v2", variant=0.5)  # type: ignore[arg-type]


# ------------------------------------------------------------------------ specs from Python --


def test_a_dict_that_contains_itself() -> None:
    spec: dict[str, Any] = dict(TINY)
    spec["layers"] = [{"conv": {"out": 4, "k": 3}}]
    spec["layers"][0]["conv"]["again"] = spec["layers"]
    with pytest.raises(SpecError) as info:
        archcalc.load_spec(spec)
    assert info.value.what == "spec['layers'][0]['conv']['again'] contains itself"


def test_a_list_5000_deep_is_the_yaml_depth_limit() -> None:
    deep: list[Any] = []
    cur = deep
    for _ in range(5000):
        cur.append([])
        cur = cur[0]
    with pytest.raises(SpecError) as info:
        archcalc.load_spec({**TINY, "layers": deep})
    assert info.value.what.startswith("the spec nests deeper than 64 levels (at spec['layers']")


def test_a_dict_spec_is_bounded_in_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ytree, "MAX_NODES", 100)
    with pytest.raises(SpecError, match="the spec has more than 100 values"):
        archcalc.load_spec({**TINY, "layers": ["relu"] * 200})


@pytest.mark.parametrize(("value", "says"), [
    ({1, 2}, "spec['layers'][0]['conv']['out'] is a set; a spec holds dict, list, tuple, str, "
     "int, float, bool or None"),
    (b"4", "spec['layers'][0]['conv']['out'] is bytes; a spec holds dict, list, tuple, str, int, "
     "float, bool or None (decode bytes to str first)"),
    (object(), "spec['layers'][0]['conv']['out'] is a object; a spec holds"),
])
def test_values_of_other_types_in_a_dict_spec(value: object, says: str) -> None:
    with pytest.raises(TypeError) as info:
        archcalc.load_spec({**TINY, "layers": [{"conv": {"out": value, "k": 3}}]})
    assert str(info.value).startswith(says)


def test_a_key_that_is_not_a_str() -> None:
    with pytest.raises(TypeError, match=r"spec\['layers'\]\[0\] has the key 1 of type int"):
        archcalc.load_spec({**TINY, "layers": [{1: {"out": 4}}]})


def test_numpy_numbers_in_a_dict_spec_are_numbers() -> None:
    spec = {**TINY, "layers": [{"conv": {"out": np.int64(4), "k": np.int32(3)}},
                               {"dropout": {"p": np.float32(0.5)}}]}
    assert archcalc.analyze(spec).totals.params == 112


def test_an_integer_of_400_digits_is_a_spec_error() -> None:
    """`out=10**400` raised OverflowError while the message was formatted."""
    with pytest.raises(SpecError) as info:
        archcalc.analyze({**TINY, "layers": [{"conv": {"out": 10**400, "k": 3}}]})
    assert info.value.what == ("out must be a positive integer, got an integer of about 401 "
                               "digits, beyond the limit 1e+15")
    with pytest.raises(SpecError, match=r"got 1e\+20, beyond the limit 1e\+15"):
        archcalc.analyze({**TINY, "layers": [{"conv": {"out": 10**20, "k": 3}}]})


def test_non_finite_floats_in_a_dict_spec() -> None:
    with pytest.raises(SpecError, match="out must be a positive integer, got nan"):
        archcalc.analyze({**TINY, "layers": [{"conv": {"out": float("nan"), "k": 3}}]})
    with pytest.raises(SpecError, match="scale parameter 'w' needs to be a finite number, got inf"):
        archcalc.analyze({**TINY, "scale": {"w": float("inf")}})


# ----------------------------------------------------------------------- build and analyse --


def test_build_analyze_graph_and_to_graph_check_their_types() -> None:
    with pytest.raises(TypeError, match="build\\(\\) takes a Spec"):
        archcalc.build(TINY_YAML)  # type: ignore[arg-type]
    from archcalc.engine import analyze_graph
    with pytest.raises(TypeError, match="analyze_graph\\(\\) takes a Graph"):
        analyze_graph(archcalc.load_spec(TINY_YAML))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="scale must be a mapping of names to numbers, got str"):
        archcalc.to_graph("mobilenet_v2", scale="width=0.5")  # type: ignore[arg-type]
    graph = archcalc.to_graph(TINY_YAML)
    with pytest.raises(ArchcalcError, match="a built Graph cannot be re-scaled"):
        archcalc.to_graph(graph, input_shape=(3, 9, 9))


def test_check_step_checks_its_types() -> None:
    """`backprop.check_step` (the training step's refusals, run before anything else)."""
    from archcalc.backprop import check_step

    with pytest.raises(TypeError, match="check_step\\(\\) takes a Graph"):
        check_step("lenet5", batch=1)  # type: ignore[arg-type]
    graph = archcalc.to_graph(TINY_YAML)
    with pytest.raises(TypeError, match="batch must be an int, got the bool True"):
        check_step(graph, batch=True)
    with pytest.raises(ArchcalcError, match="batch must be at least 1"):
        check_step(graph, batch=0)
    assert check_step(graph, batch=2).report.batch == 2


def test_training_freeze_takes_a_freeze_or_its_text() -> None:
    """`freeze=` of the training analysis: a Freeze, or `--freeze` text as train_step takes it;
    LeNet-5 with C1 (6 maps of 1·5·5 weights + 6 biases = 156 params) frozen trains 60,840 − 156
    = 60,684. Any other type is a TypeError."""
    from archcalc.training import analyze_training, parse_freeze, sweep_training

    graph = archcalc.to_graph("lenet5")
    assert analyze_training(graph).totals.trainable_params == 60_840
    assert analyze_training(graph, freeze="C1").totals.trainable_params == 60_684
    assert analyze_training(graph, freeze=parse_freeze("C1")).totals.trainable_params == 60_684
    assert sweep_training(graph, [1], ["sgd"], freeze="C1").to_dict()
    for wrong in (3, ["C1"]):
        with pytest.raises(TypeError, match="freeze must be a Freeze or --freeze text"):
            analyze_training(graph, freeze=wrong)  # type: ignore[arg-type]


def test_training_helpers_check_their_types() -> None:
    """fit_batch, explain_backward and train_step refuse wrong types by name, and a report of
    another graph, instead of an AttributeError or StopIteration."""
    from archcalc.backprop import train_step
    from archcalc.training import analyze_training, explain_backward, fit_batch

    graph = archcalc.to_graph("lenet5")
    report = analyze_training(graph)
    with pytest.raises(TypeError, match="fit_batch\\(\\) takes a TrainingReport"):
        fit_batch("lenet5", 2**30)  # type: ignore[arg-type]
    for budget, says in (("1GiB", "got str '1GiB'"), (1.5, "got float 1.5"),
                         (True, "got the bool True")):
        with pytest.raises(TypeError,
                           match=f"budget must be a number of bytes \\(an int\\), {says}"):
            fit_batch(report, budget)  # type: ignore[arg-type]
    with pytest.raises(ArchcalcError, match="a memory budget of -1 bytes is below 0"):
        fit_batch(report, -1)
    with pytest.raises(TypeError, match="layer must be a layer's name \\(a str\\), got int"):
        explain_backward(report, graph, 3)  # type: ignore[arg-type]
    with pytest.raises(ArchcalcError, match="the training report has no layer 'conv1'"):
        explain_backward(report, archcalc.to_graph("alexnet"), "conv1")
    with pytest.raises(TypeError, match="freeze must be a Freeze or --freeze text"):
        train_step("lenet5", freeze=3)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the executor --


@pytest.mark.parametrize(("kwargs", "error", "says"), [
    ({"x": "abc"}, TypeError, "x must be an array of numbers (NumPy array or nested lists), got "
     "str 'abc'"),
    ({"x": {"a": 1}}, TypeError, "x must be an array of numbers (NumPy array or nested lists), "
     "got dict"),
    ({"x": [[1.0, 2.0], [3.0]]}, TypeError, "x must be a rectangular array of numbers"),
    ({"x": np.array(["a", "b"])}, TypeError, "x must be an array of numbers, got an array of <U1"),
    ({"x": np.zeros((2, 2))}, ExecError, "the input has shape [2, 2] but t expects [batch, 3, 4, "
     "4]"),
    ({"seed": -1}, ExecError, "seed=-1 is negative"),
    ({"seed": 1.5}, TypeError, "seed must be an int, got float 1.5"),
    ({"seed": True}, TypeError, "seed must be an int, got the bool True"),
    ({"batch": -1}, ExecError, "batch must be at least 1, got -1"),
    ({"batch": 0}, ExecError, "batch must be at least 1, got 0"),
    ({"batch": 1.5}, TypeError, "batch must be an int, got float 1.5"),
    ({"batch": 10**20}, ExecError, "batch=1e+20 is beyond the limit 10^15"),
])
def test_execute_arguments(kwargs: dict[str, Any], error: type[Exception], says: str) -> None:
    """`execute(x='abc' | seed=-1 | batch=-1)` raised NumPy's ValueError."""
    with pytest.raises(error) as info:
        archcalc.execute("archcalc: 1\nname: t\ninput: [3, 4, 4]\nlayers: [relu]\n", **kwargs)
    assert says in str(info.value)


def test_execute_takes_numpy_integers_and_max_memory_words() -> None:
    out = archcalc.execute(TINY_YAML, seed=np.int64(3), batch=np.int32(2))
    assert out["conv1"].shape == (2, 4, 6, 6)
    import archcalc.executor as executor
    with pytest.raises(TypeError, match="max_memory must be bytes"):
        executor.run(TINY_YAML, max_memory=1.5)  # type: ignore[arg-type]
    with pytest.raises(ExecError) as info:
        executor.run(TINY_YAML, max_memory="lots")
    assert "max_memory='lots' is not a size" in str(info.value)
    with pytest.raises(ExecError) as info:
        executor.run(TINY_YAML, max_memory=10)
    assert "more than the memory budget of 10 B (set by max_memory=)" in str(info.value)
    assert "--max-memory" not in str(info.value)


# ------------------------------------------------------------------------- names, lookups --


def test_report_layer_names_the_closest_layers() -> None:
    """`report.layer("nope")` was a bare KeyError('nope')."""
    report = archcalc.analyze("alexnet")
    with pytest.raises(NotFound) as info:
        report.layer("conv11")
    assert str(info.value) == ("error: no layer named 'conv11'\n  hint: did you mean 'conv1'? "
                               "(also conv5, conv4, conv3, conv2)")
    assert isinstance(info.value, KeyError) and isinstance(info.value, ArchcalcError)
    with pytest.raises(KeyError):  # callers catching KeyError keep working
        report.layer("nope")
    with pytest.raises(NotFound) as info:
        report.layer("zzz")
    assert info.value.hint == ("12 layers: conv1, pool1, conv2, pool2, conv3, conv4, conv5, "
                               "pool5, …")
    assert "archcalc table" not in info.value.hint  # library words, not the CLI's
    with pytest.raises(TypeError, match="layer names are str, got int"):
        report.layer(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="layer names are str, got ndarray"):
        report.layer(np.array([1, 2]))  # type: ignore[arg-type]


def test_graph_node_names_the_closest_layers() -> None:
    graph = archcalc.to_graph("alexnet")
    with pytest.raises(NotFound, match="graph 'AlexNet \\(lecture variant\\)' has no "
                       "layer named 'fc9'") as info:
        graph.node("fc9")
    assert info.value.hint == "did you mean 'fc8'? (also fc7, fc6)"


# ----------------------------------------------------------------------------- library words --


def test_library_messages_use_keyword_words() -> None:
    """Library messages say `width=…`, `mode='zip'`, `max_memory=`; the CLI says `--set`,
    `--zip`, `--max-memory` (tests of the CLI check those)."""
    messages = []
    for call in (lambda: archcalc.analyze("mobilenet_v2", widht=1),
                 lambda: archcalc.analyze("mobilenet_v2", width=-1),
                 lambda: grid_points({"a": [1, 2], "b": [1]}, "zip"),
                 lambda: grid_points({"a": []})):
        with pytest.raises(ArchcalcError) as info:
            call()
        messages.append(str(info.value))
    assert messages[0].startswith("mobilenet_v2.yaml: error: widht=1: this spec has no scale "
                                  "parameter 'widht'")
    assert messages[1].startswith("mobilenet_v2.yaml: error: width=-1: width needs to be positive")
    assert messages[2].startswith("error: with mode='zip' every list of values must have the same "
                                  "length, got a: 2, b: 1")
    assert messages[3].startswith("error: the sweep of a lists no values")
    for text in messages:
        assert "--" not in text, text
