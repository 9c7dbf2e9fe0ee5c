"""Backward of the element-wise, normalisation, merge and rearranging layers (families
activation, norm, merge, reshape, and maxout), and of the fused post-ops (``bn: true``,
``act: …``).

* Every class of these families has a finite-difference case (tests/gradcheck.py: float64,
  central differences, every input and trainable tensor; its tolerances in its docstring), and
  every activation function and every fusable post-op one too — set equality with the registry,
  so a new class or function without a case fails.
* The non-trivial ones (BN in training, layer/group/instance norm, l2norm, lrn, softmax, gelu,
  elu, hardswish, silu, prelu, maxout, a broadcast gate) are compared by value with PyTorch
  2.14.1's autograd, measured once by bench/backward_reference.py (float64, train mode, the
  deterministic inputs ``det`` below) and written here as numbers: the tests never need torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import pytest
from gradcheck import check, check_post, gradients

from archcalc.executor import Context
from archcalc.layers import LAYER_CLASSES, POST_PROTOCOL, Layer, activation, merge, norm, reshape
from archcalc.layers.activation import RULES, Activation, ConstantScale, Dropout, Identity, PReLU
from archcalc.layers.merge import Add, Concat, Multiply, Subtract
from archcalc.layers.norm import (
    LRN,
    BatchNorm,
    GroupNorm,
    InstanceNorm,
    L2Norm,
    LayerNorm,
    LayerScale,
)
from archcalc.layers.pool import Maxout
from archcalc.layers.reshape import ChannelShuffle, Crop, Flatten, Reshape, Slice, ZeroPad

FAMILIES = (activation, norm, merge, reshape)


def det(shape: tuple[int, ...], phase: float, scale: float = 2.0) -> np.ndarray:
    """bench/backward_reference.py's inputs: scale·sin(1.7·i + phase) over the flat index."""
    n = math.prod(shape)
    return scale * np.sin(1.7 * np.arange(n) + phase).reshape(shape)


def positive(shape: tuple[int, ...], phase: float) -> np.ndarray:
    return 1.0 + 0.5 * det(shape, phase, 1.0)


class Grad(NamedTuple):
    """A finite-difference case: the layer, its per-sample input shapes, and check()'s keyword
    arguments (inputs away from a kink, an input without gradient)."""

    id: str
    layer: Layer
    ins: list[tuple[int, ...]]
    options: Mapping[str, Any] = MappingProxyType({})


def _wide(shape: tuple[int, ...], scale: float = 4.0) -> dict[str, Any]:
    """N(0, scale²) inputs: past relu6's 6 and hardswish's ±3, so every piece is exercised."""
    return {"inputs": [np.random.default_rng(7).standard_normal((2, *shape)) * scale]}


# small L2 norms on the first sample (under ε = 0.5: the floor), large on the second
_FLOOR = np.concatenate([det((1, 3, 2, 2), 0.1, 0.05), det((1, 3, 2, 2), 0.7)])

