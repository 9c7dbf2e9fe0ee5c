"""ONNX → spec: ``archcalc import model.onnx -o net.yaml`` and ``archcalc table model.onnx``.

The model is read with the ``onnx`` package (weights are not loaded: only their shapes count),
shapes come from ``onnx.shape_inference`` and are checked again after the spec is built. Then:

1. **Plumbing is folded.** A node whose inputs are all constants — ``Constant``, ``Shape`` of a
   static tensor, ``Gather``, ``Unsqueeze``, ``Concat`` of shapes, ``Cast``, an exporter's
   ``Expand`` of a weight — is evaluated (NumPy) or, when only its shape matters, kept as a
   constant of known shape. None of it becomes a layer.
2. **Operators become layers.** Each layer class declares the operators it imports from
   (``ONNX``) and reads such a node in ``from_onnx`` through this module's :class:`Reader`;
   :func:`onnx_classes` collects them from the registry (several classes may take one
   operator, each checking its own pattern: Conv → ``dwconv`` or ``conv``, Mul → ``scale``,
   ``layer_scale`` or ``multiply``, MatMul → ``fc`` or ``matmul``, …). docs/bridges.md has
   the table.
3. **Rows are fused** as the lecture tables show them: a conv, transposed conv or fc followed by
   its only reader BatchNormalization becomes ``bn: true``, then an activation ``act: …``; an add
   takes its activation. A Flatten of a ``[C, 1, 1]`` map read only by an fc is left out (the fc
   reads such a map directly), as the lecture tables have no flatten row there.
4. **Names** come from the node names: PyTorch's ``/layer1/layer1.0/conv1/Conv`` is the module
   ``layer1.0.conv1``; a weighted node takes its weight's module name (``conv1.weight``).

An operator without an archcalc layer is an error naming the node and its op type; so is an
attribute the layer cannot express (a Gemm with alpha ≠ 1, asymmetric pool padding, …).
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ArchcalcError, BridgeError, Loc

if TYPE_CHECKING:
    from .layers.base import Layer
    from .spec import Spec

#: operators whose output is a stored tensor when their input is one (a view of a weight is
#: that weight: SSD's scale reshaped to [1, C, 1, 1])
STORED_VIEWS = frozenset({"Identity", "Cast", "CastLike", "Reshape", "Unsqueeze", "Squeeze",
                          "Flatten"})
MAX_ONNX_BYTES = 2**31  # protobuf's own limit for one message
MAX_ONNX_NODES = 250_000  # the graph limit of archcalc (graph.MAX_NODES)


class Entry(NamedTuple):
    """One layer of the spec being written."""

    id: str
    type: str
    args: dict[str, Any]
    inputs: tuple[str, ...]  # ONNX tensor names
    output: str  # ONNX tensor name
    node: str  # the ONNX node it came from (for messages)
    post: tuple[str, ...] = ()
    #: the module names of the nodes in the row (PyTorch's, when the node names carry them)
    modules: tuple[str, ...] = ()
    #: the stored tensors its nodes read (a later row reading the same ones shares them)
    weights: tuple[str, ...] = ()


class Const(NamedTuple):
    shape: tuple[int, ...]
    value: Any = None  # numpy array, or None when only the shape is known
    #: stored in the file (an initializer or a Constant node, or an Identity/Cast of one): a
    #: weight; a tensor an exporter computes at run time (a zero bias expanded from a scalar)
    #: is not a parameter of the model
    stored: bool = False


@dataclass
class Imported:
    """The result of an import: the spec's YAML text and what was done."""

    text: str
    name: str
    layers: int
    nodes: int
    folded: int
    #: the same spec as Python data (what `archcalc table MODEL.onnx` builds)
    mapping: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def import_onnx(path: str, *, input_shape: tuple[int, ...] | None = None,
                name: str | None = None) -> Imported:
    """Read ``path`` and write the spec. ``input_shape`` (channels first, no batch) fixes an
    input whose sizes are symbolic."""
    model = _load(path)
    reader = Reader(model, path, input_shape)
    reader.run()
    shown = name or os.path.splitext(os.path.basename(path))[0]
    text = reader.spec_text(shown, os.path.basename(path))
    imported = Imported(text, shown, len(reader.entries), len(model.graph.node), reader.folded,
                        reader.mapping, reader.warnings)
    _check_shapes(reader, imported, path)
    return imported


def onnx_spec(path: str, input_shape: tuple[int, ...] | None = None) -> Spec:
    """The :class:`~archcalc.spec.Spec` of an ONNX model, imported in memory (what
    ``archcalc table MODEL.onnx`` and ``archcalc.analyze("model.onnx")`` read)."""
    from .spec import parse_spec
    from .ytree import from_python

    imported = import_onnx(path, input_shape=input_shape)  # shapes checked against ONNX's
    return parse_spec(from_python(imported.mapping, path), path, imported.text)


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise BridgeError("the onnx package is not installed",
                          hint="pip install 'archcalc[onnx]'") from None
    return onnx


def _load(path: str) -> Any:
    onnx = _onnx()
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise BridgeError(f"cannot read the file: {exc.strerror}", loc=Loc(path),
                          hint="check the path") from None
    if size > MAX_ONNX_BYTES:
        raise BridgeError(f"the file is {size:,} bytes; ONNX files hold at most {MAX_ONNX_BYTES:,}"
                          " (larger models keep their weights in external data files)",
                          loc=Loc(path))
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, ValueError, … for a corrupt file
        raise BridgeError(f"not a readable ONNX model: {type(exc).__name__}: {exc}"[:300],
                          loc=Loc(path), hint="export the model again with torch.onnx.export "
                          "or check that the file is complete") from None
    if len(model.graph.node) > MAX_ONNX_NODES:
        raise BridgeError(f"the graph has {len(model.graph.node):,} nodes; the limit is "
                          f"{MAX_ONNX_NODES:,}", loc=Loc(path))
    return model


