"""The executor's training pass (archcalc.backprop.train_step, ``verify --training``): one
training step on real tensors, held to the engine's training rules layer by layer — each
gradient's MACs counted through Context, the bytes kept for backward measured on the arrays
kept, the bytes alive at every point of the schedule — and the figures PyTorch gives.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import archcalc
from archcalc.backprop import train_step
from archcalc.cli import cli
from archcalc.executor import init_weights, run
from archcalc.layers import Conv, Pool

#: small bundled specs of every family (grouped, depthwise, SE, dense, inception, regions,
#: shared weights, deformable, LeNet's subsampling): the step agrees everywhere
SPECS = ["lenet5", "alexnet_torchvision", "resnet18", "mobilenet_v3_small", "squeezenet1_0",
         "shufflenet_v2_x1_0", "googlenet_stem", "inception_module_example", "efficientnet",
         "densenet121", "siamese", "deform_conv_example", "nin", "style_transfer"]


@pytest.mark.parametrize("name", SPECS)
def test_every_layer_agrees_with_the_engine(name: str) -> None:
    step = train_step(name)
    assert step.ok, [(s.name, s.all_problems) for s in step.failures] or step.problems
    assert len(step.steps) == step.planned
    assert step.points == step.predicted_points  # every point of the schedule, to the byte
    assert step.peak_bytes == step.predicted_peak_bytes == max(step.points)


def test_resnet50_matches_pytorch() -> None:
    """The issue's ground truth, PyTorch 2.14 CPU, torchvision resnet50 in train mode at 224,
    batch 1: backward 8,060,354,560 MACs (2 × forward 4,089,184,256 − conv1's input gradient
    118,013,952) and 86,334,464 bytes saved for backward — here counted and measured."""
    step = train_step("resnet50")
    assert step.ok
    counted = sum(s.input_macs_counted + s.weight_macs_counted for s in step.steps)
    assert counted == 2 * 4_089_184_256 - 118_013_952 == 8_060_354_560
    assert step.saved_bytes_kept == 86_334_464
    conv1 = step.steps[0]
    assert conv1.input_macs_counted == 0 and conv1.weight_macs_counted == 118_013_952


def test_resnet50_frozen_before_layer4_matches_pytorch() -> None:
    """The issue's frozen variant (every layer before layer4 frozen): 1,417,052,160 backward
    MACs and 5,607,424 bytes saved (PyTorch 2.14); nothing before layer4 is in the backward."""
    step = train_step("resnet50", freeze="until:layer4")
    assert step.ok
    assert sum(s.input_macs_counted + s.weight_macs_counted
               for s in step.steps) == 1_417_052_160
    assert step.saved_bytes_kept == 5_607_424
    before = [s for s in step.steps if not s.name.startswith(("layer4", "avgpool", "fc"))]
    assert before and not any(s.need_dx or s.need_dw for s in before)


def test_weight_gradients_of_the_whole_network_match_finite_differences() -> None:
    """End to end in float64: the step's weight gradients are those of the loss Σ y·g of
    the whole network (a residual block, a max pool, a global pool and an fc), checked by
    central differences on elements of every weight tensor."""
    spec = {"archcalc": 1, "name": "tiny", "input": [2, 9, 9], "layers": [
        {"conv": {"id": "c1", "out": 3, "k": 3, "p": 1, "act": "relu"}},
        {"conv": {"id": "c2", "out": 3, "k": 3, "p": 1}},
        {"add": {"in": ["c1", "c2"]}},
        {"maxpool": {"k": 2}},
        {"conv": {"id": "c3", "out": 4, "k": 2, "s": 2}},
        {"global_avgpool": {}}, {"flatten": {}}, {"fc": {"id": "fc", "out": 3}}]}
    graph = archcalc.to_graph(spec)
    step = train_step(graph, dtype=np.float64, keep_grads=True, batch=2)
    assert step.ok
    weights = {nd.name: init_weights(nd, 0, np.float64) for nd in graph.nodes}
    x = np.random.default_rng([0, 0x1A2B]).standard_normal((2, 2, 9, 9))
    out = run(graph, x, dtype=np.float64, weights=lambda nd: weights[nd.name])
    g = np.random.default_rng([0, 0x6EAD]).standard_normal(out.activations[graph.output].shape)

    def loss() -> float:
        y = run(graph, x, dtype=np.float64, weights=lambda nd: weights[nd.name])
        return float(np.sum(y.activations[graph.output] * g))

    rng = np.random.default_rng(3)
    checked = 0
    for node, grads in step.gradients.items():
        for tensor, grad in grads.items():
            value = weights[node][0][tensor]
            for flat in rng.choice(value.size, size=min(4, value.size), replace=False):
                at = np.unravel_index(flat, value.shape)
                keep = value[at]
                value[at] = keep + 1e-6
                up = loss()
                value[at] = keep - 1e-6
                down = loss()
                value[at] = keep
                assert grad[at] == pytest.approx((up - down) / 2e-6, rel=1e-6, abs=1e-8)
                checked += 1
    # 4 elements of each weight and bias, 3 of the 3-element biases of c1, c2 and fc
    assert set(step.gradients) == {"c1", "c2", "c3", "fc"} and checked == 4 * 8 - 3


def test_a_forward_keeping_something_else_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """A training forward whose private tensors differ from its rule's fails the step, naming
    the layer (the rule and the implementation cannot drift apart)."""
    original = Pool.forward_train

    def extra(self: Pool, inputs: Any, w: Any, ctx: Any) -> Any:
        y, private = original(self, inputs, w, ctx)
        return y, {**private, "spare": y.copy()}

    monkeypatch.setattr(Pool, "forward_train", extra)
    step = train_step("alexnet_torchvision")
    assert not step.ok
    first = step.failures[0]
    assert first.type == "maxpool" and "spare" in first.all_problems[0]


def test_a_backward_reading_what_the_rule_does_not_keep_fails(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """If a rule kept less than its backward reads, the backward (given only what is kept)
    fails and the step names the layer."""
    monkeypatch.setattr(Conv, "saves", lambda self, ins, out, dx, dw: ())
    step = train_step("lenet5")
    assert not step.ok
    assert "backward failed" in step.failures[0].all_problems[0]


def test_a_wrong_backward_work_rule_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Conv.backward_work

    def doubled(self: Conv, ins: Any, out: Any, need_dx: bool, need_dw: bool) -> Any:
        dx, dw = original(self, ins, out, need_dx, need_dw)
        return dx, type(dw)(macs=2 * dw.macs, window=dw.window, elementwise=dw.elementwise)

    monkeypatch.setattr(Conv, "backward_work", doubled)
    step = train_step("lenet5")
    first = step.failures[0]
    assert first.name == "C1" and "weight gradient took" in first.all_problems[0]


def verify(*args: str) -> Any:
    return CliRunner().invoke(cli, ["verify", *args])


def test_verify_training_json() -> None:
    result = verify("resnet18", "--training", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    training = data["training"]
    assert data["ok"] is True and training["ok"] is True
    totals = training["totals"]
    assert totals["backward_input_macs_counted"] == totals["backward_input_macs"]
    assert totals["backward_weight_macs_counted"] == totals["backward_weight_macs"]
    assert totals["saved_bytes_kept"] == totals["saved_bytes"]
    memory = training["memory"]
    assert memory["peak_bytes"] == memory["predicted_peak_bytes"]
    conv1 = training["layers"][0]
    assert conv1["input_gradient"] is False and conv1["weight_gradient"] is True
    assert conv1["backward_input_macs_counted"] == 0


def test_verify_training_table_fits_80_columns() -> None:
    result = CliRunner().invoke(cli, ["verify", "resnet18", "--training", "--freeze",
                                      "until:layer3"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("one training step on real tensors" in line for line in lines)
    assert any(line.startswith("layer1.0.conv1") and "—" in line for line in lines)


def test_verify_training_exit_1_names_the_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Conv.backward_work

    def doubled(self: Conv, ins: Any, out: Any, need_dx: bool, need_dw: bool) -> Any:
        dx, dw = original(self, ins, out, need_dx, need_dw)
        return (type(dx)(macs=dx.macs + 1) if need_dx else dx), dw

    monkeypatch.setattr(Conv, "backward_work", doubled)
    result = verify("lenet5", "--training")
    assert result.exit_code == 1
    assert "layer 'C3' (conv)" in result.output and "input gradient took" in result.output