GRADS: list[Grad] = [
    *(Grad(f"activation {fn}", Activation(fn=fn, slope=0.1, alpha=0.7), [(3, 2, 2)],
           _wide((3, 2, 2))) for fn in RULES),
    Grad("activation leaky_relu, negative slope", Activation(fn="leaky_relu", slope=-0.2),
         [(3, 4)]),
    Grad("activation softmax on a vector", Activation(fn="softmax"), [(5,)]),
    Grad("identity", Identity(), [(3, 2, 2)]),
    Grad("dropout", Dropout(p=0.3), [(3, 4, 4)]),
    Grad("dropout p = 0", Dropout(p=0.0), [(3, 2)]),
    Grad("scale", ConstantScale(factor=-0.3), [(3, 2, 2)]),
    Grad("prelu", PReLU(), [(3, 2, 2)]),
    Grad("prelu per channel", PReLU(per_channel=True), [(3, 2, 2)]),
    Grad("bn", BatchNorm(), [(3, 2, 2)]),
    Grad("bn 1d, batch 4", BatchNorm(), [(5,)], {"batch": 4}),
    Grad("bn 3d", BatchNorm(), [(2, 2, 2, 2)]),
    Grad("bn affine false", BatchNorm(affine=False), [(3, 2, 2)]),
    Grad("bn frozen", BatchNorm(frozen=True), [(3, 2, 2)]),
    Grad("bn frozen, affine false", BatchNorm(frozen=True, affine=False), [(3, 2)]),
    Grad("layernorm channels", LayerNorm(), [(3, 2, 2)]),
    Grad("layernorm all", LayerNorm(over="all"), [(3, 2, 2)]),
    Grad("layernorm channels 1d", LayerNorm(), [(4, 3)]),
    Grad("lrn 3", LRN(size=3, alpha=0.5, beta=0.75, k=1.0), [(5, 2, 2)]),
    Grad("lrn 4 (even)", LRN(size=4, alpha=0.5, beta=0.6, k=2.0), [(5, 3)]),
    Grad("lrn AlexNet", LRN(), [(6, 2, 2)]),
    Grad("groupnorm", GroupNorm(groups=2), [(4, 2, 2)]),
    Grad("groupnorm affine false", GroupNorm(groups=3, affine=False), [(6, 3)]),
    Grad("instancenorm", InstanceNorm(), [(3, 2, 2)]),
    Grad("instancenorm affine, tracked", InstanceNorm(affine=True, track_running_stats=True),
         [(3, 2, 3)]),
    Grad("l2norm", L2Norm(), [(3, 2, 2)]),
    Grad("l2norm under the floor", L2Norm(eps=0.5), [(3, 2, 2)], {"inputs": [_FLOOR]}),
    Grad("l2norm affine false", L2Norm(affine=False), [(3, 2)]),
    Grad("layer_scale", LayerScale(), [(3, 2, 2)]),
    Grad("add 3", Add(), [(3, 2, 2)] * 3),
    Grad("subtract", Subtract(), [(3, 2), (3, 2)]),
    Grad("multiply", Multiply(), [(3, 2, 2), (3, 2, 2)]),
    Grad("multiply gate second", Multiply(), [(3, 2, 2), (3, 1, 1)]),
    Grad("multiply gate first", Multiply(), [(3, 1, 1), (3, 2, 2)]),
    Grad("multiply flat gate", Multiply(), [(3, 2, 2), (3,)]),
    Grad("concat", Concat(), [(2, 2, 2), (3, 2, 2), (1, 2, 2)]),
    Grad("flatten", Flatten(), [(2, 2, 3)]),
    Grad("reshape", Reshape(shape=(3, -1)), [(2, 3, 2)]),
    Grad("zeropad", ZeroPad(p=[[1, 0], [0, 2]]), [(2, 2, 3)]),
    Grad("crop margin", Crop(margin=1), [(2, 4, 4)]),
    Grad("crop size", Crop(size=(2, 3)), [(2, 5, 4)]),
    Grad("crop to a second input", Crop(), [(2, 5, 4), (1, 2, 3)], {"differentiable": (0,)}),
    Grad("channel_shuffle", ChannelShuffle(groups=2), [(6, 2)]),
    Grad("slice", Slice(start=1, stop=3), [(4, 2, 2)]),
    Grad("maxout", Maxout(pieces=3), [(6, 2, 2)]),
    Grad("maxout 1d", Maxout(pieces=2), [(4, 3)]),
]

#: every fusable post-op (bn and each activation usable as ``act:``)
POSTS: list[Grad] = [
    Grad("bn", BatchNorm(), [(3, 2, 2)]),
    Grad("bn affine false", BatchNorm(affine=False), [(3, 2, 2)]),
    Grad("bn frozen", BatchNorm(frozen=True), [(3, 2, 2)]),
    *(Grad(f"act {fn}", Activation(fn=fn, slope=0.1, alpha=0.7), [(3, 2, 2)],
           {"y_in": _wide((3, 2, 2))["inputs"][0]}) for fn in RULES),
]


def _family_classes() -> set[type[Layer]]:
    names = {m.__name__ for m in FAMILIES}
    return {cls for cls in LAYER_CLASSES if cls.__module__ in names} | {Maxout}


@pytest.mark.parametrize("case", GRADS, ids=lambda c: c.id)
def test_backward_matches_finite_differences(case: Grad) -> None:
    result = check(case.layer, case.ins, **case.options)
    assert result.errors  # something was checked
    assert result.macs == 0  # element-wise: no matrix products in these backwards


@pytest.mark.parametrize("case", POSTS, ids=lambda c: c.id)
def test_fused_post_op_backward_matches_finite_differences(case: Grad) -> None:
    result = check_post(case.layer, case.ins[0], **case.options)
    assert result.errors


def test_every_class_of_these_families_has_a_gradient_case() -> None:
    assert {type(c.layer) for c in GRADS} == _family_classes()
    assert all(cls.backward is not Layer.backward for cls in _family_classes())


def test_every_activation_function_has_a_gradient_case_standalone_and_fused() -> None:
    standalone = {c.layer.fn for c in GRADS if isinstance(c.layer, Activation)}
    fused = {c.layer.fn for c in POSTS if isinstance(c.layer, Activation)}
    assert standalone == fused == set(RULES)


def test_every_fusable_class_defines_the_training_post_ops() -> None:
    """POST_PROTOCOL names the training post-ops; the conformance test holds every fusable
    class to all of them, and the post-op cases cover exactly those classes."""
    assert {"forward_train_inplace", "backward_post"} <= set(POST_PROTOCOL)
    fusable = {cls for cls in LAYER_CLASSES
               if any(getattr(cls, m) is not getattr(Layer, m) for m in POST_PROTOCOL)}
    assert fusable == {type(c.layer) for c in POSTS} == {BatchNorm, Activation}
    assert all(getattr(cls, m) is not getattr(Layer, m) for cls in fusable
               for m in POST_PROTOCOL)


# ------------------------------------------------------------------------- training forwards --

