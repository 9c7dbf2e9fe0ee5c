"""The layer protocol: every rule of a layer type is a method of its class.

A layer class is an immutable value (its fields are its arguments) that answers, for the input
shapes ``ins`` it meets (channel-first, no batch):

=====================  ==========================================================================
``out_shape(ins)``     the shape rule; raises :class:`LayerArgError` for an input it cannot take
``tensors(ins)``       the weight tensors it owns, each with a :data:`role <ROLES>` (weight, bias,
                       scale, shift, coefficient, running statistics); ``params``/``buffers`` and
                       the counts derive from it, the executor allocates exactly these tensors and
                       initialises them by role
``work(ins, out)``     the arithmetic it performs (:class:`Work`), from which MACs and FLOPs come
``rf(ins, rfs)``       its receptive-field geometry (size, jump, start per axis), or None
``refines(ins)``       whether it refines the grid (each output's field then depends on its phase:
                       a strided transposed conv, an upsample, uneven adaptive windows)
``forward(x, w, ctx)`` its NumPy forward on batched arrays, PyTorch's semantics (NumPy imported
                       inside: ``archcalc table`` never loads it)
``explain(ex)``        the derivation lines of its shape, weights and work (:mod:`archcalc.explain`
                       checks each against the value the rules above give)
``explain_rf(rx)``     the derivation lines of its receptive field
``to_torch(ins, out)`` its PyTorch equivalent: the module or the merge expression the exporter
                       writes (:mod:`archcalc.torch_code`), or a refusal saying why
``saves(ins, out, …)`` what its backward keeps from the forward (:class:`Saved`), as PyTorch's
                       autograd keeps it (see docs/training.md)
``backward_work(…)``   the arithmetic of its backward: (input gradient, weight gradient)
``forward_train(…)``   the training forward (BN's batch statistics, dropout's mask): its output and
                       the private tensors its backward reads; the forward and nothing by default
``backward(saved, …)`` the gradient of each input and trainable tensor from the output's, reading
                       only ``saved`` (the tensors PyTorch's autograd keeps) — see
                       :meth:`Layer.backward`
=====================  ==========================================================================

Layers used as fused post-ops (``bn: true``, ``act: relu``) also define ``forward_inplace`` and
``explain_post``, and for training ``forward_train_inplace`` and ``backward_post``.
:data:`PROTOCOL` names the required methods; a test holds every class to it (set equality), so
a new rule — a backward, the PyTorch module — is one more method beside these.

Arguments arrive already typed (see :class:`Arg` kinds); classes raise :class:`LayerArgError`,
to which the graph builder adds the layer name and location.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar

from ..errors import LayerArgError
from ..shapes import RF, Pair, Shape, prod, same_padding

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ..executor import Context
    from ..explain import Derivation, RFDerivation
    from ..torch_code import TorchLayer

    Array = NDArray[Any]

Shapes = tuple[Shape, ...]
Weights = dict[str, Shape]
#: tensors handed to a forward, by name (``weight``, ``bias``, …)
Tensors = Mapping[str, "Array"]

# ------------------------------------------------------------------------------- weight roles --
#: a kernel or matrix: one row of ``fan_in`` elements per output it feeds
WEIGHT = "weight"
#: an additive bias per output channel
BIAS = "bias"
#: a learnable multiplicative scale per channel (BN/LayerNorm γ)
SCALE = "scale"
#: a learnable additive shift per channel (BN/LayerNorm β)
SHIFT = "shift"
#: a trainable coefficient: multiplying a pooled window (LeNet-5's subsampling), the negative
#: slope of a PReLU
COEFFICIENT = "coefficient"
#: running statistics kept for inference: buffers, not parameters
RUNNING_MEAN = "running_mean"
RUNNING_VAR = "running_var"
#: a frozen batch norm's γ and β (torchvision's FrozenBatchNorm2d, detection backbones): the
#: same arithmetic as a scale and shift, kept as buffers
FROZEN_SCALE = "frozen_scale"
FROZEN_SHIFT = "frozen_shift"
#: every role; the executor's initialisation and receptive-field probe have a rule for each
ROLES = (WEIGHT, BIAS, SCALE, SHIFT, COEFFICIENT, RUNNING_MEAN, RUNNING_VAR, FROZEN_SCALE,
         FROZEN_SHIFT)
#: the roles counted as buffers (state, not learned by gradient)
BUFFER_ROLES = frozenset({RUNNING_MEAN, RUNNING_VAR, FROZEN_SCALE, FROZEN_SHIFT})


class Ref(NamedTuple):
    """A node that a reference argument names (``like: p4``, ``indices: pool5``): its name,
    output shape, and the node itself (None for a network input)."""

    name: str
    shape: Shape
    node: Any = None


class Tensor(NamedTuple):
    """One tensor a layer owns. ``fan_in`` (``weight`` only): the elements one output reads,
    e.g. ``C_in/g·∏k`` of a conv filter — the He initialisation and the probe use it."""

    name: str
    shape: Shape
    role: str
    fan_in: int = 0


@dataclass(frozen=True)
class Work:
    """Arithmetic a layer performs for one sample.

    * ``macs``: multiply-accumulates of convolutions and matrix products (one multiply + one add).
    * ``window``: elements read by pooling windows, C·H'·W'·K·K (the lectures' pooling "flop").
    * ``elementwise``: other arithmetic — bias adds, normalisation, activations, merges — in
      operations per element as each type's docstring states; only the ``full`` convention
      counts it.
    """

    macs: int = 0
    window: int = 0
    elementwise: int = 0

    def __add__(self, other: Work) -> Work:
        return Work(
            self.macs + other.macs,
            self.window + other.window,
            self.elementwise + other.elementwise,
        )


#: the dtype of a saved tensor that has the analysis dtype (activations, their copies)
ACT = "act"
#: the dtype of a saved tensor that has the weights' dtype: the analysis dtype, or the master
#: weights' under mixed precision (BN's statistics: bfloat16 in a bfloat16 model, float32
#: under autocast with float32 weights — bench/training_reference.py)
PARAM = "param"


class Saved(NamedTuple):
    """One tensor a layer keeps from its forward for its backward pass."""

    name: str        # "x" (the only input), "x0", "x1", … (inputs of a multi-input layer),
                     # "y" (its output), or a private name: "indices", "mask", "mean", "invstd", …
    shape: Shape     # per sample (batch-free) when per_sample, else the whole tensor (stats)
    dtype: str       # "act" (the analysis dtype), "param" (the weights' dtype) or a fixed one:
                     # "int64", "int32", "bool", "float32"
    per_sample: bool = True


#: a backward with no arithmetic in either gradient
NO_WORK: tuple[Work, Work] = (Work(), Work())


def bilinear_backward(fwd: Work, need_dx: bool, need_dw: bool) -> tuple[Work, Work]:
    """The backward of a layer whose output is bilinear in its input and its weight, ``y =
    Σ W·x`` (+ bias): every product ``W·x`` of the forward appears once in the input gradient
    (``∂x += W·∂y``) and once in the weight gradient (``∂W += x·∂y``), so each costs the
    forward's MACs; the bias gradient sums ∂y, one add per output element — the forward's
    element-wise bias adds (``full``)."""
    dx = Work(fwd.macs) if need_dx else NO_WORK[0]
    dw = Work(fwd.macs, 0, fwd.elementwise) if need_dw else NO_WORK[1]
    return dx, dw


def input_name(ins: Sequence[Shape], i: int) -> str:
    """The graph name of input ``i`` in :class:`Saved`: ``x`` for a one-input layer, else
    ``x0``, ``x1``, …"""
    return "x" if len(ins) == 1 else f"x{i}"


REQUIRED: Any = object()


@dataclass(frozen=True)
class Arg:
    """One argument of a layer type: name, kind (see :func:`archcalc.args.coerce`), default, doc."""

    name: str
    kind: str
    default: Any = REQUIRED
    doc: str = ""


class Window(NamedTuple):
    """A sliding window's geometry on one input, per spatial axis: kernel ``k``, stride ``s``,
    dilation ``d``, effective kernel ``k_eff = d·(k − 1) + 1`` and padding before/after."""

    k: tuple[int, ...]
    s: tuple[int, ...]
    d: tuple[int, ...]
    k_eff: tuple[int, ...]
    lo: tuple[int, ...]
    hi: tuple[int, ...]


#: methods every layer class defines (directly or through a parent class it names)
PROTOCOL = ("out_shape", "tensors", "work", "rf", "refines", "forward", "explain", "explain_rf",
            "to_torch", "saves", "backward_work", "backward")
#: methods a layer usable as a fused post-op (``bn``, ``act``) defines as well: inference and
#: derivation, and for training its forward (keeping what its backward reads) and backward
POST_PROTOCOL = ("forward_inplace", "explain_post", "forward_train_inplace", "backward_post")


def spatial_rank(layer: str, shape: Shape, dims: int | None = None) -> int:
    """The number of spatial axes of ``shape``, refusing a flat vector (and a rank other than
    ``dims`` when given)."""
    rank = len(shape) - 1
    if rank < 1:
        raise LayerArgError(
            f"{layer} needs a spatial input [C, L], [C, H, W] or [C, D, H, W]; got {list(shape)}",
            hint="a flat vector has no spatial axes; remove the flatten/fc before this layer",
        )
    if dims is not None and rank != dims:
        raise LayerArgError(
            f"{layer} is {dims}D but its input {list(shape)} has {rank} spatial "
            f"ax{'is' if rank == 1 else 'es'}",
            hint=f"use `{layer.rstrip('123d')}` to take the rank from the input",
        )
    return rank


def resolve_pad(p: Any, rank: int, n: tuple[int, ...], k_eff: tuple[int, ...],
                s: tuple[int, ...]) -> tuple[Pair, ...]:
    """Padding per axis as (before, after): int, per-axis ints or pairs, ``same``, ``valid``."""
    if p == "valid":
        return ((0, 0),) * rank
    if p == "same":
        return tuple(same_padding(n[a], k_eff[a], s[a]) for a in range(rank))
    if isinstance(p, int):
        return ((p, p),) * rank
    if len(p) != rank:
        raise LayerArgError(
            f"p has {len(p)} values {list(p)} but the input has {rank} spatial axes",
            hint=f"give one value, {rank} values, or {rank} [before, after] pairs",
        )
    return tuple((v, v) if isinstance(v, int) else (v[0], v[1]) for v in p)


class Layer:
    """Base of all layer types. Subclasses are dataclasses whose fields are their ARGS, made
    immutable values (keyword construction, equality, hashing, repr) by the methods below.

    Registry attributes (read by :mod:`archcalc.layers.registry`): ``kind`` is the YAML name;
    ``SPELLINGS`` other YAML names of the class with the fields they preset (``conv1d`` is a
    ``conv`` with ``dims: 1``); ``ALIASES`` other spellings of ``kind`` itself; ``INHERITS`` the
    types whose ``defaults:`` also apply (a ``dwconv`` takes the ``conv`` defaults it accepts).
    """

    kind: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    ARGS: ClassVar[tuple[Arg, ...]] = ()
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    #: argument names that are not layer fields but node options (bn/act post-ops)
    POST_ARGS: ClassVar[tuple[str, ...]] = ()
    #: argument name → the fix to suggest when a value of that argument is refused
    ARG_HINTS: ClassVar[Mapping[str, str]] = {}
    SPELLINGS: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    ALIASES: ClassVar[tuple[str, ...]] = ()
    INHERITS: ClassVar[tuple[str, ...]] = ()
    #: False when ``kind`` names the family and only the SPELLINGS are YAML names (activations)
    KIND_IS_NAME: ClassVar[bool] = True
    #: the reference's section title when the class is listed under one heading (activations)
    TITLE: ClassVar[str] = ""
    #: arguments that name another node instead of giving a value, with their docs: the
    #: builder resolves them like ``in:`` and :meth:`from_refs` turns the named nodes into
    #: argument values (``like: p4`` → ``size``); those in ``REF_INPUTS`` are also inputs,
    #: after the ``in:`` ones (``indices: pool5``)
    REFS: ClassVar[Mapping[str, str]] = {}
    #: the ONNX operators this type imports from (:meth:`from_onnx` reads such a node), or
    #: none and ``ONNX_NONE`` says why; several classes may take one operator, each its own
    #: pattern, tried by ``ONNX_ORDER`` (lower first)
    ONNX: ClassVar[tuple[str, ...]] = ()
    ONNX_NONE: ClassVar[str] = ""
    ONNX_ORDER: ClassVar[int] = 0
    REF_INPUTS: ClassVar[tuple[str, ...]] = ()
    #: (name, default) of each field in declaration order, recorded by :func:`layer_class`,
    #: as a mapping too, and the fields without a default
    _field_defaults: ClassVar[tuple[tuple[str, Any], ...]] = ()
    _defaults: ClassVar[Mapping[str, Any]] = {}
    _required: ClassVar[tuple[str, ...]] = ()

    # -- the rules (see the module docstring); a class that lacks one fails the protocol test
    def out_shape(self, ins: Shapes) -> Shape:
        raise NotImplementedError(f"{type(self).__name__} has no shape rule")

    def tensors(self, ins: Shapes) -> tuple[Tensor, ...]:
        raise NotImplementedError(f"{type(self).__name__} has no weight rule")

    def work(self, ins: Shapes, out: Shape) -> Work:
        raise NotImplementedError(f"{type(self).__name__} has no work rule")

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        raise NotImplementedError(f"{type(self).__name__} has no receptive-field rule")

    def refines(self, ins: Shapes) -> bool:
        raise NotImplementedError(f"{type(self).__name__} does not say if it refines the grid")

    def forward(self, inputs: Sequence[Array], w: Tensors, ctx: Context) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no NumPy forward")

    def explain(self, ex: Derivation) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no derivation")

    def explain_rf(self, rx: RFDerivation) -> None:
        raise NotImplementedError(f"{type(self).__name__} has no receptive-field derivation")

    def forward_train(self, inputs: Sequence[Array], w: Tensors,
                      ctx: Context) -> tuple[Array, dict[str, Array]]:
        """The training-mode forward: its output and the private tensors it keeps for
        :meth:`backward` by name. The forward itself, keeping nothing private, unless training
        differs (BN's batch statistics, dropout's mask)."""
        return self.forward(inputs, w, ctx), {}

    def backward(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                 need_dx: bool, need_dw: bool
                 ) -> tuple[tuple[Array | None, ...], dict[str, Array]]:
        """The gradient of each input (None when not needed) and of each trainable weight
        tensor by name, from ``gy`` (the output's gradient) and ``saved`` only: the tensors
        the layer's ``saves`` names ("x", "x0", …, "y", private ones)."""
        raise NotImplementedError(f"{type(self).__name__} has no NumPy backward")

    def to_torch(self, ins: Shapes, out: Shape) -> TorchLayer:
        """Its PyTorch equivalent (:mod:`archcalc.torch_code` values, no torch imported): the
        module (``nn.Conv2d(…)``) or the merge expression written in ``forward`` that computes
        what the rules above count — the same tensors, output shape and MACs — or a
        :class:`~archcalc.errors.BridgeError` saying why it has none."""
        raise NotImplementedError(f"{type(self).__name__} has no PyTorch rule")

    @classmethod
    def from_onnx(cls, r: Any, i: int, node: Any) -> bool:
        """Read ONNX node ``i`` (one of :attr:`ONNX`) into rows of this type through the
        importer ``r`` (:class:`archcalc.onnx_import.Reader`); False when the node is not
        this type's pattern (the next class taking the operator is asked), an error naming
        the node when it is but cannot be expressed."""
        raise NotImplementedError(f"{cls.__name__} imports no ONNX operator")

    def saves(self, ins: Shapes, out: Shape, need_dx: bool,
              need_dw: bool) -> tuple[Saved, ...]:
        """The tensors its backward keeps from the forward (PyTorch's autograd, as
        bench/training_types.py reads them off), given whether an input gradient (``need_dx``)
        and a weight gradient (``need_dw``) are required."""
        raise NotImplementedError(f"{type(self).__name__} has no rule for what backward keeps")

    def backward_work(self, ins: Shapes, out: Shape, need_dx: bool,
                      need_dw: bool) -> tuple[Work, Work]:
        """The arithmetic of its backward for one sample: (input gradient, weight gradient);
        each is ``Work()`` when that gradient is not required."""
        raise NotImplementedError(f"{type(self).__name__} has no backward work rule")

    def forward_inplace(self, y: Array, w: Tensors, ctx: Context) -> Array:
        """As a fused post-op: transform ``y`` (its op's fresh output) in place."""
        raise NotImplementedError(f"{type(self).__name__} cannot be fused")

    def explain_post(self, ex: Derivation) -> None:
        """As a fused post-op: its weights and element-wise work on the op's output."""
        raise NotImplementedError(f"{type(self).__name__} cannot be fused")

    def forward_train_inplace(self, y: Array, w: Tensors,
                              ctx: Context) -> tuple[Array, dict[str, Array]]:
        """As a fused post-op in training: its output (``y`` itself when it may overwrite it,
        a new array when its backward needs ``y`` as it came in) and its private saved
        tensors."""
        raise NotImplementedError(f"{type(self).__name__} cannot be fused")

    def backward_post(self, saved: Mapping[str, Array], w: Tensors, gy: Array, ctx: Context,
                      need_dw: bool) -> tuple[Array, dict[str, Array]]:
        """As a fused post-op: the gradient of its input (the op's output) and of its
        trainable tensors, from ``saved`` only ("x" the op's output, "y" the post-op's)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be fused")

    def forward_indices(self, inputs: Sequence[Array], w: Tensors,
                        ctx: Context) -> tuple[Array, Array]:
        """For a layer an ``indices:`` reference names (max pooling): its output and the flat
        position of each output's source, for ``max_unpool``."""
        raise NotImplementedError(f"{type(self).__name__} has no argmax indices")

    # -- derived from the rules, or facts with a stated default
    @classmethod
    def args_for(cls, name: str) -> tuple[Arg, ...]:
        """The arguments a spec may give under the YAML name ``name`` (those a spelling presets,
        e.g. ``conv1d``'s ``dims``, are not among them)."""
        preset = cls.spellings().get(name, {})
        return tuple(a for a in cls.ARGS if a.name not in preset)

    @classmethod
    def spellings(cls) -> Mapping[str, Mapping[str, Any]]:
        """Every YAML name of the class (aliases aside) → the fields it presets."""
        own: Mapping[str, Mapping[str, Any]] = cls.__dict__.get("SPELLINGS", {})
        return {**({cls.kind: {}} if cls.KIND_IS_NAME else {}), **own}

    @classmethod
    def own(cls, attribute: str) -> tuple[str, ...]:
        """A registry attribute (``ALIASES``, ``INHERITS``) as the class itself declares it:
        a subclass does not inherit its parent's other names."""
        found: tuple[str, ...] = cls.__dict__.get(attribute, ())
        return found

    def gates(self) -> bool:
        """Whether it multiplies one path by another (a squeeze-and-excitation gate): the
        receptive-field probe then also needs a base input of ones, where the gate is live.
        False for every type but ``multiply``."""
        return False

    def keeps_zero(self) -> bool:
        """Whether an all-zero input gives an all-zero output when biases and shifts are 0 (the
        receptive-field probe then detects any contribution in float32). True for every type
        but the activations with f(0) ≠ 0."""
        return True

    @classmethod
    def from_refs(cls, refs: Mapping[str, Ref], given: Mapping[str, Any]) -> dict[str, Any]:
        """Argument values from the nodes the reference arguments name (``given``: the other
        arguments as written); raises :class:`LayerArgError` for a node it cannot use."""
        return {}

    def gradient_inputs(self, ins: Shapes) -> tuple[bool, ...]:
        """Which inputs receive a gradient: those whose values the output depends on — every
        input but a reference one (``indices:``, the positions max_unpool reads) and, for
        ``crop``, a second input whose size only it reads. A tensor needs a gradient only when
        it reaches a trainable layer through such inputs (autograd's graph)."""
        refs = len(type(self).REF_INPUTS)
        return tuple(i < len(ins) - refs for i in range(len(ins)))

    def region_count(self) -> int:
        """The regions per sample its output holds when it makes them (RoI pooling of R
        proposals: R), or 0 — then the output has its inputs' multiplicity (see
        :mod:`archcalc.graph`). 0 for every type but ``roi_pool`` and ``roi_align``."""
        return 0

    def params(self, ins: Shapes) -> Weights:
        """Learnable tensors, name → shape (the parameter count is their sizes summed)."""
        return {t.name: t.shape for t in self.tensors(ins) if t.role not in BUFFER_ROLES}

    def buffers(self, ins: Shapes) -> Weights:
        """Buffers (running statistics), name → shape; reported apart from params."""
        return {t.name: t.shape for t in self.tensors(ins) if t.role in BUFFER_ROLES}

    def scratch_elements(self, ins: Shapes) -> int:
        """Elements of working memory its forward may allocate per sample (sizes the receptive-
        field probe's batches): one input's size; an im2col convolution more."""
        return prod(ins[0])

    @property
    def type_name(self) -> str:
        return self.kind

    def describe_args(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name, _ in self._field_defaults}

    # Construction, immutability, equality, hashing and repr, written once for every layer
    # class (see `layer_class`). The instance dict holds exactly the fields, in field order
    # (defaults first, then what is given, merged in one dict): equality and hashing read it.
    def __init__(self, **kwargs: Any) -> None:
        values = {**self._defaults, **kwargs}
        if len(values) != len(self._defaults):
            unknown = next(k for k in kwargs if k not in self._defaults)
            raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                            f"{unknown!r}")
        for name in self._required:
            if name not in kwargs:
                raise TypeError(f"{type(self).__name__}() missing keyword argument {name!r}")
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _values(self) -> tuple[Any, ...]:
        return tuple(self.__dict__.values())

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((self.__class__, tuple(self.__dict__.values())))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.describe_args().items())
        return f"{self.__class__.__qualname__}({args})"