# -------------------------------------------------------------------------------- names --

def _scope_name(node_name: str) -> tuple[str, str] | None:
    """PyTorch's ``/layer1/layer1.0/conv1/Conv`` → (``layer1.0.conv1``, ``Conv``): the scopes
    joined as module names (a container's child is written ``layer1.0`` under ``layer1``)."""
    if not node_name.startswith("/"):
        return None
    *scopes, op = node_name[1:].split("/")
    parts: list[str] = []
    prev = ""
    for s in scopes:
        # a container's child is written `layer1.0` under `layer1`: its own name is `0`
        parts.append(s[len(prev) + 1:] if prev and s.startswith(prev + ".") else s)
        prev = s
    return ".".join(parts), op


_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def _clean(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.\-]", "_", text).strip("._-") or "layer"
    if not name[0].isalpha() and name[0] != "_":
        name = "n" + name
    return name


# ------------------------------------------------------------------------------- reader --

class Reader:
    def __init__(self, model: Any, path: str, input_shape: tuple[int, ...] | None) -> None:
        self.onnx = _onnx()
        self.path = path
        self.model = model
        self.graph = model.graph
        self.warnings: list[str] = []
        self.entries: list[Entry] = []
        self.folded = 0
        self.consts: dict[str, Const] = {}
        self.alias: dict[str, str] = {}
        self.claimed: set[int] = set()
        self.extra_pads: dict[str, list[int]] = {}  # a conv's output → padding from a Pad
        self.absorbed: dict[str, list[str]] = {}  # tensor → module names folded into its row
        self.eps_fused: set[float] = set()
        self.producer_entry: dict[str, int] = {}
        self._fix_input(input_shape)
        self.shapes = self._infer()
        self.consumers: dict[str, list[int]] = {}
        for i, node in enumerate(self.graph.node):
            for v in node.input:
                if v:
                    self.consumers.setdefault(v, []).append(i)
        self.producer: dict[str, int] = {}
        for i, node in enumerate(self.graph.node):
            for v in node.output:
                self.producer[v] = i
        self.weight_module: dict[int, str] = {}
        self.leaf_scopes = self._leaf_scopes()
        self.used_ids: set[str] = {"input"}
        self.input_ids = {name: self.new_id(name) for name in self.input_shapes}
        self.named_by: set[str] = set()  # stored tensors a row has read (and is named after)
        self.classes = onnx_classes()
        self.fuse_into, self.activations, self.merges = _fusion()

    # -- shapes
    def _data_inputs(self) -> list[Any]:
        inits = {t.name for t in self.graph.initializer}
        return [v for v in self.graph.input if v.name not in inits]

    def _fix_input(self, input_shape: tuple[int, ...] | None) -> None:
        """The data inputs (graph inputs that are no initializer): each needs a batch axis
        then fixed sizes; ``input_shape`` fixes the sizes of a single one."""
        inputs = self._data_inputs()
        if not inputs:
            raise BridgeError("the model has no data input", loc=Loc(self.path))
        if input_shape is not None and len(inputs) != 1:
            raise BridgeError(f"--input gives one size but the model has {len(inputs)} inputs "
                              f"({', '.join(v.name for v in inputs)})", loc=Loc(self.path),
                              hint="export the model with fixed input sizes")
        self.input_shapes: dict[str, tuple[int, ...]] = {}
        for v in inputs:
            dims = v.type.tensor_type.shape.dim
            if input_shape is not None:
                if len(input_shape) != len(dims) - 1:
                    raise BridgeError(f"--input has {len(input_shape)} sizes but the model's "
                                      f"input has {len(dims) - 1} besides the batch",
                                      loc=Loc(self.path))
                for d, n in zip(list(dims)[1:], input_shape, strict=True):
                    d.Clear()
                    d.dim_value = n
            sizes = [d.dim_value if d.HasField("dim_value") else None for d in dims]
            if len(sizes) < 2 or any(n is None or n <= 0 for n in sizes[1:]):
                shown = [d.dim_param or "?" if not d.HasField("dim_value") else d.dim_value
                         for d in dims]
                raise BridgeError(
                    f"input {v.name!r} has the shape {shown}; archcalc needs a batch axis "
                    "then fixed sizes (channels first)", loc=Loc(self.path),
                    hint="give the sizes: archcalc import model.onnx --input 3x224x224")
            self.input_shapes[v.name] = tuple(int(n) for n in sizes[1:])  # type: ignore[arg-type]
        self.input_name = inputs[0].name
        self.input_shape = self.input_shapes[self.input_name]

    def _infer(self, model: Any = None) -> dict[str, tuple[int, ...]]:
        try:
            inferred = self.onnx.shape_inference.infer_shapes(
                self.model if model is None else model, data_prop=True)
        except Exception as exc:
            raise BridgeError(f"ONNX shape inference failed: {exc}"[:400], loc=Loc(self.path),
                              hint="check the model with onnx.checker.check_model") from None
        shapes: dict[str, tuple[int, ...]] = {}
        g = inferred.graph
        for v in (*g.input, *g.value_info, *g.output):
            t = v.type.tensor_type
            if not t.HasField("shape"):
                continue
            dims = []
            for d in t.shape.dim:
                dims.append(d.dim_value if d.HasField("dim_value") else -1)
            shapes[v.name] = tuple(dims)
        for t in g.initializer:
            shapes[t.name] = tuple(t.dims)
        for name, shape in self.input_shapes.items():
            shapes[name] = (1, *shape)
        return shapes

    def shape(self, name: str, node: Any) -> tuple[int, ...]:
        """The inferred shape with the batch axis, fully known, or an error naming the node."""
        found = self.shapes.get(name)
        if found is None or any(v < 0 for v in found[1:]):
            raise self.error(node, f"the shape of {name!r} is unknown after ONNX shape "
                                   "inference", "the model may have data-dependent sizes")
        return found

    # -- constants
    def const(self, name: str) -> Const | None:
        return self.consts.get(name)

    def value(self, name: str, node: Any, what: str) -> Any:
        c = self.consts.get(name)
        if c is None or c.value is None:
            raise self.error(node, f"{what} ({name!r}) must be a constant the importer can "
                                   "evaluate", "export with constant folding of shapes")
        return c.value

    def _init_consts(self) -> None:
        numpy_helper = self.onnx.numpy_helper
        for t in self.graph.initializer:
            value = None
            if t.data_location != 1 and _numel(t.dims) <= 4096:  # small: a shape or a scalar
                value = numpy_helper.to_array(t)
            self.consts[t.name] = Const(tuple(t.dims), value, stored=True)

    def error(self, node: Any, what: str, hint: str | None = None) -> BridgeError:
        return BridgeError(what, loc=Loc(self.path),
                           layer=f"node {node.name or '(unnamed)'!r} ({node.op_type})",
                           hint=hint)

    def attr(self, node: Any, name: str, default: Any = None) -> Any:
        for a in node.attribute:
            if a.name == name:
                return self.onnx.helper.get_attribute_value(a)
        return default

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    def data_inputs(self, node: Any) -> list[str]:
        return [self.resolve(v) for v in node.input if v and v not in self.consts]

    def readers(self, tensor: str) -> list[Any]:
        return [self.graph.node[i] for i in self.consumers.get(tensor, [])
                if i not in self.claimed]

    # -- names
    def scope(self, node: Any) -> tuple[str, str] | None:
        """(module, op) from PyTorch's node name (``/layer1/layer1.0/conv1/Conv``) or, for the
        dynamo exporter, its ``pkg.torch.onnx.name_scopes`` metadata (``['', 'layer1',
        'layer1.0', 'add_2']``: module names, then the op)."""
        found = _scope_name(node.name)
        if found is not None:
            return found
        for prop in node.metadata_props:
            if prop.key == "pkg.torch.onnx.name_scopes":
                try:
                    names = ast.literal_eval(prop.value)
                except (ValueError, SyntaxError):
                    return None
                if not isinstance(names, list) or len(names) < 2:
                    return None
                modules = [str(v) for v in names[1:-1] if v]
                return (modules[-1] if modules else "",
                        re.sub(r"_\d+$", "", str(names[-1])).strip("_"))
        return None

    def _leaf_scopes(self) -> set[str]:
        """Module names that hold no other module (PyTorch scopes with no deeper scope)."""
        scopes: dict[str, int] = {}
        for node in self.graph.node:
            found = self.scope(node)
            if found:
                scopes[found[0]] = scopes.get(found[0], 0) + 1
        inner = {s.rsplit(".", 1)[0] for s in scopes if "." in s}
        parents = set()
        for s in scopes:
            parts = s.split(".")
            for i in range(1, len(parts)):
                parents.add(".".join(parts[:i]))
        return {s for s in scopes if s not in parents and s not in inner}

    def module_name(self, node: Any) -> str:
        """The module a node belongs to: its weight's name without ``.weight``, else its
        PyTorch scope when that scope is a leaf module, else the scope plus the op type."""
        for v in node.input[1:2]:
            if v in self.consts and v.endswith(".weight") and v not in self.named_by:
                return str(v[: -len(".weight")])  # (a shared weight names its first user)
        found = self.scope(node)
        if found:
            scope, op = found
            if scope in self.leaf_scopes and scope:
                return scope
            return f"{scope}.{op.lower()}" if scope else op.lower()
        return str(node.name or node.op_type.lower())

    def new_id(self, base: str) -> str:
        base = _clean(base)
        name, i = base, 1
        while name in self.used_ids:
            name, i = f"{base}_{i}", i + 1
        self.used_ids.add(name)
        return name

    # -- what the layer classes' from_onnx read (helpers of several classes)
    @property
    def opset(self) -> int:
        return int(self.model.opset_import[0].version)

    def text_attr(self, node: Any, name: str, default: str) -> str:
        value = self.attr(node, name, default)
        return value.decode() if isinstance(value, bytes) else str(value)

    def weight(self, node: Any, hint: str | None = None) -> Const:
        """Input 1, a constant tensor (a weight), or an error naming the node."""
        w = self.const(node.input[1]) if len(node.input) > 1 else None
        if w is None:
            raise self.error(node, "the weight is not a constant tensor", hint)
        return w

    def producer_node(self, tensor: str) -> Any:
        i = self.producer.get(tensor)
        return None if i is None else self.graph.node[i]

    def ref(self, tensor: str) -> TensorRef:
        return TensorRef(tensor)

    def split_const(self, node: Any) -> tuple[str | None, Const | None]:
        """A binary node's data input and its constant input (None where there is none)."""
        data = [v for v in node.input if v and v not in self.consts]
        const = [self.consts[v] for v in node.input if v in self.consts]
        return (self.resolve(data[0]) if len(data) == 1 else None,
                const[0] if len(const) == 1 and len(data) == 1 else None)

    @staticmethod
    def ints(v: Any) -> int | list[int]:
        vals = [int(x) for x in v]
        return vals[0] if len(set(vals)) == 1 else vals

    @staticmethod
    def pad_arg(pairs: list[tuple[int, int]]) -> Any:
        if all(lo == hi for lo, hi in pairs):
            return Reader.ints([lo for lo, _ in pairs])
        return [[lo, hi] for lo, hi in pairs]

    def pads(self, node: Any, rank: int, k: Sequence[int], s: Sequence[int],
             d: Sequence[int], shape: tuple[int, ...]) -> list[tuple[int, int]]:
        """(before, after) per spatial axis from pads or auto_pad, plus a Pad folded in."""
        auto = self.text_attr(node, "auto_pad", "NOTSET")
        if auto == "VALID":
            return [(0, 0)] * rank
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pairs = []
            for a in range(rank):
                n = shape[2 + a]
                total = max((math.ceil(n / s[a]) - 1) * s[a] + d[a] * (k[a] - 1) + 1 - n, 0)
                small, big = total // 2, total - total // 2
                pairs.append((small, big) if auto == "SAME_UPPER" else (big, small))
            return pairs
        p = list(self.attr(node, "pads", [0] * (2 * rank)))
        extra = self.extra_pads.get(node.output[0])
        if extra:
            p = [p[i] + extra[i] for i in range(2 * rank)]
        return [(int(p[a]), int(p[a + rank])) for a in range(rank)]

    def pool_geometry(self, node: Any, shape: tuple[int, ...]) -> dict[str, Any]:
        k = list(self.attr(node, "kernel_shape"))
        rank = len(k)
        s = list(self.attr(node, "strides", [1] * rank))
        d = list(self.attr(node, "dilations", [1] * rank))
        pairs = self.pads(node, rank, k, s, d, shape)
        if any(lo != hi for lo, hi in pairs):
            raise self.error(node, f"asymmetric pads {pairs}: archcalc pools pad both sides "
                             "equally", "put a Pad (zeropad) before the pool")
        args: dict[str, Any] = {"k": self.ints(k), "s": self.ints(s)}
        if any(lo for lo, _ in pairs):
            args["p"] = self.ints([lo for lo, _ in pairs])
        if set(d) != {1}:
            args["d"] = self.ints(d)
        if self.attr(node, "ceil_mode", 0):
            args["ceil_mode"] = True
        return args

    def global_pool(self, i: int, node: Any, kind: str) -> bool:
        """A global pool; a ReduceMean/Max over every spatial axis is one (keepdims = 0: a
        ``flatten`` after it)."""
        if node.op_type.startswith("Global"):
            self.add(i, node, kind, {})
            return True
        shape = self.shape(self.resolve(node.input[0]), node)
        axes = self.attr(node, "axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = [int(v) for v in self.value(node.input[1], node, "axes")]
        rank = len(shape)
        if sorted(int(a) % rank for a in (axes or [])) != list(range(2, rank)):
            raise self.error(node, f"a {node.op_type} over axes {axes} has no archcalc layer",
                             "only the mean or max over every spatial axis (a global pool) is")
        if self.attr(node, "keepdims", 1):
            self.add(i, node, kind, {})
            return True
        mid = node.output[0] + "#pool"
        self.add(i, node, kind, {}, output=mid)
        self.add(i, node, "flatten", {}, [mid], name=self.module_name(node) + ".flatten")
        return True

    def region_pool(self, i: int, node: Any, kind: str, args: dict[str, Any]) -> bool:
        """An RoI pooling of the map (input 0) over the boxes of input 1: as many regions as
        that tensor has rows (a static count)."""
        rois = self.shapes.get(node.input[1]) or (self.consts[node.input[1]].shape
                                                  if node.input[1] in self.consts else None)
        if not rois or rois[0] <= 0:
            raise self.error(node, "the number of regions (the rois' first axis) is unknown",
                             "export with a fixed number of proposals")
        self.add(i, node, kind, {**args, "regions": int(rois[0])},
                 [self.resolve(node.input[0])])
        return True

    def fc_name(self, node: Any, x: str) -> str:
        name = self.module_name(node)
        gone = self.absorbed.get(x, [])
        if gone and name.rsplit(".", 1)[-1].isdigit():
            parent = name.rsplit(".", 1)[0]
            if all(g.rsplit(".", 1)[0] == parent for g in gone):
                return parent  # nn.Sequential(nn.Flatten(), nn.Linear(…)): the row is its module
        return name

    def _own_module(self, node: Any, readers: list[Any]) -> bool:
        """Whether a flatten is a module of its own (an nn.Flatten row of the model, kept as a
        row) rather than torch.flatten in a forward or the first member of the fc's
        nn.Sequential."""
        name = self.module_name(node)
        if name not in self.leaf_scopes:
            return False
        parent = name.rsplit(".", 1)[0] if "." in name else ""

        def parent_of(n: Any) -> str:
            m = self.module_name(n)
            return m.rsplit(".", 1)[0] if "." in m else ""

        return not all(parent_of(n) == parent and parent for n in readers)

    def flatten_or_absorb(self, i: int, node: Any, x: str) -> None:
        """A ``flatten`` row, or none when only fcs read the ``[C, 1, 1]`` map (they read it
        directly, as the lecture tables have no flatten row there)."""
        shape = self.shape(x, node)
        readers = self.readers(node.output[0])
        if len(shape) > 2 and all(v == 1 for v in shape[2:]) and readers and all(
                n.op_type in ("Gemm", "MatMul") for n in readers) and not self._own_module(
                node, readers):
            self.alias[node.output[0]] = x  # the fc reads the [C, 1, 1] map directly
            self.absorbed.setdefault(x, []).append(self.module_name(node))
            return
        self.add(i, node, "flatten", {}, [x])

    def slice_starts(self, node: Any, shape: tuple[int, ...]) -> dict[int, int]:
        """Axis → first element kept, of one Slice node (negative starts counted from the
        end)."""
        starts = [int(v) for v in self.value(node.input[1], node, "starts")]
        axes = [int(v) % len(shape) for v in self.value(node.input[3], node, "axes")] \
            if len(node.input) > 3 and node.input[3] else list(range(len(starts)))
        return {ax: (s if s >= 0 else shape[ax] + s) for ax, s in zip(axes, starts,
                                                                      strict=True)}

    # -- the pass
    def _settle(self) -> None:
        """Fold constants and infer shapes until neither learns more: a folded constant (a
        Slice's end computed by Unsqueeze of a Constant) fixes a shape ONNX's inference left
        unknown, and a known shape lets a Shape node fold."""
        self._init_consts()
        self.folded_nodes: set[int] = set()
        for _ in range(8):
            grew = False
            for i, node in enumerate(self.graph.node):
                if i not in self.folded_nodes and self._fold(node):
                    self.folded_nodes.add(i)
                    grew = True
            unknown = any(out not in self.shapes or any(v < 0 for v in self.shapes[out][1:])
                          for i, node in enumerate(self.graph.node)
                          if i not in self.folded_nodes for out in node.output if out)
            if not grew or not unknown:
                break
            self.shapes.update({k: v for k, v in self._infer(self._simplified()).items()
                                if all(d >= 0 for d in v[1:])})
        self.folded = len(self.folded_nodes)

    def _simplified(self) -> Any:
        """The graph without its folded nodes, their values as initializers and the weights as
        inputs of known shape (shape inference needs no weight values)."""
        helper, numpy_helper = self.onnx.helper, self.onnx.numpy_helper
        nodes = [n for i, n in enumerate(self.graph.node) if i not in self.folded_nodes]
        needed = {v for n in nodes for v in n.input if v}
        dtypes = {t.name: t.data_type for t in self.graph.initializer}
        inputs = [v for v in self.graph.input if v.name in self.input_shapes]
        inits = []
        for name in sorted(needed):
            c = self.consts.get(name)
            if c is None:
                continue
            if c.value is not None:
                inits.append(numpy_helper.from_array(c.value, name))
            else:
                inputs.append(helper.make_tensor_value_info(
                    name, dtypes.get(name, self.onnx.TensorProto.FLOAT), list(c.shape)))
        graph = helper.make_graph(nodes, "settled", inputs, list(self.graph.output), inits)
        return helper.make_model(graph, opset_imports=list(self.model.opset_import),
                                 ir_version=self.model.ir_version)

    def run(self) -> None:
        self._settle()
        for i, node in enumerate(self.graph.node):
            if i in self.claimed or i in self.folded_nodes:
                continue
            claimants = self.classes.get(node.op_type)
            if claimants is None:
                raise self.error(node, f"ONNX operator {node.op_type} has no archcalc layer",
                                 "supported operators: " + ", ".join(self.classes))
            try:
                if not any(cls.from_onnx(self, i, node) for cls in claimants):
                    raise self.error(node, f"no archcalc layer takes this {node.op_type} ("
                                     + ", ".join(c.kind for c in claimants) + " do not)")
            except ArchcalcError:
                raise
            except (ValueError, TypeError, IndexError, KeyError) as exc:
                raise self.error(node, f"cannot read the node: {type(exc).__name__}: "
                                       f"{exc}") from None
        self.outputs = [self.resolve(v.name) for v in self.graph.output]
        self.output = self.outputs[0]
        self._fuse()

    def add(self, i: int, node: Any, type_: str, args: dict[str, Any],
            inputs: Sequence[str] | None = None, output: str | None = None,
            name: str | None = None) -> None:
        ins = tuple(inputs if inputs is not None else self.data_inputs(node))
        for v in ins:
            if v not in self.input_shapes and v not in self.producer_entry:
                raise self.error(node, f"its input {v!r} comes from no layer (a constant "
                                       "tensor used as data?)")
        out = output or node.output[0]
        module = name or self.module_name(node)
        weights = tuple(v for v in node.input if self._is_weight(v))
        self.named_by.update(weights)
        entry = Entry(self.new_id(module), type_, args, ins, out, node.name or node.op_type,
                      modules=(module, *self.absorbed.get(ins[0] if ins else "", [])),
                      weights=weights)
        self.producer_entry[out] = len(self.entries)
        self.entries.append(entry)

    def _fold(self, node: Any) -> bool:
        """Evaluate a node whose inputs are all constants (or the shape of a static tensor)."""
        ins = [v for v in node.input if v]
        if node.op_type == "Constant":
            value = self.onnx.numpy_helper.to_array(self.attr(node, "value")) \
                if self.attr(node, "value") is not None else _constant_attr(self, node)
            self.consts[node.output[0]] = Const(tuple(value.shape), value, stored=True)
            return True
        if node.op_type == "CastLike" and ins and ins[0] in self.consts:
            ins = ins[:1]  # the second input only gives the element type
        if node.op_type == "Shape" and ins and ins[0] not in self.consts:
            shape = self.shapes.get(self.resolve(ins[0])) or self.shapes.get(ins[0])
            if shape is None or any(v < 0 for v in shape):
                return False
            import numpy as np

            start, end = self.attr(node, "start", 0), self.attr(node, "end", None)
            value = np.array(shape[start:end], dtype=np.int64)
            self.consts[node.output[0]] = Const(tuple(value.shape), value)
            return True
        if not ins or any(v not in self.consts for v in ins):
            return False
        values = [self.consts[v].value for v in ins]
        result = None
        if all(v is not None for v in values) and not _too_big(node, values):
            try:
                result = _evaluate(self, node, values)
            except (ValueError, TypeError, IndexError, KeyError, ArithmeticError):
                result = None  # a malformed constant: only its inferred shape is kept
        stored = node.op_type in STORED_VIEWS and self.consts[ins[0]].stored
        for k, out in enumerate(node.output):
            if result is not None and k < len(result):
                self.consts[out] = Const(tuple(result[k].shape), result[k], stored)
            else:
                self.consts[out] = Const(self.shapes.get(out, ()), None, stored)
        return True

    def _is_weight(self, name: str) -> bool:
        """A stored floating-point tensor (not a shape, a size list or an index)."""
        c = self.consts.get(name)
        return c is not None and c.stored and bool(c.shape) and (
            c.value is None or c.value.dtype.kind == "f")

    def stored_input(self, node: Any, k: int) -> bool:
        """Whether input ``k`` is given and a tensor stored in the file (a bias, a weight)."""
        if len(node.input) <= k or not node.input[k]:
            return False
        c = self.consts.get(node.input[k])
        if c is None:
            raise self.error(node, f"input {k} ({node.input[k]!r}) is not a constant tensor",
                             "a weight or bias computed from activations has no archcalc "
                             "layer")
        return c.stored

    # -- fusion of bn and activations into the rows
    def _fuse(self) -> None:
        readers: dict[str, list[int]] = {}
        for j, e in enumerate(self.entries):
            for v in e.inputs:
                readers.setdefault(v, []).append(j)
        gone: set[int] = set()
        rename: dict[str, str] = {}
        out = list(self.entries)
        for j, e in enumerate(out):
            if j in gone or e.type not in self.fuse_into:
                continue
            cur = e
            while True:
                rd = readers.get(cur.output, [])
                if len(rd) != 1 or cur.output in self.outputs:
                    break
                nxt = out[rd[0]]
                allowed = self.fuse_into[cur.type]
                # a bn with its own momentum stays a row of its own: a fused `bn: true` has
                # the default (0.1), and the running statistics a training step moves differ
                if nxt.type == "bn" and "bn" in allowed and not cur.post \
                        and "momentum" not in nxt.args:
                    if nxt.args:
                        self.eps_fused.add(nxt.args["eps"])
                    cur = cur._replace(post=(*cur.post, "bn"), output=nxt.output,
                                       modules=(*cur.modules, *nxt.modules),
                                       weights=(*cur.weights, *nxt.weights))
                elif nxt.type in self.activations and "act" in allowed and not any(
                        p != "bn" for p in cur.post) and set(nxt.args) <= {"slope"}:
                    if nxt.args:
                        break  # fused only without arguments: a LeakyRelu's alpha stays a row
                    cur = cur._replace(post=(*cur.post, nxt.type), output=nxt.output,
                                       modules=(*cur.modules, *nxt.modules))
                else:
                    break
                gone.add(rd[0])
                rename[nxt.id] = cur.id
                readers[cur.output] = readers.get(nxt.output, [])
            out[j] = cur
        self.entries = self._row_names([e for j, e in enumerate(out) if j not in gone])

    def _row_names(self, entries: list[Entry]) -> list[Entry]:
        """A row whose nodes are the only contents of one module — a conv with its BN and
        activation in an nn.Sequential (torchvision's Conv2dNormActivation) or a BasicConv2d —
        is named after that module."""
        holders: dict[str, int] = {}
        for e in entries:
            prefixes: set[str] = set()
            for m in e.modules:
                parts = m.split(".")
                prefixes.update(".".join(parts[:k]) for k in range(1, len(parts)))
            for p in prefixes:
                holders[p] = holders.get(p, 0) + 1
        named = []
        for e in entries:
            parents = {m.rsplit(".", 1)[0] for m in e.modules if "." in m}
            if len(e.modules) >= 2 and len(parents) == 1 and len(e.modules) == len(
                    [m for m in e.modules if "." in m]):
                (parent,) = parents
                if holders.get(parent) == 1 and parent not in self.used_ids:
                    self.used_ids.discard(e.id)
                    self.used_ids.add(parent)
                    e = e._replace(id=parent)
            named.append(e)
        return named

    # -- writing
    def spec_text(self, name: str, source: str) -> str:
        ids = {e.output: e.id for e in self.entries}
        several = len(self.input_shapes) > 1
        for name in self.input_shapes:
            ids[name] = self.input_ids[name] if several else "input"
        convs = [e for e in self.entries if e.type in ("conv", "dwconv")]
        no_bias = sum(1 for e in convs if e.args.get("bias") is False)
        bias_default = bool(convs) and no_bias * 2 >= len(convs)
        lines = [
            f"# Imported from {source} by `archcalc import`"
            + (f" ({self.model.producer_name} {self.model.producer_version})"
               if self.model.producer_name else "") + ".",
            f"# {len(self.graph.node)} ONNX nodes ({self.folded} constants and shape plumbing "
            f"folded) → {len(self.entries)} layers;",
            "# BatchNormalization and activations fused into the rows they follow.",
            "archcalc: 1",
            f"name: {_q(name)}",
            *([f"input: [{', '.join(str(v) for v in self.input_shape)}]"] if not several else
              ["inputs:", *(f"  {ids[n]}: [{', '.join(str(v) for v in shape)}]"
                            for n, shape in self.input_shapes.items())]),
        ]
        if self.eps_fused:
            shown = ", ".join(str(v) for v in sorted(self.eps_fused))
            lines.insert(2, f"# BatchNormalization epsilon {shown} fused as `bn: true`: no count "
                         "depends on it (the NumPy executor uses 1e-5).")
        if bias_default:
            lines += ["defaults:", "  conv: {bias: false}   # dwconv inherits it"]
        lines.append("layers:")
        self.mapping: dict[str, Any] = {"archcalc": 1, "name": name,
                                        "layers": []}
        if several:
            self.mapping["inputs"] = {ids[n]: list(v) for n, v in self.input_shapes.items()}
        else:
            self.mapping["input"] = list(self.input_shape)
        if bias_default:
            self.mapping["defaults"] = {"conv": {"bias": False}}
        prev = "input" if not several else ""
        owners: dict[tuple[Any, ...], str] = {}
        for e in self.entries:
            args: dict[str, Any] = {"id": e.id}
            ins = [ids[v] for v in e.inputs]
            if e.type in self.merges or ins != [prev]:
                args["in"] = ins if len(ins) != 1 else ins[0]
            for k, v in e.args.items():
                if isinstance(v, TensorRef):
                    v = ids[self.resolve(v.tensor)]
                if k == "bias":  # written only where it differs from the default in force
                    default = not (bias_default and e.type in ("conv", "dwconv"))
                    if v == default:
                        continue
                args[k] = v
            if "bn" in e.post:
                args["bn"] = True
            owner = owners.setdefault((e.type, e.post, e.weights), e.id) if e.weights else e.id
            if owner != e.id:  # the same stored tensors as an earlier row: a Siamese tower
                args["share"] = owner
            acts = [p for p in e.post if p != "bn"]
            if acts:
                args["act"] = acts[0]
            body = ", ".join(f"{k}: {_yaml(v)}" for k, v in args.items())
            lines.append(f"  - {e.type}: {{{body}}}")
            self.mapping["layers"].append({e.type: args})
            prev = e.id
        if len(self.outputs) > 1:
            missing = [v for v in self.outputs if v not in ids]
            if missing:
                raise BridgeError(f"the model's output {missing[0]!r} is no layer's",
                                  loc=Loc(self.path))
            names = [ids[v] for v in self.outputs]
            lines.append(f"outputs: [{', '.join(names)}]")
            self.mapping["outputs"] = names
        elif self.entries and self.entries[-1].output != self.output:
            raise BridgeError("the model's output is not the last layer", loc=Loc(self.path))
        return "\n".join(lines) + "\n"


def _q(text: str) -> str:
    return text if _ID.fullmatch(text) and text not in ("true", "false", "null", "yes", "no") \
        else json.dumps(text)


def _yaml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return _q(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_yaml(x) for x in v) + "]"
    return str(v)


def _numel(dims: Sequence[int]) -> int:
    return math.prod(dims) if dims else 1


def _constant_attr(r: Reader, node: Any) -> Any:
    import numpy as np

    for key, dtype in (("value_float", np.float32), ("value_int", np.int64)):
        v = r.attr(node, key)
        if v is not None:
            return np.array(v, dtype=dtype)
    for key, dtype in (("value_floats", np.float32), ("value_ints", np.int64)):
        v = r.attr(node, key)
        if v is not None:
            return np.array(list(v), dtype=dtype)
    raise r.error(node, "a Constant without a value the importer can read")


#: the largest constant the importer computes (elements): plumbing is small; a model that
#: expands a scalar to a huge tensor keeps only its shape, so no input can exhaust memory
MAX_FOLD_ELEMENTS = 1 << 20


def _too_big(node: Any, values: list[Any]) -> bool:
    """Whether evaluating ``node`` could make a constant larger than MAX_FOLD_ELEMENTS (the ops
    whose output can outgrow their inputs: ConstantOfShape, Expand, Range, Tile and
    broadcasting arithmetic)."""
    import numpy as np

    op = node.op_type
    try:
        if op == "ConstantOfShape":
            return _numel([int(v) for v in values[0].reshape(-1)]) > MAX_FOLD_ELEMENTS
        if op == "Expand":
            target = np.broadcast_shapes(values[0].shape,
                                         tuple(int(v) for v in values[1].reshape(-1)))
            return _numel(target) > MAX_FOLD_ELEMENTS
        if op == "Range":
            start, limit, delta = (float(v) for v in values[:3])
            return delta == 0 or abs((limit - start) / delta) > MAX_FOLD_ELEMENTS
        if op == "Tile":
            return int(values[0].size) * _numel([int(v) for v in values[1]]) > MAX_FOLD_ELEMENTS
        if op in ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Equal", "Where"):
            return _numel(np.broadcast_shapes(*(v.shape for v in values))) > MAX_FOLD_ELEMENTS
    except (ValueError, TypeError, OverflowError):
        return True
    return any(v.size > MAX_FOLD_ELEMENTS for v in values)


def _evaluate(r: Reader, node: Any, values: list[Any]) -> list[Any] | None:
    """NumPy for the shape plumbing exporters write; None when the op is not one of them (its
    output then keeps only its inferred shape)."""
    import numpy as np

    op = node.op_type
    a = values[0]
    if op in ("Identity", "Cast", "CastLike"):
        if op == "Cast":
            to = r.attr(node, "to")
            return [a.astype(r.onnx.helper.tensor_dtype_to_np_dtype(to))]
        if op == "CastLike":  # the type donor may be data (not among the values): keep a's
            return [a.astype(values[1].dtype) if len(values) > 1 else a]
        return [a]
    if op == "Gather":
        return [np.take(a, values[1], axis=r.attr(node, "axis", 0))]
    if op == "Unsqueeze":
        axes = r.attr(node, "axes") or list(values[1])
        out = a
        for ax in sorted(int(x) % (out.ndim + len(axes)) for x in axes):
            out = np.expand_dims(out, ax)
        return [out]
    if op == "Squeeze":
        axes = r.attr(node, "axes") or (list(values[1]) if len(values) > 1 else None)
        return [np.squeeze(a, axis=tuple(int(x) for x in axes) if axes else None)]
    if op == "Concat":
        return [np.concatenate(values, axis=r.attr(node, "axis", 0))]
    if op in ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"):
        fn = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power,
              "Max": np.maximum, "Min": np.minimum}.get(op)
        if op == "Div":
            b = values[1]
            return [a // b if a.dtype.kind in "iu" else a / b]
        assert fn is not None
        return [fn(a, values[1])]
    if op in ("Floor", "Ceil", "Sqrt", "Neg", "Abs"):
        return [{"Floor": np.floor, "Ceil": np.ceil, "Sqrt": np.sqrt, "Neg": np.negative,
                 "Abs": np.abs}[op](a)]
    if op == "Reshape":
        target = [int(v) for v in values[1]]
        target = [a.shape[k] if v == 0 else v for k, v in enumerate(target)]
        return [a.reshape(target)]
    if op == "Slice":
        starts, ends = values[1], values[2]
        axes = values[3] if len(values) > 3 else range(len(starts))
        steps = values[4] if len(values) > 4 else [1] * len(starts)
        index = [slice(None)] * a.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps, strict=False):
            index[int(ax)] = slice(int(s), int(e), int(st))
        return [a[tuple(index)]]
    if op == "ConstantOfShape":
        fill = r.attr(node, "value")
        v = r.onnx.numpy_helper.to_array(fill) if fill is not None else np.zeros(1, np.float32)
        return [np.full([int(x) for x in a], v.reshape(-1)[0], dtype=v.dtype)]
    if op == "Range":
        return [np.arange(a, values[1], values[2])]
    if op in ("ReduceProd", "ReduceSum"):
        return [np.array(np.prod(a) if op == "ReduceProd" else np.sum(a))]
    if op == "Equal":
        return [np.equal(a, values[1])]
    if op == "Where":
        return [np.where(a, values[1], values[2])]
    if op == "Expand":
        return [a * np.ones([int(x) for x in values[1]], dtype=a.dtype)]
    if op == "Transpose":
        return [np.transpose(a, r.attr(node, "perm"))]
    return None


