"""BN's and tracked InstanceNorm's running statistics in a training step: PyTorch's ``train()``
update ``running ← (1 − momentum)·running + momentum·batch`` (the variance unbiased), done by
the executor's training forward and returned by ``train_step`` without touching the weights
it was given — by hand on a tiny tensor, and against PyTorch 2.14.1
(bench/running_stats_reference.py, values written here: the test needs no torch).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from archcalc.backprop import train_step
from archcalc.cli import cli
from archcalc.errors import ArchcalcError, ExecError, SpecError
from archcalc.executor import Context
from archcalc.layers import BatchNorm
from archcalc.layers.norm import InstanceNorm


def det(shape: tuple[int, ...], phase: float, scale: float = 2.0) -> np.ndarray:
    """bench/backward_reference.py's inputs: scale·sin(1.7·i + phase) over the flat index."""
    return scale * np.sin(1.7 * np.arange(math.prod(shape)) + phase).reshape(shape)


def positive(shape: tuple[int, ...], phase: float) -> np.ndarray:
    return 1.0 + 0.5 * det(shape, phase, 1.0)


def spec(*layers: dict[str, Any], shape: tuple[int, ...] = (2, 1, 2)) -> dict[str, Any]:
    return {"archcalc": 1, "name": "running", "input": list(shape), "layers": list(layers)}


#: x (B=2, C=2, 1×2): channel 0 holds 1, 3 | 5, 7 and channel 1 holds 0, 2 | 2, 4
HAND_X = np.array([[[[1.0, 3.0]], [[0.0, 2.0]]], [[[5.0, 7.0]], [[2.0, 4.0]]]])
HAND_RUNNING = {"running_mean": np.array([1.0, -1.0]), "running_var": np.array([2.0, 0.5])}