L = TypeVar("L", bound=type[Layer])


def layer_class(cls: L) -> L:
    """Class decorator of every layer type: a dataclass whose fields are its arguments, with
    nothing generated — `@dataclass` would generate six functions per class with exec at
    import (174 for the layer classes, 20 ms of `archcalc table`'s start-up); `Layer` writes
    construction, immutability, equality, hashing and repr once. `dataclasses.fields()` still
    describes the class; its (name, default) pairs are recorded here, once, at class creation."""
    dataclass(init=False, repr=False, eq=False, kw_only=True)(cls)
    found = tuple((f.name, f.default) for f in fields(cls))  # type: ignore[arg-type]
    type.__setattr__(cls, "_field_defaults", found)
    type.__setattr__(cls, "_defaults", dict(found))
    type.__setattr__(cls, "_required", tuple(n for n, d in found if d is MISSING))
    return cls


class Pointwise(Layer):
    """Base of the layers that keep each position where it is (activations, normalisations,
    identity): output shape = input shape, the grid and the receptive field unchanged."""

    def out_shape(self, ins: Shapes) -> Shape:
        return ins[0]

    def rf(self, ins: Shapes, rfs: tuple[RF | None, ...]) -> RF | None:
        return rfs[0]

    def refines(self, ins: Shapes) -> bool:
        return False

    def explain_rf(self, rx: RFDerivation) -> None:
        rx.unchanged()

    def explain_per_element(self, ex: Derivation, label: str, ops: str, per: int) -> None:
        """``C′ = C``, ``H′ = H``, …, the layer's tensors if it has any, and ``per`` operations
        per element shown as ``ops·C·H·W`` (``ops`` a template: ``2``, ``(3 + 4)``)."""
        ex.same_shape()
        if self.tensors(ex.ins):
            ex.norm_tensors(self, ex.shape, prefix="")
        syms, env = ex.dims(ex.shape, False)
        ex.elementwise(label, f"{ops}*" + "*".join(syms), env, per * prod(ex.shape))


def uniform_window(k: Any, s: Any, d: Any, p: Any) -> tuple[int, int, int, int, int] | None:
    """(k, s, d, k_eff, p) when every axis has the same integer kernel, stride, dilation and
    symmetric padding (most layers): their geometry then needs no per-axis work."""
    if type(k) is int and type(s) is int and type(d) is int and type(p) is int:
        return k, s, d, d * (k - 1) + 1, p
    return None
