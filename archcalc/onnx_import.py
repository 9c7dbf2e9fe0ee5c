"""ONNX → spec: ``archcalc import model.onnx -o net.yaml`` and ``archcalc table model.onnx``.

The model is read with the ``onnx`` package (weights are not loaded: only their shapes count),
shapes come from ``onnx.shape_inference`` and are checked again after the spec is built. Then:

1. **Plumbing is folded.** A node whose inputs are all constants — ``Constant``, ``Shape`` of a
   static tensor, ``Gather``, ``Unsqueeze``, ``Concat`` of shapes, ``Cast``, an exporter's
   ``Expand`` of a weight — is evaluated (NumPy) or, when only its shape matters, kept as a
   constant of known shape. None of it becomes a layer.
2. **Operators become layers** (:data:`HANDLERS`, one rule per operator, each naming the layer
   type it makes): Conv → ``conv``/``dwconv``, ConvTranspose → ``deconv``, Gemm and MatMul
   (+ Add of a bias) → ``fc``, MaxPool/AveragePool/GlobalAveragePool/… → pools, Relu, Clip(0, 6),
   Sigmoid, HardSwish, … → activations, Sigmoid·x → ``silu``, Mul → ``multiply`` (SE gates), Add,
   Concat, Flatten, Reshape (ShuffleNet's reshape-transpose-reshape → ``channel_shuffle``),
   Split/Slice → ``slice``/``crop``, Resize → ``upsample``, Pad → ``zeropad`` (or into the next
   conv's padding), Dropout, LRN, BatchNormalization, Softmax.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ArchcalcError, BridgeError, Loc

if TYPE_CHECKING:
    from .spec import Spec

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
    reader = _Reader(model, path, input_shape)
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

class _Reader:
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

    # -- shapes
    def _data_inputs(self) -> list[Any]:
        inits = {t.name for t in self.graph.initializer}
        return [v for v in self.graph.input if v.name not in inits]

    def _fix_input(self, input_shape: tuple[int, ...] | None) -> None:
        inputs = self._data_inputs()
        if len(inputs) != 1:
            raise BridgeError(
                f"the model has {len(inputs)} data inputs "
                f"({', '.join(v.name for v in inputs) or 'none'}); archcalc specs have one",
                loc=Loc(self.path), hint="export the model with a single input tensor")
        dims = inputs[0].type.tensor_type.shape.dim
        if input_shape is not None:
            if len(input_shape) != len(dims) - 1:
                raise BridgeError(f"--input has {len(input_shape)} sizes but the model's input "
                                  f"has {len(dims) - 1} besides the batch", loc=Loc(self.path))
            for d, v in zip(list(dims)[1:], input_shape, strict=True):
                d.Clear()
                d.dim_value = v
        self.input_name = inputs[0].name
        sizes = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if len(sizes) < 2 or any(v is None or v <= 0 for v in sizes[1:]):
            shown = [d.dim_param or "?" if not d.HasField("dim_value") else d.dim_value
                     for d in dims]
            raise BridgeError(
                f"input {inputs[0].name!r} has the shape {shown}; archcalc needs a batch axis "
                "then fixed sizes (channels first)", loc=Loc(self.path),
                hint="give the sizes: archcalc import model.onnx --input 3x224x224")
        self.input_shape = tuple(int(v) for v in sizes[1:])  # type: ignore[arg-type]

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
        shapes[self.input_name] = (1, *self.input_shape)
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
            if v in self.consts and v.endswith(".weight"):
                return str(v[: -len(".weight")])
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
        inputs = [v for v in self.graph.input if v.name == self.input_name]
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
            handler = HANDLERS.get(node.op_type)
            if handler is None:
                raise self.error(node, f"ONNX operator {node.op_type} has no archcalc layer",
                                 "supported operators: " + ", ".join(sorted(HANDLERS)))
            try:
                handler(self, i, node)
            except ArchcalcError:
                raise
            except (ValueError, TypeError, IndexError, KeyError) as exc:
                raise self.error(node, f"cannot read the node: {type(exc).__name__}: "
                                       f"{exc}") from None
        outputs = [self.resolve(v.name) for v in self.graph.output]
        if len(outputs) != 1:
            raise BridgeError(f"the model has {len(outputs)} outputs; archcalc specs have one",
                              loc=Loc(self.path))
        self.output = outputs[0]
        self._fuse()

    def add(self, i: int, node: Any, type_: str, args: dict[str, Any],
            inputs: Sequence[str] | None = None, output: str | None = None,
            name: str | None = None) -> None:
        ins = tuple(inputs if inputs is not None else self.data_inputs(node))
        for v in ins:
            if v != self.input_name and v not in self.producer_entry:
                raise self.error(node, f"its input {v!r} comes from no layer (a constant "
                                       "tensor used as data?)")
        out = output or node.output[0]
        module = name or self.module_name(node)
        entry = Entry(self.new_id(module), type_, args, ins, out, node.name or node.op_type,
                      modules=(module, *self.absorbed.get(ins[0] if ins else "", [])))
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
        stored = node.op_type in ("Identity", "Cast", "CastLike") and self.consts[ins[0]].stored
        for k, out in enumerate(node.output):
            if result is not None and k < len(result):
                self.consts[out] = Const(tuple(result[k].shape), result[k], stored)
            else:
                self.consts[out] = Const(self.shapes.get(out, ()), None, stored)
        return True

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
            if j in gone or e.type not in FUSE_INTO:
                continue
            cur = e
            while True:
                rd = readers.get(cur.output, [])
                if len(rd) != 1 or cur.output == self.output:
                    break
                nxt = out[rd[0]]
                allowed = FUSE_INTO[cur.type]
                if nxt.type == "bn" and "bn" in allowed and not cur.post:
                    if nxt.args:
                        self.eps_fused.add(nxt.args["eps"])
                    cur = cur._replace(post=(*cur.post, "bn"), output=nxt.output,
                                       modules=(*cur.modules, *nxt.modules))
                elif nxt.type in ACTIVATION_TYPES and "act" in allowed and not any(
                        p != "bn" for p in cur.post) and set(nxt.args) <= {"slope"}:
                    if nxt.args:
                        break  # leaky_relu's slope is no fused-act argument
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
        ids[self.input_name] = "input"
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
            f"input: [{', '.join(str(v) for v in self.input_shape)}]",
        ]
        if self.eps_fused:
            shown = ", ".join(str(v) for v in sorted(self.eps_fused))
            lines.insert(2, f"# BatchNormalization epsilon {shown} fused as `bn: true`: no count "
                         "depends on it (the NumPy executor uses 1e-5).")
        if bias_default:
            lines += ["defaults:", "  conv: {bias: false}   # dwconv inherits it"]
        lines.append("layers:")
        self.mapping: dict[str, Any] = {"archcalc": 1, "name": name,
                                        "input": list(self.input_shape), "layers": []}
        if bias_default:
            self.mapping["defaults"] = {"conv": {"bias": False}}
        prev = "input"
        for e in self.entries:
            args: dict[str, Any] = {"id": e.id}
            ins = [ids[v] for v in e.inputs]
            if e.type in MERGES or ins != [prev]:
                args["in"] = ins if len(ins) != 1 else ins[0]
            for k, v in e.args.items():
                if k == "bias":  # written only where it differs from the default in force
                    default = not (bias_default and e.type in ("conv", "dwconv"))
                    if v == default:
                        continue
                args[k] = v
            if "bn" in e.post:
                args["bn"] = True
            acts = [p for p in e.post if p != "bn"]
            if acts:
                args["act"] = acts[0]
            body = ", ".join(f"{k}: {_yaml(v)}" for k, v in args.items())
            lines.append(f"  - {e.type}: {{{body}}}")
            self.mapping["layers"].append({e.type: args})
            prev = e.id
        if self.entries and self.entries[-1].output != self.output:
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


def _constant_attr(r: _Reader, node: Any) -> Any:
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


def _evaluate(r: _Reader, node: Any, values: list[Any]) -> list[Any] | None:
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
# One rule per ONNX operator; each names the archcalc layer type it makes.

Handler = Callable[[_Reader, int, Any], None]


def _ints(v: Any) -> int | list[int]:
    vals = [int(x) for x in v]
    return vals[0] if len(set(vals)) == 1 else vals


def _pads(r: _Reader, node: Any, rank: int, k: Sequence[int], s: Sequence[int],
          d: Sequence[int], shape: tuple[int, ...]) -> list[tuple[int, int]]:
    auto = r.attr(node, "auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
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
    p = list(r.attr(node, "pads", [0] * (2 * rank)))
    extra = r.extra_pads.get(node.output[0])
    if extra:
        p = [p[i] + extra[i] for i in range(2 * rank)]
    return [(int(p[a]), int(p[a + rank])) for a in range(rank)]


def _pad_arg(pairs: list[tuple[int, int]]) -> Any:
    if all(lo == hi for lo, hi in pairs):
        return _ints([lo for lo, _ in pairs])
    return [[lo, hi] for lo, hi in pairs]


def conv(r: _Reader, i: int, node: Any) -> None:
    """Conv → ``conv`` (``dwconv`` when groups = input channels)."""
    x = node.input[0]
    w = r.const(node.input[1])
    if w is None:
        raise r.error(node, "the weight is not a constant tensor")
    shape = r.shape(r.resolve(x), node)
    rank = len(w.shape) - 2
    k = list(r.attr(node, "kernel_shape", w.shape[2:]))
    s = list(r.attr(node, "strides", [1] * rank))
    d = list(r.attr(node, "dilations", [1] * rank))
    g = int(r.attr(node, "group", 1))
    pairs = _pads(r, node, rank, k, s, d, shape)
    cin, out = shape[1], int(w.shape[0])
    has_bias = r.stored_input(node, 2)
    args: dict[str, Any] = {}
    kind = "conv"
    if g > 1 and g == cin:
        kind = "dwconv"
        if out != cin:
            args["out"] = out
    else:
        args["out"] = out
    args["k"] = _ints(k)
    if set(s) != {1}:
        args["s"] = _ints(s)
    if any(v for pair in pairs for v in pair):
        args["p"] = _pad_arg(list(pairs))
    if set(d) != {1}:
        args["d"] = _ints(d)
    if g > 1 and kind == "conv":
        args["groups"] = g
    args["bias"] = has_bias
    r.add(i, node, kind, args)


def conv_transpose(r: _Reader, i: int, node: Any) -> None:
    """ConvTranspose → ``deconv`` (symmetric padding; PyTorch's rule)."""
    w = r.const(node.input[1])
    if w is None:
        raise r.error(node, "the weight is not a constant tensor")
    rank = len(w.shape) - 2
    if r.attr(node, "output_shape") is not None:
        raise r.error(node, "output_shape is not supported", "export with explicit pads")
    g = int(r.attr(node, "group", 1))
    k = list(r.attr(node, "kernel_shape", w.shape[2:]))
    s = list(r.attr(node, "strides", [1] * rank))
    d = list(r.attr(node, "dilations", [1] * rank))
    p = list(r.attr(node, "pads", [0] * (2 * rank)))
    if p[:rank] != p[rank:]:
        raise r.error(node, f"asymmetric pads {p}: deconv crops the same on both sides")
    op = list(r.attr(node, "output_padding", [0] * rank))
    args: dict[str, Any] = {"out": int(w.shape[1]) * g, "k": _ints(k)}
    if set(s) != {1}:
        args["s"] = _ints(s)
    if any(p):
        args["p"] = _ints(p[:rank])
    if any(op):
        args["output_padding"] = _ints(op)
    if set(d) != {1}:
        args["d"] = _ints(d)
    if g > 1:
        args["groups"] = g
    args["bias"] = r.stored_input(node, 2)
    r.add(i, node, "deconv", args)


def _flat_in(r: _Reader, i: int, node: Any) -> tuple[str, list[str]]:
    """The data input of an fc; a Flatten of a [C, 1, 1] map before it was left out."""
    x = r.resolve(node.input[0])
    return x, r.absorbed.get(x, [])


def gemm(r: _Reader, i: int, node: Any) -> None:
    """Gemm → ``fc`` (``y = x·Wᵀ + b``; alpha = beta = 1, x not transposed)."""
    if r.attr(node, "transA", 0) or r.attr(node, "alpha", 1.0) != 1.0 or \
            r.attr(node, "beta", 1.0) != 1.0:
        raise r.error(node, "only Gemm with transA = 0, alpha = 1 and beta = 1 is an fc")
    w = r.const(node.input[1])
    if w is None:
        raise r.error(node, "the weight is not a constant tensor", "a product of two "
                      "activations has no archcalc layer")
    out = int(w.shape[0] if r.attr(node, "transB", 0) else w.shape[1])
    x, _ = _flat_in(r, i, node)
    r.add(i, node, "fc", {"out": out, "bias": r.stored_input(node, 2)},
          [x], name=_fc_name(r, node, x))


def _fc_name(r: _Reader, node: Any, x: str) -> str:
    name = r.module_name(node)
    gone = r.absorbed.get(x, [])
    if gone and name.rsplit(".", 1)[-1].isdigit():
        parent = name.rsplit(".", 1)[0]
        if all(g.rsplit(".", 1)[0] == parent for g in gone):
            return parent  # nn.Sequential(nn.Flatten(), nn.Linear(…)): the row is its module
    return name


def matmul(r: _Reader, i: int, node: Any) -> None:
    """MatMul by a constant ``[F, out]`` → ``fc``; an Add of a constant ``[out]`` after it is its
    bias."""
    w = r.const(node.input[1])
    if w is None or len(w.shape) != 2:
        raise r.error(node, "a MatMul of two activations has no archcalc layer",
                      "only x @ W with a constant 2-D W is an fc")
    out_name = node.output[0]
    bias = False
    readers = r.readers(out_name)
    if len(readers) == 1 and readers[0].op_type == "Add":
        add_node = readers[0]
        other = [v for v in add_node.input if v != out_name]
        c = r.const(other[0]) if other else None
        if c is not None and _numel(c.shape) == int(w.shape[1]):
            bias = True
            r.claimed.add(r.producer[add_node.output[0]])
            out_name = add_node.output[0]
    x, _ = _flat_in(r, i, node)
    r.add(i, node, "fc", {"out": int(w.shape[1]), "bias": bias}, [x], out_name,
          name=_fc_name(r, node, x))


def _pool_geometry(r: _Reader, node: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    k = list(r.attr(node, "kernel_shape"))
    rank = len(k)
    s = list(r.attr(node, "strides", [1] * rank))
    d = list(r.attr(node, "dilations", [1] * rank))
    pairs = _pads(r, node, rank, k, s, d, shape)
    if any(lo != hi for lo, hi in pairs):
        raise r.error(node, f"asymmetric pads {pairs}: archcalc pools pad both sides equally",
                      "put a Pad (zeropad) before the pool")
    args: dict[str, Any] = {"k": _ints(k), "s": _ints(s)}
    if any(lo for lo, _ in pairs):
        args["p"] = _ints([lo for lo, _ in pairs])
    if set(d) != {1}:
        args["d"] = _ints(d)
    if r.attr(node, "ceil_mode", 0):
        args["ceil_mode"] = True
    return args


def maxpool(r: _Reader, i: int, node: Any) -> None:
    """MaxPool → ``maxpool`` (ONNX strides default to 1, so ``s`` is always written)."""
    if len(node.output) > 1 and node.output[1]:
        raise r.error(node, "MaxPool's indices output has no archcalc layer")
    shape = r.shape(r.resolve(node.input[0]), node)
    r.add(i, node, "maxpool", _pool_geometry(r, node, shape))


def avgpool(r: _Reader, i: int, node: Any) -> None:
    """AveragePool → ``avgpool`` (ONNX's count_include_pad defaults to 0, PyTorch's to 1)."""
    shape = r.shape(r.resolve(node.input[0]), node)
    args = _pool_geometry(r, node, shape)
    if "d" in args:
        raise r.error(node, "a dilated average pool has no archcalc layer")
    if "p" in args and not r.attr(node, "count_include_pad", 0):
        args["count_include_pad"] = False
    r.add(i, node, "avgpool", args)


def global_pool(r: _Reader, i: int, node: Any) -> None:
    r.add(i, node, "global_maxpool" if node.op_type == "GlobalMaxPool" else "global_avgpool", {})


def reduce_pool(r: _Reader, i: int, node: Any) -> None:
    """ReduceMean/ReduceMax over every spatial axis → ``global_avgpool``/``global_maxpool``
    (with keepdims = 0 a ``flatten`` after it)."""
    shape = r.shape(r.resolve(node.input[0]), node)
    axes = r.attr(node, "axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = [int(v) for v in r.value(node.input[1], node, "axes")]
    rank = len(shape)
    if sorted(int(a) % rank for a in (axes or [])) != list(range(2, rank)):
        raise r.error(node, f"a {node.op_type} over axes {axes} has no archcalc layer",
                      "only the mean or max over every spatial axis (a global pool) is")
    kind = "global_avgpool" if node.op_type == "ReduceMean" else "global_maxpool"
    if r.attr(node, "keepdims", 1):
        r.add(i, node, kind, {})
        return
    mid = node.output[0] + "#pool"
    r.add(i, node, kind, {}, output=mid)
    r.add(i, node, "flatten", {}, [mid], name=r.module_name(node) + ".flatten")


def batchnorm(r: _Reader, i: int, node: Any) -> None:
    eps = float(r.attr(node, "epsilon", 1e-5))
    r.add(i, node, "bn", {} if abs(eps - 1e-5) < 1e-12 else {"eps": round(eps, 9)})


def _activation(kind: str, **args: Any) -> Handler:
    def handler(r: _Reader, i: int, node: Any) -> None:
        r.add(i, node, kind, dict(args))

    handler.__doc__ = f"→ ``{kind}``"
    return handler


def leaky_relu(r: _Reader, i: int, node: Any) -> None:
    r.add(i, node, "leaky_relu", {"slope": round(float(r.attr(node, "alpha", 0.01)), 9)})


def clip(r: _Reader, i: int, node: Any) -> None:
    """Clip(0, 6) → ``relu6``; Clip(0, ∞) → ``relu``."""
    lo = r.attr(node, "min")
    hi = r.attr(node, "max")
    if len(node.input) > 1 and node.input[1]:
        lo = float(r.value(node.input[1], node, "min"))
    if len(node.input) > 2 and node.input[2]:
        hi = float(r.value(node.input[2], node, "max"))
    if lo == 0 and hi == 6:
        r.add(i, node, "relu6", {})
    elif lo == 0 and (hi is None or math.isinf(hi)):
        r.add(i, node, "relu", {})
    else:
        raise r.error(node, f"Clip({lo}, {hi}) has no archcalc activation",
                      "relu6 is Clip(0, 6), relu Clip(0, inf)")


def hard_sigmoid(r: _Reader, i: int, node: Any) -> None:
    alpha, beta = float(r.attr(node, "alpha", 0.2)), float(r.attr(node, "beta", 0.5))
    if abs(alpha - 1 / 6) > 1e-6 or beta != 0.5:
        raise r.error(node, f"HardSigmoid(alpha={alpha}, beta={beta}) is not PyTorch's "
                      "hardsigmoid (alpha = 1/6, beta = 0.5)")
    r.add(i, node, "hardsigmoid", {})


def sigmoid(r: _Reader, i: int, node: Any) -> None:
    """Sigmoid → ``sigmoid``; x·Sigmoid(x) (PyTorch's SiLU) → ``silu``."""
    x = node.input[0]
    readers = r.readers(node.output[0])
    if len(readers) == 1 and readers[0].op_type == "Mul" and x in readers[0].input:
        mul = readers[0]
        r.claimed.add(r.producer[mul.output[0]])
        r.add(i, node, "silu", {}, output=mul.output[0])
        return
    r.add(i, node, "sigmoid", {})


def softmax(r: _Reader, i: int, node: Any) -> None:
    shape = r.shape(r.resolve(node.input[0]), node)
    axis = int(r.attr(node, "axis", -1 if r.model.opset_import[0].version >= 13 else 1))
    if axis % len(shape) != 1 and not (len(shape) == 2 and axis % 2 == 1):
        raise r.error(node, f"softmax over axis {axis} of {list(shape)}: archcalc's softmax "
                      "is over the channels (axis 1)")
    r.add(i, node, "softmax", {})


def add(r: _Reader, i: int, node: Any) -> None:
    """Add/Sum of two or more activations → ``add``."""
    if any(v in r.consts for v in node.input if v):
        raise r.error(node, "an Add of a constant tensor has no archcalc layer",
                      "only a bias after MatMul is read (as an fc's bias)")
    r.add(i, node, "add", {})


def mul(r: _Reader, i: int, node: Any) -> None:
    """Mul of two activations → ``multiply`` (a [C, 1, 1] gate broadcasts: SE)."""
    if any(v in r.consts for v in node.input if v):
        raise r.error(node, "a Mul by a constant tensor has no archcalc layer")
    r.add(i, node, "multiply", {})


def concat(r: _Reader, i: int, node: Any) -> None:
    shape = r.shape(node.output[0], node)
    if int(r.attr(node, "axis")) % len(shape) != 1:
        raise r.error(node, "a Concat along an axis other than the channels has no archcalc "
                      "layer")
    r.add(i, node, "concat", {})


def _own_module(r: _Reader, node: Any, readers: list[Any]) -> bool:
    """Whether a flatten is a module of its own (an nn.Flatten row of the model, kept as a row)
    rather than torch.flatten in a forward or the first member of the fc's nn.Sequential."""
    name = r.module_name(node)
    if name not in r.leaf_scopes:
        return False
    parent = name.rsplit(".", 1)[0] if "." in name else ""
    return not all((r.module_name(n).rsplit(".", 1)[0] if "." in r.module_name(n) else "")
                   == parent and parent for n in readers)


def _flatten_or_absorb(r: _Reader, i: int, node: Any, x: str) -> None:
    shape = r.shape(x, node)
    readers = r.readers(node.output[0])
    if len(shape) > 2 and all(v == 1 for v in shape[2:]) and readers and all(
            n.op_type in ("Gemm", "MatMul") for n in readers) and not _own_module(
            r, node, readers):
        r.alias[node.output[0]] = x  # the fc reads the [C, 1, 1] map directly
        r.absorbed.setdefault(x, []).append(r.module_name(node))
        return
    r.add(i, node, "flatten", {}, [x])


def flatten(r: _Reader, i: int, node: Any) -> None:
    """Flatten(axis = 1) → ``flatten``."""
    if int(r.attr(node, "axis", 1)) != 1:
        raise r.error(node, "only Flatten(axis = 1) keeps the batch axis")
    _flatten_or_absorb(r, i, node, r.resolve(node.input[0]))


def reshape(r: _Reader, i: int, node: Any) -> None:
    """Reshape → ``flatten`` (to [B, F]), ``channel_shuffle`` (ShuffleNet's reshape to
    [B, g, C/g, …], transpose 1↔2, reshape back) or ``reshape``."""
    x = r.resolve(node.input[0])
    shape = r.shape(x, node)
    out = r.shape(node.output[0], node)
    readers = r.readers(node.output[0])
    if len(out) == len(shape) + 1 and len(readers) == 1 and readers[0].op_type == "Transpose":
        t = readers[0]
        perm = list(r.attr(t, "perm"))
        back = r.readers(t.output[0])
        if perm == [0, 2, 1, *range(3, len(out))] and len(back) == 1 and \
                back[0].op_type == "Reshape" and r.shape(back[0].output[0], node) == shape:
            for n in (t, back[0]):
                r.claimed.add(r.producer[n.output[0]])
            r.add(i, node, "channel_shuffle", {"groups": int(out[1])}, [x], back[0].output[0])
            return
    if out[0] != shape[0]:
        raise r.error(node, f"a Reshape of {list(shape)} to {list(out)} moves the batch axis")
    if len(out) == 2:
        _flatten_or_absorb(r, i, node, x)
        return
    r.add(i, node, "reshape", {"shape": list(out[1:])}, [x])


def squeeze(r: _Reader, i: int, node: Any) -> None:
    """Squeeze of the size-1 spatial axes of [B, C, 1, 1] → ``flatten``."""
    x = r.resolve(node.input[0])
    out = r.shape(node.output[0], node)
    if len(out) != 2:
        raise r.error(node, f"a Squeeze to {list(out)} has no archcalc layer")
    _flatten_or_absorb(r, i, node, x)


def identity(r: _Reader, i: int, node: Any) -> None:
    """Identity and Cast on the data path: no layer (the tensor is passed on)."""
    r.alias[node.output[0]] = r.resolve(node.input[0])


def dropout(r: _Reader, i: int, node: Any) -> None:
    ratio = r.attr(node, "ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        ratio = float(r.value(node.input[1], node, "ratio"))
    r.add(i, node, "dropout", {"p": round(float(ratio), 9)})


def lrn(r: _Reader, i: int, node: Any) -> None:
    r.add(i, node, "lrn", {"size": int(r.attr(node, "size")),
                           "alpha": round(float(r.attr(node, "alpha", 1e-4)), 12),
                           "beta": round(float(r.attr(node, "beta", 0.75)), 9),
                           "k": round(float(r.attr(node, "bias", 1.0)), 9)})


def pad(r: _Reader, i: int, node: Any) -> None:
    """Pad with zeros → ``zeropad``, or into the padding of the conv that alone reads it."""
    mode = r.attr(node, "mode", b"constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    pads = r.attr(node, "pads")
    if pads is None:
        pads = [int(v) for v in r.value(node.input[1], node, "pads")]
    value = 0.0
    if len(node.input) > 2 and node.input[2]:
        value = float(r.value(node.input[2], node, "the pad value"))
    rank = len(pads) // 2
    if mode != "constant" or value != 0.0 or any(pads[j] or pads[j + rank] for j in (0, 1)) \
            or any(v < 0 for v in pads):
        raise r.error(node, f"Pad({mode}, value {value}, pads {list(pads)}) is no zero padding "
                      "of the spatial axes")
    x = r.resolve(node.input[0])
    spatial = [(int(pads[j]), int(pads[j + rank])) for j in range(2, rank)]
    readers = r.readers(node.output[0])
    if len(readers) == 1 and readers[0].op_type == "Conv" and \
            r.attr(readers[0], "auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"):
        conv_node = readers[0]
        r.extra_pads[conv_node.output[0]] = [lo for lo, _ in spatial] + [hi for _, hi in
                                                                          spatial]
        r.alias[node.output[0]] = x
        return
    r.add(i, node, "zeropad", {"p": _pad_arg(spatial)}, [x])


def split(r: _Reader, i: int, node: Any) -> None:
    """Split along the channels → one ``slice`` per output (ShuffleNet v2's channel split)."""
    x = r.resolve(node.input[0])
    shape = r.shape(x, node)
    if int(r.attr(node, "axis", 0)) % len(shape) != 1:
        raise r.error(node, "a Split along an axis other than the channels has no archcalc "
                      "layer")
    start = 0
    base = r.module_name(node)
    for k, out in enumerate(node.output):
        c = r.shape(out, node)[1]
        r.add(i, node, "slice", {"start": start, "stop": start + c}, [x], out,
              name=f"{base}{k}")
        start += c


def slice_(r: _Reader, i: int, node: Any) -> None:
    """Slice of the channels → ``slice``; of spatial axes → ``crop`` with margins."""
    x = r.resolve(node.input[0])
    shape = r.shape(x, node)
    out = r.shape(node.output[0], node)
    begin = _slice_starts(r, node, shape)
    axes = list(begin)
    steps = [int(v) for v in r.value(node.input[4], node, "steps")] \
        if len(node.input) > 4 and node.input[4] else [1] * len(axes)
    if set(steps) != {1} or 0 in axes:
        raise r.error(node, "a strided Slice or one of the batch axis has no archcalc layer")
    if axes == [1]:
        lo = max(0, min(begin[1], shape[1]))
        r.add(i, node, "slice", {"start": lo, "stop": lo + out[1]}, [x])
        return
    if 1 in axes:
        raise r.error(node, "a Slice of channels and spatial axes at once has no archcalc "
                      "layer")
    # x[:, :, a:b, c:d] is written as one Slice per axis: the chain is one crop
    chain = [node]
    while True:
        readers = r.readers(chain[-1].output[0])
        if len(readers) != 1 or readers[0].op_type != "Slice" or \
                any(v not in r.consts for v in readers[0].input[1:] if v):
            break
        chain.append(readers[0])
        r.claimed.add(r.producer[readers[0].output[0]])
    for later in chain[1:]:
        for ax, start in _slice_starts(r, later, shape).items():
            begin[ax] = start
    final = r.shape(chain[-1].output[0], node)
    if any(final[k] != shape[k] for k in (0, 1)):
        raise r.error(node, "a chain of Slices that also cuts the channels has no archcalc "
                      "layer")
    margin = []
    for ax in range(2, len(shape)):
        lo = max(0, min(begin.get(ax, 0), shape[ax]))
        margin.append((lo, shape[ax] - final[ax] - lo))
    r.add(i, node, "crop", {"margin": _pad_arg(margin)}, [x], chain[-1].output[0])


def _slice_starts(r: _Reader, node: Any, shape: tuple[int, ...]) -> dict[int, int]:
    """Axis → first element kept, of one Slice node (negative starts counted from the end)."""
    starts = [int(v) for v in r.value(node.input[1], node, "starts")]
    axes = [int(v) % len(shape) for v in r.value(node.input[3], node, "axes")] \
        if len(node.input) > 3 and node.input[3] else list(range(len(starts)))
    return {ax: (s if s >= 0 else shape[ax] + s) for ax, s in zip(axes, starts, strict=True)}


def resize(r: _Reader, i: int, node: Any) -> None:
    """Resize/Upsample → ``upsample`` (nearest as PyTorch: asymmetric + floor; linear: half
    pixel, or align_corners)."""
    x = r.resolve(node.input[0])
    shape = r.shape(x, node)
    out = r.shape(node.output[0], node)
    mode = r.attr(node, "mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    ctm = r.attr(node, "coordinate_transformation_mode", b"half_pixel")
    ctm = ctm.decode() if isinstance(ctm, bytes) else ctm
    args: dict[str, Any] = {}
    if mode == "nearest":
        nm = r.attr(node, "nearest_mode", b"round_prefer_floor")
        nm = nm.decode() if isinstance(nm, bytes) else nm
        if node.op_type == "Resize" and (ctm != "asymmetric" or nm != "floor"):
            raise r.error(node, f"nearest resize with {ctm}/{nm} is not PyTorch's nearest "
                          "(asymmetric, floor)")
    elif mode == "linear":
        if ctm not in ("half_pixel", "pytorch_half_pixel", "align_corners"):
            raise r.error(node, f"linear resize with {ctm} has no archcalc upsample")
        args["mode"] = "bilinear"
        if ctm == "align_corners":
            args["align_corners"] = True
    else:
        raise r.error(node, f"a {mode} resize has no archcalc upsample")
    ratios = [out[a] / shape[a] for a in range(2, len(shape))]
    if out[:2] != shape[:2]:
        raise r.error(node, "a resize of the batch or channel axes has no archcalc layer")
    if all(q == int(q) for q in ratios):
        r.add(i, node, "upsample", {"scale": _ints([int(q) for q in ratios]), **args}, [x])
    else:
        r.add(i, node, "upsample", {"size": _ints(out[2:]), **args}, [x])


def transpose(r: _Reader, i: int, node: Any) -> None:
    raise r.error(node, "a Transpose has no archcalc layer (outside ShuffleNet's channel "
                  "shuffle: reshape, transpose, reshape)")


#: ONNX operator → the rule that writes its archcalc layer
HANDLERS: dict[str, Handler] = {
    "Conv": conv, "ConvTranspose": conv_transpose, "Gemm": gemm, "MatMul": matmul,
    "MaxPool": maxpool, "AveragePool": avgpool, "GlobalAveragePool": global_pool,
    "GlobalMaxPool": global_pool, "ReduceMean": reduce_pool, "ReduceMax": reduce_pool,
    "BatchNormalization": batchnorm, "Relu": _activation("relu"), "Clip": clip,
    "LeakyRelu": leaky_relu, "Sigmoid": sigmoid, "Tanh": _activation("tanh"),
    "HardSigmoid": hard_sigmoid, "HardSwish": _activation("hardswish"),
    "Gelu": _activation("gelu"), "Softmax": softmax, "Add": add, "Sum": add, "Mul": mul,
    "Concat": concat, "Flatten": flatten, "Reshape": reshape, "Squeeze": squeeze,
    "Identity": identity, "Cast": identity, "CastLike": identity, "Dropout": dropout,
    "LRN": lrn, "Pad": pad,
    "Split": split, "Slice": slice_, "Resize": resize, "Upsample": resize,
    "Transpose": transpose,
}

#: the layer types a BN (``bn``) or an activation (``act``) fuses into, as the spec allows
FUSE_INTO: dict[str, tuple[str, ...]] = {
    "conv": ("bn", "act"), "dwconv": ("bn", "act"), "deconv": ("bn", "act"),
    "fc": ("bn", "act"), "add": ("act",),
}
ACTIVATION_TYPES = frozenset({"relu", "relu6", "leaky_relu", "sigmoid", "tanh", "hardsigmoid",
                              "hardswish", "silu", "swish", "gelu", "softmax"})
MERGES = frozenset({"add", "multiply", "concat"})


def _check_shapes(reader: _Reader, imported: Imported, path: str) -> None:
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