def hand_weights(node: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    return ({"gamma": np.ones(2), "beta": np.zeros(2)},
            {k: v.copy() for k, v in HAND_RUNNING.items()})


def test_bn_running_statistics_by_hand() -> None:
    """n = B·H·W = 2·1·2 = 4 values per channel. Channel 0: mean (1 + 3 + 5 + 7)/4 = 4,
    squared deviations 9 + 1 + 1 + 9 = 20, unbiased variance 20/3; channel 1: mean
    (0 + 2 + 2 + 4)/4 = 2, squared deviations 4 + 0 + 0 + 4 = 8, unbiased 8/3. Momentum 0.1:
    running_mean = 0.9·[1, −1] + 0.1·[4, 2] = [1.3, −0.7];
    running_var = 0.9·[2, 0.5] + 0.1·[20/3, 8/3] = [1.8 + 2/3, 0.45 + 4/15] = [37/15, 43/60]."""
    ctx = Context(np.float64)
    _, weights = hand_weights(None)
    BatchNorm().forward_train([HAND_X], {"gamma": np.ones(2), "beta": np.zeros(2), **weights},
                              ctx)
    np.testing.assert_allclose(ctx.updates["running_mean"], [1.3, -0.7], rtol=1e-15)
    np.testing.assert_allclose(ctx.updates["running_var"], [37 / 15, 43 / 60], rtol=1e-15)
    # momentum 0.5: halfway — [(1 + 4)/2, (−1 + 2)/2], [(2 + 20/3)/2, (0.5 + 8/3)/2]
    ctx = Context(np.float64)
    BatchNorm(momentum=0.5).forward_train(
        [HAND_X], {"gamma": np.ones(2), "beta": np.zeros(2), **weights}, ctx)
    np.testing.assert_allclose(ctx.updates["running_mean"], [2.5, 0.5], rtol=1e-15)
    np.testing.assert_allclose(ctx.updates["running_var"], [13 / 3, 19 / 12], rtol=1e-15)
    # the given buffers are not written
    assert weights["running_mean"].tolist() == [1.0, -1.0]
    assert weights["running_var"].tolist() == [2.0, 0.5]


def test_train_step_returns_the_updated_buffers_and_leaves_the_weights() -> None:
    """The same batch through ``train_step``: a standalone bn and a bn fused into a 1×1 conv
    whose weight is the identity (so the bn sees x itself) both give [1.3, −0.7] and
    [37/15, 43/60] (above), under the node's tensor names; the arrays handed in stay as
    they were."""
    given: dict[str, dict[str, np.ndarray]] = {}

    def weights(node: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        params, buffers = hand_weights(node)
        if node.type_name == "conv":
            params = {"weight": np.eye(2).reshape(2, 2, 1, 1), "bn.gamma": np.ones(2),
                      "bn.beta": np.zeros(2)}
            buffers = {f"bn.{k}": v for k, v in buffers.items()}
        given[node.name] = {**params, **buffers}
        return params, buffers

    for layer, head in (({"bn": {"id": "c"}}, ""),
                        ({"conv": {"id": "c", "out": 2, "k": 1, "bias": False, "bn": True}},
                         "bn.")):
        run = train_step(spec(layer), HAND_X, dtype=np.float64, weights=weights)
        assert run.ok, [s.all_problems for s in run.steps] or run.problems
        assert set(run.buffers) == {"c"}
        found = run.buffers["c"]
        assert set(found) == {f"{head}running_mean", f"{head}running_var"}
        np.testing.assert_allclose(found[f"{head}running_mean"], [1.3, -0.7], rtol=1e-15)
        np.testing.assert_allclose(found[f"{head}running_var"], [37 / 15, 43 / 60],
                                   rtol=1e-15)
        assert given["c"][f"{head}running_mean"].tolist() == [1.0, -1.0]
        assert given["c"][f"{head}running_var"].tolist() == [2.0, 0.5]


def test_a_shared_bn_moves_once_per_use() -> None:
    """``share:``: one module called twice moves its statistics twice, the second use from the
    first's result (as PyTorch's in-place update does). First use (above): [1.3, −0.7],
    [37/15, 43/60]. The second sees the first's output (x − mean)/√(σ² + ε) per channel —
    mean 0, biased variance σ²/(σ² + ε) with σ² = 5 and 2 (above), unbiased 4/3 of it:
    running_mean = 0.9·[1.3, −0.7] + 0 = [1.17, −0.63];
    running_var = 0.9·[37/15, 43/60] + 0.1·(4/3)·[5/(5 + ε), 2/(2 + ε)]."""
    eps = 1e-5
    run = train_step(spec({"bn": {"id": "a"}}, {"bn": {"id": "b", "share": "a"}}), HAND_X,
                     dtype=np.float64, weights=hand_weights)
    assert run.ok, run.problems
    assert set(run.buffers) == {"a"}
    np.testing.assert_allclose(run.buffers["a"]["running_mean"], [1.17, -0.63], rtol=1e-14)
    np.testing.assert_allclose(
        run.buffers["a"]["running_var"],
        [0.9 * 37 / 15 + 0.1 * 4 / 3 * 5 / (5 + eps), 0.9 * 43 / 60 + 0.1 * 4 / 3 * 2 / (2 + eps)],
        rtol=1e-14)


#: PyTorch 2.14.1 (bench/running_stats_reference.py): float64, train(), one forward of
#: x = det((2, 3, 2, 2), 0.3) with running_mean = det((3,), 1.9, 0.5) and
#: running_var = positive((3,), 0.6) before it
TORCH = {
    "bn": {
        "running_mean": [0.431483591107, -0.188909480244, -0.362390210158],
        "running_var": [1.38196703573, 1.46318557402, 0.786904820911],
    },
    "bn momentum 0.3": {
        "running_mean": [0.348150685634, -0.124207997439, -0.25490318825],
        "running_var": [1.58125863378, 1.64385150987, 1.11751695804],
    },
    "instancenorm tracked": {
        "running_mean": [0.431483591107, -0.188909480244, -0.362390210158],
        "running_var": [1.41846611417, 1.50057125271, 0.824810402272],
    },
}
LAYERS = {
    "bn": {"bn": {"id": "t"}},
    "bn momentum 0.3": {"bn": {"id": "t", "momentum": 0.3}},
    "instancenorm tracked": {"instancenorm": {"id": "t", "affine": True,
                                              "track_running_stats": True}},
}


@pytest.mark.parametrize("case", sorted(TORCH))
def test_running_statistics_equal_pytorchs(case: str) -> None:
    def weights(node: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        return ({"gamma": positive((3,), 0.4), "beta": det((3,), 1.1, 0.5)},
                {"running_mean": det((3,), 1.9, 0.5), "running_var": positive((3,), 0.6)})

    run = train_step(spec(LAYERS[case], shape=(3, 2, 2)), det((2, 3, 2, 2), 0.3),
                     dtype=np.float64, weights=weights)
    assert run.ok, run.problems
    for name, want in TORCH[case].items():
        np.testing.assert_allclose(run.buffers["t"][name], want, rtol=1e-11)


def test_what_updates_nothing() -> None:
    """FrozenBatchNorm2d (``frozen: true``) and an untracked InstanceNorm have no running
    update; a bn frozen for transfer learning (``--freeze``) still updates its statistics, as
    PyTorch's ``train()`` does whatever requires_grad says."""
    x = det((2, 2, 1, 2), 0.3)
    for layer in ({"bn": {"id": "t", "frozen": True}}, {"instancenorm": {"id": "t"}}):
        run = train_step(spec({"conv": {"out": 2, "k": 1}}, layer), x, dtype=np.float64)
        assert run.ok, run.problems
        assert dict(run.buffers) == {}
    run = train_step(spec({"bn": {"id": "t"}}, {"conv": {"out": 2, "k": 1}}), x,
                     dtype=np.float64, freeze="t")
    assert run.ok, run.problems
    assert set(run.buffers) == {"t"}


def test_one_value_per_channel_is_refused() -> None:
    """A bn on a [C] vector at batch 1 has one value per channel (n = 1·1): no unbiased
    variance for the running update, and PyTorch refuses to train it too — refused before the
    step runs, naming the layer; at batch 2 (n = 2) it trains. DeepLabV3's ASPP pooling
    branch (a bn on [256, 1, 1]) is the bundled case."""
    with pytest.raises(ExecError) as err:
        train_step(spec({"fc": {"out": 4}}, {"bn": {"id": "t"}}, shape=(3,)))
    assert "layer 't' (bn): in training a bn normalises 1 value per channel" in str(err.value)
    assert "PyTorch refuses it too" in str(err.value) and "--batch 2" in str(err.value)
    assert train_step(spec({"fc": {"out": 4}}, {"bn": {"id": "t"}}, shape=(3,)), batch=2).ok
    with pytest.raises(ExecError, match="1 value per sample and channel"):
        train_step(spec({"instancenorm": {"track_running_stats": True}}, shape=(3, 1, 1)),
                   batch=4)
    # untracked, or frozen: nothing to update, nothing refused
    assert train_step(spec({"conv": {"out": 2, "k": 1}}, {"bn": {"frozen": True}},
                           shape=(3, 1, 1))).ok
    with pytest.raises(ExecError, match=re.escape("layer 'aspp.pool_conv' (bn)")):
        train_step("deeplabv3_resnet50", max_memory="1KiB")  # refused before the budget


def test_momentum_is_checked_where_it_is_written(tmp_path: Any) -> None:
    import archcalc

    for value, words in ((1.5, "bn momentum must be between 0 and 1, got 1.5"),
                         (None, "bn momentum: null is not supported")):
        with pytest.raises(ArchcalcError) as err:
            archcalc.to_graph(spec({"bn": {"momentum": value}}))
        assert words in str(err.value)
    with pytest.raises(SpecError, match="momentum=None"):  # the hint names PyTorch's meaning
        archcalc.to_graph(spec({"bn": {"momentum": None}}))
    with pytest.raises(ArchcalcError, match="must be between 0 and 1"):
        archcalc.to_graph(spec({"instancenorm": {"momentum": -0.1}}))
    path = tmp_path / "m.yaml"
    path.write_text("archcalc: 1\nname: m\ninput: [3, 8, 8]\nlayers:\n"
                    "  - conv: {out: 4, k: 3, p: 1}\n  - bn: {momentum: null}\n")
    done = CliRunner().invoke(cli, ["table", str(path)])
    assert done.exit_code == 1
    assert f"{path}:6:20: error: layer 'bn1' (bn): bn momentum: null is not supported" \
        in done.output
    assert InstanceNorm(momentum=0.0).momentum == 0.0  # 0 keeps the statistics: allowed


def test_verify_training_json_reports_the_buffers() -> None:
    done = CliRunner().invoke(cli, ["verify", "resnet18", "--training", "--format", "json"])
    assert done.exit_code == 0, done.output
    buffers = json.loads(done.stdout)["training"]["buffers"]
    assert buffers["conv1"].keys() == {"bn.running_mean", "bn.running_var"}
    assert len(buffers["conv1"]["bn.running_mean"]) == 64
    # 20 batch norms in torchvision's resnet18: 17 fused into the convs, 3 in the shortcuts
    assert sum(len(b) for b in buffers.values()) == 2 * 20