def test_bn_trains_on_batch_statistics_and_keeps_them() -> None:
    """Channel 0 of x = [[1, 3], [5, 7]] over a batch of 2 (one position each… here 2×2 per
    channel): mean 4, biased variance ((1−4)² + (3−4)² + (5−4)² + (7−4)²)/4 = 5, invstd
    1/√(5 + ε); y = (x − 4)/√5 with γ = 1, β = 0."""
    x = np.array([[[1.0, 3.0]], [[5.0, 7.0]]])  # (B=2, C=1, L=2)
    w = {"gamma": np.ones(1), "beta": np.zeros(1), "running_mean": np.full(1, 100.0),
         "running_var": np.full(1, 100.0)}
    y, kept = BatchNorm().forward_train([x], w, Context(np.float64))
    assert kept["mean"].tolist() == [4.0]
    np.testing.assert_allclose(kept["invstd"], [1 / math.sqrt(5 + 1e-5)], rtol=1e-15)
    np.testing.assert_allclose(y, (x - 4) / math.sqrt(5 + 1e-5), rtol=1e-15)
    # inference uses the running statistics instead: (x − 100)/√(100 + ε)
    np.testing.assert_allclose(BatchNorm().forward([x], w, Context(np.float64)),
                               (x - 100) / math.sqrt(100 + 1e-5), rtol=1e-12)


def test_bn_statistics_have_the_weights_dtype() -> None:
    """float16 activations with float32 weights (autocast): the output float16, the kept
    statistics float32 (saves' ``param`` dtype)."""
    x = np.ones((2, 3, 2, 2), np.float16)
    w = {"gamma": np.ones(3, np.float32), "beta": np.zeros(3, np.float32),
         "running_mean": np.zeros(3, np.float32), "running_var": np.ones(3, np.float32)}
    y, kept = BatchNorm().forward_train([x], w, Context(np.float16))
    assert y.dtype == np.float16
    assert {k: (v.dtype, v.shape) for k, v in kept.items()} == {
        "mean": (np.float32, (3,)), "invstd": (np.float32, (3,))}


def test_dropout_masks_by_the_context_generator() -> None:
    """p = 0.25 on 40 000 elements: the kept fraction is 0.75 within 0.02 (the binomial's
    standard deviation is √(0.75·0.25/40000) = 0.0022, so 0.02 is 9σ); each kept element
    is x/(1 − p) = 4x/3; the gradient is g·mask; the same seed draws the same mask."""
    x = np.ones((4, 10000))
    y, kept = Dropout(p=0.25).forward_train([x], {}, Context(np.float64, seed=3))
    mask = kept["mask"]
    assert set(np.unique(mask).tolist()) == {0.0, 4 / 3}
    assert abs(np.count_nonzero(mask) / mask.size - 0.75) < 0.02
    np.testing.assert_array_equal(y, x * mask)
    again = Dropout(p=0.25).forward_train([x], {}, Context(np.float64, seed=3))[1]["mask"]
    np.testing.assert_array_equal(mask, again)
    (dx,), _ = Dropout(p=0.25).backward(kept, {}, 2 * x, Context(np.float64), True, False)
    np.testing.assert_array_equal(dx, 2 * mask)
    gone = Dropout(p=1.0).forward_train([x], {}, Context(np.float64))[0]
    assert not gone.any()


