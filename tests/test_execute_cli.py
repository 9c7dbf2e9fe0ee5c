"""``archcalc verify``: table and JSON, batch and input overrides, the receptive-field check and
the non-zero exit that names the disagreeing layer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner, Result

from archcalc.cli import cli


def verify(*args: str) -> Result:
    return CliRunner().invoke(cli, ["verify", *args])


def as_json(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_alexnet_json_confirms_torchvision_counts() -> None:
    result = verify("alexnet", "--format", "json")
    assert result.exit_code == 0, result.output
    data = as_json(result)
    assert data["ok"] is True
    # torchvision alexnet at 3×227×227 (/tmp/torchref/SUMMARY.md, row alexnet_227):
    # 61,100,840 params, 716,767,232 conv+linear MACs
    assert data["totals"]["params_created"] == data["totals"]["params"] == 61_100_840
    assert data["totals"]["macs_counted"] == data["totals"]["macs"] == 716_767_232
    conv1 = data["layers"][0]
    assert conv1["predicted_shape"] == conv1["actual_shape"] == [64, 56, 56]
    assert conv1["verdict"] == "ok"
    memory = data["memory"]
    assert memory["peak_live_bytes"] == memory["predicted_peak_bytes"]
    assert memory["peak_allocated_bytes"] >= memory["peak_live_bytes"]


def test_verify_json_is_versioned() -> None:
    """`verify --format json` is a public interface: its version is the first key (README,
    "Verify with real tensors")."""
    data = as_json(verify("lenet5", "--format", "json", "--training"))
    assert next(iter(data)) == "archcalc_verify" and data["archcalc_verify"] == 1
    assert {"layers", "totals", "memory", "training"} <= set(data)
    assert {"layers", "totals", "memory", "buffers"} <= set(data["training"])


def test_a_step_that_cannot_train_is_refused_before_the_forward(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """A bn on one value per channel at batch 1 cannot train (PyTorch refuses it too): `verify
    --training` says so at once, at the layer's line, before running the forward check — the
    forward is not called, nothing is printed."""
    import archcalc.executor

    def no_forward(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the forward ran before the refusal")

    monkeypatch.setattr(archcalc.executor, "run", no_forward)
    path = tmp_path / "vec.yaml"
    path.write_text("archcalc: 1\nname: vec\ninput: [3]\nlayers:\n  - fc: {out: 4}\n"
                    "  - bn: {id: t}\n")
    result = verify(str(path), "--training")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "vec.yaml:6:5: error: layer 't' (bn): in training a bn normalises 1 value" \
        in result.stderr
    assert "--batch 2" in result.stderr


def test_table_batch_and_input_override() -> None:
    result = verify("lenet5", "--batch", "3", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert "verified on real tensors" in result.stdout and "batch 3 · seed 5" in result.stdout
    assert "FAILED" not in result.stdout
    result = verify("resnet18", "--input", "3x64x64", "-f", "json")
    assert result.exit_code == 0, result.output
    data = as_json(result)
    assert data["input_shape"] == [3, 64, 64]
    assert data["layers"][0]["actual_shape"] == [64, 32, 32]  # ⌊(64 + 6 − 7)/2⌋ + 1


def test_batch_multiplies_counted_macs() -> None:
    one, two = (as_json(verify("lenet5", "-f", "json", "--batch", b)) for b in ("1", "2"))
    assert two["totals"]["macs_counted"] == 2 * one["totals"]["macs_counted"]


def test_receptive_field_json(tmp_path: Any) -> None:
    out = tmp_path / "v.json"
    result = verify("lenet5", "-r", "-f", "json", "-o", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    rf = data["receptive_field"]
    # the last map larger than one unit: S4. r = 5 (C1) + 1 (S2) + 4·2 (C3) + 1·2 (S4) = 16,
    # j = 4, start 2 + ½ + 2·2 + ½·2 = 7.5; unit 2 (centre 15.5) is the middle one inside
    assert rf["layer"] == "S4" and rf["unit"] == [2, 2] and rf["ok"] is True
    axis = rf["axes"][0]
    assert axis["measured"] == [8, 23] and axis["measured_size"] == 16
    assert axis["measured_jump"] == axis["predicted_jump"] == 4


def test_receptive_field_table_with_layer_and_unit() -> None:
    result = verify("lenet5", "-r", "--layer", "C3", "--unit", "4,4")
    assert result.exit_code == 0, result.output
    # C1 5×5 then S2 2×2/2 then C3 5×5: r = 5 + 1 + 4·2 = 14, j = 2; start 2 + ½ + 4 = 6.5,
    # unit 4: 6.5 + 4·2 = 14.5 ∓ 6.5 → pixels 8…21
    assert "measured input pixels 8…21 (14)" in result.stdout


#: a conv, an identity named 'middle' whose forward the tests break, a relu
MIDDLE = ("archcalc: 1\nname: t\ninput: [3, 8, 8]\nlayers:\n"
          "  - conv: {out: 4, k: 3}\n  - identity: {id: middle}\n  - relu\n")


@pytest.fixture
def broken_identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from archcalc.layers import Identity

    monkeypatch.setattr(Identity, "forward", lambda self, inputs, w, ctx: inputs[0][:, :1])
    yield


def test_a_mismatch_exits_1_naming_the_layer(tmp_path: Any, broken_identity: None) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(MIDDLE)
    result = verify(str(path))
    assert result.exit_code == 1
    assert "layer 'middle' (identity)" in result.stderr
    assert "output shape 1×6×6 but the engine predicts 4×6×6" in result.stderr
    assert "shape mismatch" in result.stdout
    data = as_json(verify(str(path), "-f", "json"))
    assert data["ok"] is False and data["layers"][1]["verdict"] == "shape mismatch"
    assert len(data["layers"]) == 2  # the run stops at the first wrong shape


# 600 1×1 convolutions of 4 channels and no activation: He-uniform weights (variance 2/fan_in)
# double the expected squared norm at every layer, so the activations grow about √2-fold a
# layer and pass float32's 3.4e38 ≈ 2^128 long before the end (2^(600/2) = 2^300 expected)
DEEP = ("archcalc: 1\nname: deep\ninput: [4, 4, 4]\nlayers:\n"
        "  - repeat: {n: 600, layers: [{conv: {out: 4, k: 1}}]}\n")


def test_an_overflow_of_random_weights_is_not_called_a_bug(tmp_path: Any) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(DEEP)
    result = verify(str(path))
    assert result.exit_code == 1
    assert "the engine and the executor disagree" not in result.stderr
    assert "until float32 overflowed" in result.stderr
    assert "every layer's shape, params and MACs agree with the engine" in result.stderr
    assert "RuntimeWarning" not in result.stderr  # NumPy's warnings stay out of it
    data = as_json(verify(str(path), "-f", "json"))
    verdicts = [layer["verdict"] for layer in data["layers"]]
    first = verdicts.index("non-finite")
    assert set(verdicts[:first]) == {"ok"} and set(verdicts[first:]) == {"non-finite"}
    assert all(layer["macs"] == layer["macs_counted"] and layer["params"]
               == layer["params_created"] for layer in data["layers"])
    assert len(data["layers"]) == 600  # a non-finite output does not stop the run
    name = data["layers"][first]["name"]
    assert f"layer '{name}' (conv): non-finite values in the output" in result.stderr
    assert f"through the {first} layers before it" in result.stderr


def test_a_non_finite_output_of_ordinary_inputs_is_the_forward(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from archcalc.layers import Identity

    monkeypatch.setattr(Identity, "forward", lambda self, inputs, w, ctx: inputs[0] / 0.0)
    path = tmp_path / "net.yaml"
    path.write_text(MIDDLE)
    result = verify(str(path))
    assert result.exit_code == 1
    assert "layer 'middle' (identity): non-finite values in the output" in result.stderr
    assert "its inputs are finite (at most" in result.stderr
    assert "overflowed" not in result.stderr


def test_a_wrong_receptive_field_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    from archcalc.layers import Pool
    from archcalc.shapes import AxisRF

    honest = Pool.rf

    def inflated(self: Pool, ins: Any, rfs: Any) -> Any:
        rf = honest(self, ins, rfs)
        return None if rf is None else tuple(AxisRF(a.size + 2, a.jump, a.start) for a in rf)

    monkeypatch.setattr(Pool, "rf", inflated)
    result = verify("lenet5", "-r", "--layer", "S2")
    assert result.exit_code == 1
    assert "measured receptive field" in result.stderr and "layer 'S2'" in result.stderr


def test_progress_bar_option_and_help() -> None:
    assert verify("lenet5", "--progress").exit_code == 0
    listing = CliRunner().invoke(cli, ["--help"])
    assert "verify" in listing.output


@pytest.mark.parametrize(("cores", "load", "chosen"), [
    (2, 2.3, 1),     # both cores busy: round(2 − 2.3) = 0, at least 1
    (2, 1.0, 1),     # one busy: 2 − 1 = 1
    (2, 0.2, None),  # round(1.8) = 2 = every core: OpenBLAS's own choice stands
    (8, 3.4, 5),     # round(8 − 3.4) = round(4.6) = 5
])
def test_verify_threads_default_to_the_idle_cores(monkeypatch: pytest.MonkeyPatch, cores: int,
                                                  load: float, chosen: int | None) -> None:
    from archcalc.cli_verify import THREAD_VARIABLES, blas_threads

    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "numpy")  # as in a fresh `archcalc verify` process
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    monkeypatch.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert blas_threads(None) == chosen
    assert os.environ.get("OPENBLAS_NUM_THREADS") == (None if chosen is None else str(chosen))
    assert blas_threads(3) == 3 and os.environ["OPENBLAS_NUM_THREADS"] == "3"  # --threads 3
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    assert blas_threads(None) is None and "OPENBLAS_NUM_THREADS" not in os.environ


def test_verify_threads_cannot_change_a_loaded_numpy() -> None:
    import numpy  # noqa: F401  (this process has loaded it)

    from archcalc.cli_verify import blas_threads

    assert blas_threads(None) is None
    result = verify("lenet5", "--threads", "1")
    assert result.exit_code == 2 and "in a process of its own" in result.stderr


def test_verify_threads_in_a_process_of_its_own() -> None:
    out = subprocess.run([sys.executable, "-m", "archcalc", "verify", "lenet5", "--threads",
                          "1", "-f", "json"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["ok"] is True