# ----------------------------------------------------------------------------- operators --
# Each layer class declares the ONNX operators it imports from (``ONNX``) and reads such a node
# in ``from_onnx``; the table of operators is collected from the registry, never written here.


def onnx_classes() -> dict[str, tuple[type[Layer], ...]]:
    """ONNX operator → the layer classes that import from it, in the order they are asked
    (``ONNX_ORDER``, then the registry's)."""
    from .layers.registry import LAYER_CLASSES

    found: dict[str, list[tuple[int, int, type[Layer]]]] = {}
    for n, cls in enumerate(LAYER_CLASSES):
        for op in cls.ONNX:
            found.setdefault(op, []).append((cls.ONNX_ORDER, n, cls))
    return {op: tuple(c for _, _, c in sorted(v, key=lambda t: t[:2]))
            for op, v in sorted(found.items())}


def _fusion() -> tuple[dict[str, tuple[str, ...]], frozenset[str], frozenset[str]]:
    """From the classes: the layer types a BN (``bn``) or an activation (``act``) fuses into
    (their POST_ARGS), the activation names, and the merges (``in:`` always written)."""
    from .layers import Activation
    from .layers.merge import Merge
    from .layers.registry import LAYER_CLASSES

    fuse = {cls.kind: cls.POST_ARGS for cls in LAYER_CLASSES if cls.POST_ARGS}
    return (fuse, frozenset(Activation.SPELLINGS),
            frozenset(cls.kind for cls in LAYER_CLASSES if issubclass(cls, Merge)))


class TensorRef(NamedTuple):
    """An argument naming the row that produces an ONNX tensor (``indices: pool5``)."""

    tensor: str


def _check_shapes(reader: Reader, imported: Imported, path: str) -> None:
    """Build the written spec and hold every layer's shape to ONNX's inferred one."""
    from .graph import build
    from .spec import load_spec

    spec = load_spec(imported.mapping)
    graph = build(spec)
    by_id = {e.id: e for e in reader.entries}
    for node in graph.nodes:
        e = by_id.get(node.name)
        if e is None:
            continue
        want = reader.shapes.get(e.output)
        if want is None or any(v < 0 for v in want):
            continue
        if tuple(node.out_shape) != tuple(want[1:]):
            raise BridgeError(
                f"the imported layer {node.name!r} ({node.type_name}) gives {list(node.out_shape)}"
                f" but ONNX infers {list(want[1:])}", loc=Loc(path),
                layer=f"node {e.node!r}", hint="a bug in the importer: please report it")