def test_instancenorm_trains_on_instance_statistics_even_when_tracked() -> None:
    """Training normalises by each sample's own statistics; inference by the running ones."""
    x = det((2, 3, 2, 2), 0.3)
    layer = InstanceNorm(track_running_stats=True)
    w = {"running_mean": np.full(3, 10.0), "running_var": np.full(3, 4.0)}
    y, kept = layer.forward_train([x], w, Context(np.float64))
    np.testing.assert_allclose(y.mean(axis=(2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(kept["mean"], x.mean(axis=(2, 3)), rtol=1e-12)
    assert kept["running_mean_repeat"].tolist() == [[10.0] * 3] * 2
    np.testing.assert_allclose(layer.forward([x], w, Context(np.float64)),
                               (x - 10) / math.sqrt(4 + 1e-5), rtol=1e-12)


def test_fused_activation_keeping_its_output_overwrites_in_place() -> None:
    """A post-op that keeps ``y`` (relu, as ``inplace=True``) writes into the op's output; one
    that keeps ``x`` (gelu) leaves it for the backward and returns a new array."""
    x = det((2, 3, 2, 2), 0.3)
    y, _ = Activation(fn="relu").forward_train_inplace(x, {}, Context(np.float64))
    assert y is x
    x = det((2, 3, 2, 2), 0.3)
    y, _ = Activation(fn="gelu").forward_train_inplace(x, {}, Context(np.float64))
    assert y is not x
    np.testing.assert_array_equal(x, det((2, 3, 2, 2), 0.3))


# ---------------------------------------------------------------------------- against PyTorch --

#: case → (layer, input shapes, archcalc weights from the deterministic formulas, torch's
#: parameter name → archcalc's)
def _torch_cases() -> dict[str, tuple[Layer, list[tuple[int, ...]], dict[str, np.ndarray],
                                      dict[str, str]]]:
    c = 3
    gamma, beta = positive((c,), 0.4), det((c,), 1.1, 0.5)
    stats = {"running_mean": np.zeros(c), "running_var": np.ones(c)}
    gb = {"gamma": gamma, "beta": beta}
    names = {"weight": "gamma", "bias": "beta"}
    return {
        "bn": (BatchNorm(), [(c, 2, 2)], {**gb, **stats}, names),
        "layernorm channels": (LayerNorm(), [(c, 2, 2)], gb,
                               {"ln.weight": "gamma", "ln.bias": "beta"}),
        "layernorm all": (LayerNorm(over="all"), [(c, 2, 2)],
                          {"gamma": positive((c, 2, 2), 0.4), "beta": det((c, 2, 2), 1.1, 0.5)},
                          names),
        "groupnorm": (GroupNorm(groups=2), [(4, 3)],
                      {"gamma": positive((4,), 0.4), "beta": det((4,), 1.1, 0.5)}, names),
        "instancenorm": (InstanceNorm(affine=True), [(c, 2, 2)], gb, names),
        "prelu": (PReLU(per_channel=True), [(c, 2, 2)], {"weight": det((c,), 0.9, 0.3)},
                  {"weight": "weight"}),
        "l2norm": (L2Norm(), [(c, 2, 2)], {"weight": positive((c,), 0.4)}, {"weight": "weight"}),
        "lrn": (LRN(size=3, alpha=0.5, beta=0.75, k=1.0), [(4, 2, 2)], {}, {}),
        "softmax": (Activation(fn="softmax"), [(c, 2, 2)], {}, {}),
        "gelu": (Activation(fn="gelu"), [(c, 2, 2)], {}, {}),
        "elu": (Activation(fn="elu", alpha=0.7), [(c, 2, 2)], {}, {}),
        "hardswish": (Activation(fn="hardswish"), [(c, 2, 2)], {}, {}),
        "silu": (Activation(fn="silu"), [(c, 2, 2)], {}, {}),
        "maxout": (Maxout(pieces=2), [(4, 3)], {}, {}),
        "multiply gate": (Multiply(), [(c, 2, 2), (c, 1, 1)], {}, {}),
    }


#: erf by Abramowitz & Stegun (absolute error 1.5e-7) in gelu; exact arithmetic elsewhere
_TOL = {"gelu": 1e-6}


@pytest.mark.parametrize("name", list(_torch_cases()))
def test_gradients_equal_pytorchs(name: str) -> None:
    layer, shapes, w, rename = _torch_cases()[name]
    ref = TORCH[name]
    xs = [det((2, *s), 0.3 + i) for i, s in enumerate(shapes)]
    y, _ = layer.forward_train(xs, w, Context(np.float64))
    gy = det(y.shape, 2.2, 1.0)
    dxs, dws = gradients(layer, xs, w, gy)
    tol = _TOL.get(name, 1e-10)
    np.testing.assert_allclose(y.ravel(), ref["y"], rtol=tol, atol=tol)
    for i, dx in enumerate(dxs):
        assert dx is not None
        np.testing.assert_allclose(dx.ravel(), ref[f"dx{i}"], rtol=tol, atol=tol)
    assert {rename[k] for k in ref if k != "y" and not k.startswith("dx")} == set(dws)
    for key, ours in rename.items():
        np.testing.assert_allclose(dws[ours].ravel(), ref[key], rtol=tol, atol=tol)


# bench/backward_reference.py, torch 2.14.1 CPU, float64, train mode (12 significant digits)
TORCH: dict[str, dict[str, list[float]]] = {
    'bn': {
        'y': [0.897874187536, 1.93647035978, -0.498743209074, -0.909811659758, 1.54272348425,
            1.25046757468, -1.72097499213, -0.663011052866, 0.407959494295, -0.442418360472,
            -1.53216456943, -0.400971116259, 2.0242167145, -0.274906330469, -1.05523831333,
            1.44496769106, 1.48240854502, -1.55730103781, -0.937128998953, 1.94276907843,
            -0.297848687689, -1.52429736449, -0.547568081126, 0.427188214519],
        'dx0': [0.722028182648, -0.37556254567, -0.722495743846, 0.464495849418, 0.626326637334,
            -0.809540706995, -0.488906035111, 0.864337284913, 0.1079204014, -0.464353234848,
            0.00831432416525, 0.458786735191, -0.263330210132, -0.778021557695, 0.366571904692,
            0.586314120585, -0.71707342579, -0.609551779502, 0.802959083558, 0.331448941594,
            -0.451703771737, -0.0611469512807, 0.464036677896, -0.0618541807872],
        'weight': [-1.83111487746, -1.83060687265, -1.82503132927],
        'bias': [0.334030106916, 0.116042144436, -0.132256608622],
    },
    'layernorm channels': {
        'y': [-1.13414462029, 1.80761069536, 2.08324413005, -0.965715806736, 0.492238290468,
            0.388960085784, -0.382536308185, 0.049151780511, 0.271553414805, -1.38739968703,
            -1.17349289339, 0.388521372124, 1.76805159766, 2.04748854759, -0.939301161557,
            -1.22092760698, 0.466376306652, -0.234860078724, -0.00708301437985, 0.87790428638,
            -1.40195062927, -1.2243169835, 0.400439450528, 0.134991621515],
        'dx0': [-0.118328109807, 0.36109873507, 0.0876710479624, -0.288206510982, 0.329441002924,
            -0.606583601146, -0.34341674296, 0.5233471561, -0.211112893117, 0.245484866076,
            0.255745694998, -0.235140645118, 0.426020302602, 0.105547493181, -0.326090710294,
            -0.0699473057909, -0.677015435892, -0.325504461695, 0.567165833974, 0.399456210707,
            0.25099513329, 0.219956968514, -0.24107512368, -0.329508904916],
        'ln.weight': [-6.98984130506, -0.265892085157, 3.85956475016],
        'ln.bias': [0.334030106916, 0.116042144436, -0.132256608622],
    },
    'layernorm all': {
        'y': [0.934624034191, 2.04638841809, -1.04757248116, -0.793989959237, 1.9620988982,
            0.957191859013, -1.18792527096, -0.269795614619, 2.52334379535, -0.185483469664,
            -1.09444346991, 0.6260244936, 1.8944164966, -0.761337760634, -1.37759526291,
            0.439799594936, 1.69216833552, -1.58631534471, -0.897146142477, 1.22152124174,
            0.788912658256, -1.78779693678, -0.392493411519, 1.81660711232],
        'dx0': [0.750420945994, -0.555591497581, -0.456022440979, 0.220217453506, 0.554406584467,
            -0.779496416324, -0.272831436709, 0.540822531747, 0.0808633523573, -0.720303833165,
            -0.105230309807, 0.742745066494, -0.0851908778545, -0.646032174743, 0.339037137677,
            0.547302096145, -0.539235898472, -0.276349130597, 0.42061513972, 0.409256180664,
            -0.7965775193, 0.0839915580075, 0.494833802225, 0.0483496865283],
        'weight': [-0.36263387942, -0.422679564865, -0.468292833025, -0.584652214391,
            -0.339123093349, -0.426453348246, -0.547895136455, -0.485272262624, -0.373266510114,
            -0.421707835831, -0.611162085529, -0.383053859151],
        'bias': [0.23657074871, -1.42754474426, 0.131291812607, 1.39371228986, -0.490436122968,
            -1.26733230136, 0.817013701916, 1.05679686685, -1.08933861768, -0.776086300229,
            1.28932751145, 0.443840797842],
    },
    'groupnorm': {
        'y': [0.620277940845, 1.77511762501, -0.932654022799, -2.03176366659, 1.354063016,
            1.02928196859, -1.22358638249, -0.685167871731, 0.688312761414, 0.223968120163,
            -0.842389634643, 0.264525811411, 1.92907776747, -0.252721218892, -0.993232925284,
            1.28643558322, 1.44115060882, -1.44179871569, -1.08029929165, 0.300674845057,
            -0.352573044728, -1.04534514602, -0.144788401853, 0.753949222703],
        'dx0': [0.823641498007, -0.316457632777, -0.890590700902, 0.556097962162, 0.716550984308,
            -0.889242110798, -0.228199696333, 0.416006136141, -0.0381214761494, -0.531312055447,
            0.0127116642596, 0.368915427528, -0.0737403785251, -0.509334034039, 0.594782671984,
            0.832349098173, -0.54087946241, -0.303177895182, 0.289789241361, 0.147095440393,
            -0.511424797395, -0.205588112802, 0.347928014598, -0.0677997861545],
        'weight': [-1.11504222925, -1.56983754314, -1.23109968244, -1.41074170702],
        'bias': [-1.05968218294, -0.364056134472, 0.784471951087, 0.957082009059],
    },
    'instancenorm': {
        'y': [1.01709561094, 2.11336451947, -0.457075265028, -0.890970145256, 1.693607617,
            1.38396528313, -1.76424962456, -0.643346975261, 0.416824753119, -0.438969614878,
            -1.53565700266, -0.397258370908, 1.87138753196, -0.329450094351, -1.07642359482,
            1.31690087733, 1.35635814764, -1.53532698787, -0.945355407574, 1.79430054812,
            -0.302152172651, -1.5209599499, -0.550315788957, 0.418367676174],
        'dx0': [0.758045188776, -0.363533824616, -0.816393688988, 0.421882324828, 0.570334047786,
            -0.942363028297, -0.515310707471, 0.887339687982, 0.0297380203087, -0.497960014445,
            0.0395123324211, 0.428709661715, -0.274047062514, -0.700137337301, 0.418129600618,
            0.556054799198, -0.61313784036, -0.567530152016, 0.787759442832, 0.392908549544,
            -0.411207983019, -0.0896174096467, 0.485280400659, 0.0155449920062],
        'weight': [-1.82569527754, -1.79455494621, -1.81900222465],
        'bias': [0.334030106916, 0.116042144436, -0.132256608622],
    },
    'prelu': {
        'y': [0.591040413323, 1.81859485365, -0.24902094412, -0.363196330744, 1.45793808025,
            1.16983438578, -0.272090622631, -0.110800611852, 1.94401500279, 0.215507304599,
            0.549575566909, 0.299754419326, 1.922305449, -0.186849638799, -0.403588981578,
            1.23767004424, 1.39848006331, -0.247138001018, -0.152590775806, 1.85230004136,
            0.509364665688, 0.545180401388, 0.00177631361142, 1.98309997043],
        'dx0': [0.80849640382, -0.687766159184, -0.148346443379, 0.199850966961, 0.412118485242,
            -0.95663501627, -0.0256107538869, 0.154543608232, -0.0919068502277, -0.975626005468,
            -0.0943600330087, 0.887157528692, -0.57192565511, -0.173846541857, 0.179199766327,
            0.543275669232, -0.90255460821, -0.0480494630062, 0.151962259127, 0.0574874781049,
            -0.997431767454, -0.0548434442906, 0.946012582627, -0.44331673085],
        'weight': [-1.36686088124, -0.897624942435, -1.08227349544],
    },
    'l2norm': {
        'y': [0.282355815563, 0.999824981047, -0.441660713115, -1.06750821699, 0.834602251821,
            0.77067863849, -0.878699950894, -0.592988220843, 0.539536595713, 0.068832216765,
            -0.484162280047, 0.120282211739, 0.944656811091, -0.355989021554, -1.03591704457,
            0.495771103527, 0.823509958969, -0.857349710298, -0.713161833062, 0.889095842734,
            0.145419354863, -0.515935270507, 0.000622459870163, 0.461490402707],
        'dx0': [0.336847500728, 0.196491076606, -0.229818706579, -0.132569270256, 0.114079883346,
            -0.260598937767, -0.0274416330491, 0.493337772793, -0.187967629701, -0.243518717395,
            0.145939464251, 0.495627135174, 0.183574269312, -0.283558534833, -0.192375213465,
            0.20149801445, -0.193460497705, -0.0709067626449, 0.33544540451, 0.00346719741225,
            -0.161642875259, 0.170790426483, 0.332178599216, -0.1289951844],
        'weight': [-1.57856983723, -1.37391674146, -0.905160202842],
    },
    'lrn': {
        'y': [0.456172613758, 1.18045403737, -0.710802570592, -1.14967714047, 0.853377677062,
            0.756873992632, -0.921255410603, -0.528954866835, 0.94944289585, 0.172919327416,
            -0.956264251624, 0.238567432045, 1.04785812993, -0.733711128938, -0.964592326848,
            1.03438041931, 1.10485721786, -0.922201651286, -0.881455630261, 1.01596726075,
            0.393021192604, -0.954372521274, 0.0014378945783, 0.954317520588, -0.395422890729,
            -0.936349520239, 0.67804535175, 0.888182406131, -1.10579057062, -0.786408139232,
            1.17776526585, 0.575890216664],
        'dx0': [0.559982046049, -0.054769776727, -0.336582693238, 0.241710177366, 0.0955240482168,
            -0.330207323454, 0.0034890294809, 0.584529076274, 0.0174291727754, -0.78049113399,
            -0.0353941235433, 0.687649716773, -0.167384353336, -0.61072504315, 0.229228220695,
            0.268859319721, -0.361431798043, -0.152984437184, 0.694255012208, 0.0932674997096,
            -0.671154104604, 0.0055816188329, 0.765990568654, 0.0197341158618, -0.600724766532,
            -0.00360467392454, 0.350170060059, -0.113151318267, -0.146007110376, 0.398965491826,
            -0.0385678927734, -0.584059037835],
    },
    'softmax': {
        'y': [0.137960830099, 0.580057377555, 0.529829171741, 0.103938421369, 0.328280186849,
            0.303192087745, 0.263179260537, 0.238142451944, 0.533758983052, 0.1167505347,
            0.206991567722, 0.657919126686, 0.544758150208, 0.570545714887, 0.115518677991,
            0.201762614669, 0.322633353306, 0.255612264948, 0.239886104569, 0.373053495361,
            0.132608496487, 0.173842020166, 0.64459521744, 0.42518388997],
        'dx0': [0.0842556233556, 0.0667800923161, -0.17181452383, -0.00619600978973,
            0.070364699219, -0.0466134052533, 0.0372081768832, 0.0212567034551, -0.154620322575,
            -0.0201666870629, 0.134606346947, -0.0150606936654, 0.0888487761016, -0.155742680873,
            -0.0197586444769, 0.121200452482, -0.0540511849278, 0.0399035969097, 0.0117583945149,
            0.0428713024863, -0.0347975911738, 0.115839083963, 0.00800024996192, -0.164071754969],
    },
    'gelu': {
        'y': [0.427176425973, 1.75587764258, -0.153278266654, -0.0944460128972, 1.35234136653,
            1.02824487128, -0.0690658213297, -0.169696164258, 1.89357399355, 0.126139462137,
            -0.0455387261767, 0.185193603078, 1.86985790653, -0.169576869155, -0.0737659838174,
            1.10410166411, 1.28522488578, -0.087919063691, -0.159743104689, 1.79304241632,
            0.353881957529, -0.0469162652301, 0.000889415583655, 1.93614386764],
        'dx0': [0.74442806763, -0.759528765668, 0.0609046945063, -0.106862614596, 0.465083788138,
            -1.06607245634, 0.0182262443627, 0.0157188576796, -0.100294645644, -0.653001689817,
            -0.0292780742147, 0.649531373201, -0.625449890197, 0.0132882817091, -0.0868051491525,
            0.609356326543, -1.01885075071, 0.0381521092809, -0.0786372743976, 0.0632895316271,
            -0.870993100831, -0.017361340834, 0.474347067109, -0.481910266353],
    },
    'elu': {
        'y': [0.591040413323, 1.81859485365, -0.457401441836, -0.550760654927, 1.45793808025,
            1.16983438578, -0.579495292917, -0.358064620435, 1.94401500279, 0.215507304599,
            -0.605222553684, 0.299754419326, 1.922305449, -0.383928337228, -0.574329132095,
            1.23767004424, 1.39848006331, -0.558395582512, -0.439031856288, 1.85230004136,
            0.509364665688, -0.603694769867, 0.00177631361142, 1.98309997043],
        'dx0': [0.80849640382, -0.687766159184, -0.153144376165, 0.126918604289, 0.412118485242,
            -0.95663501627, -0.0199560826542, 0.341699235145, -0.0919068502277, -0.975626005468,
            0.0325385122357, 0.887157528692, -0.57192565511, -0.233823047469, 0.0958313822998,
            0.543275669232, -0.90255460821, -0.043996108071, 0.256431963434, 0.0574874781049,
            -0.997431767454, 0.0192167172336, 0.946012582627, -0.44331673085],
    },
    'hardswish': {
        'y': [0.353741668358, 1.46051196711, -0.3426852501, -0.374654518738, 1.08323294777,
            0.813002607919, -0.363786006564, -0.272677136469, 1.60187322324, 0.115494218689,
            -0.333408489055, 0.164852661647, 1.57702909771, -0.292188669, -0.367121858389,
            0.874139545188, 1.02519777957, -0.373397929753, -0.33108410342, 1.49798592788,
            0.297924393286, -0.336028657352, 0.000888682687385, 1.64699756733],
        'dx0': [0.563532884804, -0.760805745461, -0.0926547327398, -0.0129065025783,
            0.406340320357, -0.851352353694, 0.0143187729262, 0.261000104331, -0.105509523681,
            -0.557897846312, -0.0571675273499, 0.532221894301, -0.652434761969, -0.173820505373,
            -0.0552636289777, 0.495769841807, -0.872012179315, 0.0101538935539, 0.168131817828,
            0.0642384250763, -0.668068049985, -0.0321629874327, 0.473566429656, -0.514705497372],
    },
    'silu': {
        'y': [0.380395873226, 1.56471434772, -0.272730066759, -0.271600383774, 1.18270431156,
            0.892718259577, -0.258395787282, -0.235122576688, 1.7006098824, 0.119319772335,
            -0.238446795158, 0.172173687206, 1.67701024021, -0.247337053896, -0.261398236243,
            0.959390073005, 1.12150071953, -0.268879223291, -0.267951200075, 1.60112246565,
            0.31817847163, -0.239891657388, 0.000888945628015, 1.74316715019],
        'dx0': [0.629960558814, -0.741986597285, -0.034615586115, -0.0409385583572,
            0.426333048756, -0.932323642484, 0.0121850760441, 0.170094134192, -0.0999690626965,
            -0.592132157169, -0.0311598284955, 0.574578768482, -0.621334134088, -0.104068238792,
            -0.0529274111396, 0.538315122626, -0.924273788997, 0.0172075180624, 0.075055990448,
            0.0621735154384, -0.742172441096, -0.0179464100557, 0.473846498385, -0.483177500251],
    },
    'maxout': {
        'y': [0.591040413323, 1.81859485365, 1.16983438578, 0.215507304599, -0.716458564474,
            1.94401500279, 1.922305449, 1.39848006331, -1.59804295732, -0.986681989914,
            1.85230004136, 1.98309997043],
        'dx0': [0.80849640382, -0.687766159184, 0, 0, 0, -0.631266637872, 0, 0.412118485242,
            -0.95663501627, 0.850436620629, 0, 0, -0.165604175448, 0, 0, 0, 0.999309388748,
            -0.0919068502277, -0.975626005468, 0.34331492882, 0, 0, 0, 0.887157528692],
    },
    'multiply gate': {
        'y': [1.13900365634, 3.50464391439, -2.04211180201, -2.97841418954, 0.411488467272,
            0.330174075901, -0.49657069095, -0.202213276786, -3.88773162869, -0.430981532087,
            3.99879082379, -0.599462830883, 0.448086343122, -0.185339195006, -0.400326473415,
            0.288498919047, 2.71274312815, -3.09985116319, -1.91394561712, 3.59305387349,
            -0.373343038306, 1.45386500248, -0.00130196373118, -1.45352950076],
        'dx0': [1.55806665556, -1.32540542467, -1.21652427221, 1.63889033397, 0.116316327918,
            -0.270000682413, -0.046740125148, 0.282045097989, 0.183799594144, 1.9511022671,
            -0.686577163992, -1.77417889213, -0.133314960673, -0.172441211713, 0.177751162111,
            0.126636694527, -1.75075703647, -0.602684262141, 1.90606213442, 0.11151303853,
            0.731075851249, -0.146254274854, -0.693387735085, 0.32493265901],
        'dx1': [-1.41835262901, -0.942862491644, -0.809468411853, -1.14844198282, -1.62874432182,
            -1.78131599974],
    },
}


# ------------------------------------------------------------ support mode (receptive field) --

def _support_cases() -> list[Any]:
    from layer_cases import CASES

    import archcalc

    names = _family_classes()
    return [c for c in CASES if c.rf is not None
            and type(archcalc.to_graph(c.spec()).node(c.target).op) in names]


SUPPORT = _support_cases()


@pytest.mark.parametrize("case", SUPPORT, ids=[c.name for c in SUPPORT])
def test_receptive_field_by_one_backward_pass(case: Any) -> None:
    """Support mode (``ctx.support``: nothing saved, non-negative gradients, non-zero exactly
    where an output depends on an input): the field of one backward pass through these
    layers is the set the forward probes find — softmax, layernorm, groupnorm, instancenorm
    and l2norm spread over their statistics' group, lrn over its channel window, a gate over
    the map."""
    import archcalc
    from archcalc.executor import measure_receptive_field

    graph = archcalc.to_graph(case.spec())
    backward = measure_receptive_field(graph, case.target, method="backward")
    forward = measure_receptive_field(graph, case.target, method="forward")
    assert backward.forwards == 0 and forward.forwards > 0
    assert backward.ok and backward.to_dict()["axes"] == forward.to_dict()["axes"]


def test_receptive_field_through_fused_post_ops_by_one_backward_pass() -> None:
    """Fused ``bn: true`` and ``act:`` (element-wise, and softmax over channels) on the way:
    the one backward pass finds the forward probes' field: r = 1 + (3 − 1)·1 + (3 − 1)·2 = 7
    after the two 3×3 convs (stride 2, then 1 on a jump of 2) and the 1×1: the unit at 2 reads
    conv1's outputs 2 … 4, which read input pixels 2·2 … 2·4 + 2, i.e. 4 … 10."""
    import archcalc
    from archcalc.executor import measure_receptive_field

    spec = {"archcalc": 1, "name": "fused", "input": [2, 15, 15], "layers": [
        {"conv": {"out": 4, "k": 3, "s": 2, "bn": True, "act": "relu"}},
        {"conv": {"out": 4, "k": 3, "act": "softmax"}},
        {"conv": {"out": 4, "k": 1, "bn": True, "act": "gelu"}}]}
    graph = archcalc.to_graph(spec)
    target = graph.nodes[-1].name
    backward = measure_receptive_field(graph, target, method="backward")
    forward = measure_receptive_field(graph, target, method="forward")
    assert backward.forwards == 0
    assert backward.to_dict()["axes"] == forward.to_dict()["axes"]
    assert backward.ok
    assert [a["measured"] for a in backward.to_dict()["axes"]] == [[4, 10], [4, 10]]


# ------------------------------------------------------------------------ the training step --

def _step_cases() -> list[Any]:
    """The layer cases (tests/layer_cases.py) with a layer of these families, fused or not."""
    from layer_cases import CASES

    import archcalc

    names = {m.__name__ for m in FAMILIES}
    found = []
    for c in CASES:
        graph = archcalc.to_graph(c.spec())
        layers = [n.op for n in graph.nodes] + [p for n in graph.nodes for p in n.post]
        if any(type(op).__module__ in names for op in layers):
            found.append(c)
    return found


STEPS = _step_cases()


def _lead(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` behind a trainable, shape-keeping first layer (a 1×1 conv, or an fc on a
    vector) that every reference to the input now names, so that every layer after it needs
    its input gradient and its backward runs."""
    shape = spec["input"]
    first = ({"fc": {"id": "lead", "out": shape[0]}} if len(shape) == 1 else
             {"conv": {"id": "lead", "out": shape[0], "k": 1}})

    def moved(layer: dict[str, Any]) -> dict[str, Any]:
        ((kind, args),) = layer.items()
        ins = args.get("in")
        if ins is None:
            return layer
        ins = ["lead" if i == "input" else i for i in ([ins] if isinstance(ins, str) else ins)]
        return {kind: {**args, "in": ins}}

    return {**spec, "layers": [first, *(moved(layer) for layer in spec["layers"])]}


@pytest.mark.parametrize("case", STEPS, ids=[c.name for c in STEPS])
def test_training_step_keeps_exactly_what_the_rules_say(case: Any) -> None:
    """The executor's training step (archcalc.backprop.train_step) on each case, behind a
    trainable first layer: every training forward returns exactly the private tensors
    ``saves`` names (shape and dtype), every backward runs on them alone (the case's layer
    with its input gradient needed), and the measured kept bytes and peak equal the
    engine's."""
    from archcalc.backprop import train_step

    run = train_step(_lead(case.spec()), batch=2)
    assert run.ok, (run.problems, [s.to_dict() for s in run.failures][:2])
    (target,) = (s for s in run.steps if s.name == case.target)
    assert target.need_dx
