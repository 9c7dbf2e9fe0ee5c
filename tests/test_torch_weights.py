"""Which PyTorch tensor of an exported row receives which executor tensor (the value check of
`verify --against torch`; archcalc/torch_weights.py). No torch needed: the PyTorch keys are
written out from PyTorch's documented module attributes — nn.Conv2d and nn.Linear hold
``weight``, ``bias``; nn.BatchNorm2d ``weight`` (γ), ``bias`` (β), the buffers
``running_mean``, ``running_var``, ``num_batches_tracked``; an ``nn.Sequential``'s members
are named ``0, 1, …`` — and the executor's names come from the layer rules
(``Node.tensors()``)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from archcalc import load_spec, to_graph
from archcalc.graph import Node
from archcalc.torch_export import export_pytorch
from archcalc.torch_weights import WeightMapError, row_weight_map, torch_names

BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _graph(*layers: dict[str, Any], shape: list[int] | None = None) -> Any:
    return to_graph(load_spec({"archcalc": 1, "name": "t", "input": shape or [3, 8, 8],
                               "layers": list(layers)}))


def _map(node: Node, keys: dict[str, tuple[int, ...]]) -> dict[str, str]:
    return row_weight_map([(t.name, t.shape) for t in node.tensors()],
                          [f"{p.type_name}." for p in node.post], keys)


def test_torch_names_of_the_executors_tensors() -> None:
    assert torch_names("weight") == ("weight",)
    assert torch_names("gamma") == ("gamma", "weight")  # LayerScale keeps gamma; BN: weight
    assert torch_names("beta") == ("beta", "bias")
    assert torch_names("weight[3]") == ("weight[3]", "weight.3")


def test_fused_conv_bn_relu_row_maps_onto_its_sequential_members() -> None:
    """conv 3→4 3×3 without bias, bn, relu: nn.Sequential(Conv2d, BatchNorm2d, ReLU) —
    member 0 holds the kernel [4, 3, 3, 3], member 1 BN's four tensors of 4 channels, the
    ReLU (member 2) none; num_batches_tracked is no weight."""
    graph = _graph({"conv": {"id": "c", "out": 4, "k": 3, "bias": False, "bn": True,
                             "act": "relu"}})
    keys = {"0.weight": (4, 3, 3, 3), **{f"1.{k}": (4,) for k in BN_KEYS}}
    keys["1.num_batches_tracked"] = ()
    assert _map(graph.node("c"), keys) == {
        "0.weight": "weight", "1.weight": "bn.gamma", "1.bias": "bn.beta",
        "1.running_mean": "bn.running_mean", "1.running_var": "bn.running_var"}


def test_members_without_tensors_are_skipped_on_both_sides() -> None:
    """A conv with uneven `same` padding (k = 4: 1 before, 2 after) is ConstantPad2d, Conv2d,
    BatchNorm2d: the pad (member 0) holds nothing, so the kernel is member 1 and BN member 2."""
    graph = _graph({"conv": {"id": "c", "out": 2, "k": 4, "p": "same", "bn": True}})
    keys = {"1.weight": (2, 3, 4, 4), "1.bias": (2,),
            **{f"2.{k}": (2,) for k in BN_KEYS[:4]}}
    assert _map(graph.node("c"), keys) == {
        "1.weight": "weight", "1.bias": "bias", "2.weight": "bn.gamma", "2.bias": "bn.beta",
        "2.running_mean": "bn.running_mean", "2.running_var": "bn.running_var"}


def test_fc_on_a_one_by_one_map_is_the_linear_after_flatten() -> None:
    """fc 4 → 2 on [4, 1, 1]: nn.Sequential(nn.Flatten(), nn.Linear(4, 2)) — member 1."""
    graph = _graph({"fc": {"id": "f", "out": 2}}, shape=[4, 1, 1])
    assert _map(graph.node("f"), {"1.weight": (2, 4), "1.bias": (2,)}) == {
        "1.weight": "weight", "1.bias": "bias"}


def test_partial_connection_kernels_are_the_parameter_list() -> None:
    """LeNet-5's C3: 16 kernels over 3, 4 or 6 of S2's maps; PartialConv holds `bias` and a
    ParameterList `weight.0` … `weight.15` of [1, maps, 5, 5] (the executor: weight[i] of
    [maps, 5, 5], the same elements)."""
    node = to_graph(load_spec("lenet5")).node("C3")
    ours = {t.name: t.shape for t in node.tensors()}
    keys = {"bias": (16,), **{f"weight.{i}": (1, *ours[f"weight[{i}]"]) for i in range(16)}}
    found = _map(node, keys)
    assert found["weight.15"] == "weight[15]" and found["bias"] == "bias"
    assert len(found) == 17 and ours["weight[15]"] == (6, 5, 5)  # map 15 sees all six maps


def test_a_tensor_without_a_counterpart_is_an_error_naming_both() -> None:
    """A PReLU exported as nn.Identity holds no `weight`: the mapping refuses, not a silent
    PyTorch initialisation."""
    graph = _graph({"conv": {"id": "c", "out": 2, "k": 1}}, {"prelu": {"id": "p"}})
    with pytest.raises(WeightMapError, match=re.escape(
            "1 layers with tensors (weight) but PyTorch's module has 0")):
        _map(graph.node("p"), {})
    with pytest.raises(WeightMapError, match=re.escape("'bias' [2] has no PyTorch counterpart")):
        _map(graph.node("c"), {"weight": (2, 3, 1, 1), "offset": (2,)})
    with pytest.raises(WeightMapError, match="differ in size"):
        _map(graph.node("c"), {"weight": (2, 4, 1, 1), "bias": (2,)})


def test_rows_of_an_exported_resnet18_are_named_by_their_rows() -> None:
    """Names by row: the executor's tensors of `layer1.0.conv1` (conv + bn + relu) are the
    module's `layer1.0.conv1.0.weight`, `layer1.0.conv1.1.running_mean`, …; the downsample
    of layer2.0 is its own row `layer2.0.downsample1` (the spec's id)."""
    graph = to_graph(load_spec("resnet18"))
    modules = export_pytorch(graph).modules
    node = graph.node("layer1.0.conv1")
    keys = {"0.weight": (64, 64, 3, 3), **{f"1.{k}": (64,) for k in BN_KEYS[:4]}}
    full = {f"{modules[node.name]}.{k}": v for k, v in _map(node, keys).items()}
    assert full == {"layer1.0.conv1.0.weight": "weight", "layer1.0.conv1.1.weight": "bn.gamma",
                    "layer1.0.conv1.1.bias": "bn.beta",
                    "layer1.0.conv1.1.running_mean": "bn.running_mean",
                    "layer1.0.conv1.1.running_var": "bn.running_var"}
    assert modules["layer2.0.downsample1"] == "layer2.0.downsample1"
