"""Spec → PyTorch: a shaped :class:`~archcalc.graph.Graph` written as one standalone, readable
``nn.Module`` source file (``archcalc export SPEC --to pytorch``). No torch import here.

What the file looks like:

* every row of ``archcalc table`` is a submodule whose qualified name is the row's name
  (``model.get_submodule("layer1.0.conv1")``); a row with fused ``bn``/``act`` is
  ``nn.Sequential(conv, bn, act)`` — the layers they are, in place of the table's one row;
* blocks, stages and repeats (the groups of :attr:`Node.path`) are submodules too: a group that
  is a plain chain named ``0, 1, …`` is an ``nn.Sequential``; any other group is an instance of
  a generated class. Instances that differ only in integer arguments (channels, strides) share
  one class whose constructor takes those integers, named after what they set
  (``conv1_in_channels``): ResNet-50's 16 bottlenecks are two classes;
* merges (``add``, ``concat``, ``multiply``) are expressions in ``forward``; the values are
  named after the rows that produce them;
* helper modules PyTorch lacks (:data:`archcalc.torch_code.HELPERS`) are written into the file
  when used.

A group whose layers are not contiguous in the spec's order cannot be one call in ``forward``;
its layers are written into the enclosing module instead (the names keep the group's prefix).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from .errors import ArchcalcError, BridgeError
from .graph import INPUT, Graph, Node
from .torch_code import (
    HELPERS,
    Default,
    Param,
    TorchCall,
    TorchMerge,
    helpers_of,
    literal,
    render,
    sequential,
)

RESERVED = frozenset({"self", "torch", "nn", "F", "x", "super", "print", "tuple", "int"})
#: nn.Module's own attributes (torch 2.x): a submodule of that name would shadow or be refused
MODULE_ATTRS = frozenset({
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init",
    "children", "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr",
    "float", "forward", "get_buffer", "get_extra_state", "get_parameter", "get_submodule",
    "half", "ipu", "load_state_dict", "modules", "mtia", "named_buffers", "named_children",
    "named_modules", "named_parameters", "parameters", "register_backward_hook",
    "register_buffer", "register_forward_hook", "register_forward_pre_hook",
    "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook",
    "register_state_dict_pre_hook", "requires_grad_", "set_extra_state", "set_submodule",
    "share_memory", "state_dict", "to", "to_empty", "train", "training", "type", "xpu",
    "zero_grad"
})


class Export(NamedTuple):
    """The generated source and how the module's names map to the graph's rows."""

    code: str
    class_name: str
    #: row name → qualified module name (None: a merge written in forward, no module)
    modules: dict[str, str | None]
    #: qualified module name of each group module → the group's name
    groups: dict[str, str]


@dataclass
class _Group:
    name: str
    attr: str = ""
    members: list[Node | _Group] = field(default_factory=list)
    nodes: set[str] = field(default_factory=set)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    height: int = 0
    #: how the parent constructs it (nn.Sequential(...) or GeneratedClass(...))
    instance: TorchCall | None = None
    attrs: dict[str, str] = field(default_factory=dict)  # member key → attribute name
    #: a block call whose every layer shares the weights of an earlier sibling block's
    #: (``share:``): no module of its own, the sibling's module is called again
    alias: _Group | None = None


def export_pytorch(graph: Graph, *, source: str = "", trace: bool = False) -> Export:
    """Write ``graph`` as a PyTorch module. ``trace`` (used by ``verify --against torch``) wraps
    each bare merge in ``_seen(self, name, value)`` so its output can be checked; the
    expressions are the same."""
    made: dict[tuple[Any, ...], tuple[TorchCall | None, TorchMerge | None]] = {}
    rows = {n.name: _row(n, made) for n in graph.nodes}
    graph = _indices(graph, rows)
    root = _tree(graph)
    consumers = _consumers(graph)
    _interfaces(root, consumers, {o.name for o in graph.outputs})
    # the network's inputs in their declared order, its outputs as declared (a tuple if several)
    root.inputs = list(graph.input_names)
    root.outputs = [o.name for o in graph.outputs]
    _shares(root, rows)
    _attrs(root)
    writer = _Writer(graph, rows, trace)
    writer.classes_bottom_up(root)
    code = writer.file(root, source)
    modules: dict[str, str | None] = {}
    groups: dict[str, str] = {}
    _names(root, "", rows, modules, groups)
    for node in graph.nodes:
        if node.shares:
            modules[node.name] = modules[node.shares]  # the owner's module, called again
    _alias_names(root, modules)
    return Export(code, writer.root_class, modules, groups)


# ------------------------------------------------------------------------------- the rows --

class _Row(NamedTuple):
    node: Node
    module: TorchCall | None  # the row's submodule (op with fused bn/act), None for a bare merge
    merge: TorchMerge | None


def _row(node: Node, made: dict[tuple[Any, ...], tuple[TorchCall | None, TorchMerge | None]]
         ) -> _Row:
    """The row's module or merge; equal layers on equal shapes (a spec's repeats) are made
    once per export."""
    key = (node.op, node.post, node.in_shapes, node.out_shape)
    found = made.get(key)
    if found is None:
        found = made[key] = _made(node)
    return _Row(node, *found)


def _made(node: Node) -> tuple[TorchCall | None, TorchMerge | None]:
    where = f"layer {node.name!r} ({node.type_name})"
    try:
        op = node.op.to_torch(node.in_shapes, node.out_shape)
        post = []
        for layer in node.post:
            found = layer.to_torch((node.out_shape,), node.out_shape)
            if not isinstance(found, TorchCall):  # pragma: no cover - posts are modules
                raise BridgeError(f"fused {layer.type_name} is not a module")
            post.append(found)
    except ArchcalcError as exc:
        raise BridgeError(exc.what, loc=node.loc, layer=where,
                          hint=exc.hint or "archcalc export refuses rather than approximate "
                          "a layer; change the layer or leave it out") from None
    if isinstance(op, TorchMerge):
        return (sequential(*post) if post else None, op)
    chain = sequential(op, *post)
    if len(node.in_shapes) > 1 and post:  # nn.Sequential passes one input: the first gets all
        chain = chain._replace(fn="Chain", helper="Chain")
    return (chain, None)


#: the value a max pool's indices travel as, from the pool to its max_unpool
INDICES = "#indices"


def _indices(graph: Graph, rows: dict[str, _Row]) -> Graph:
    """A max_unpool reads its pool's indices (``indices: pool5``): that pool is written with
    ``return_indices=True`` (its call gives the pair ``pool5, pool5_indices``) and the unpool
    reads the value ``pool5#indices``, which groups pass on like any other."""
    pools = {n.inputs[1] for n in graph.nodes if n.op.kind == "max_unpool"}
    if not pools:
        return graph
    nodes = []
    for node in graph.nodes:
        if node.name in pools:
            module = rows[node.name].module
            assert module is not None and module.fn.startswith("nn.MaxPool")
            rows[node.name] = rows[node.name]._replace(module=module._replace(
                args=(*module.args, ("return_indices", True))))
        if node.op.kind == "max_unpool":
            node = node._replace(inputs=(node.inputs[0], node.inputs[1] + INDICES))
        nodes.append(node)
    return replace(graph, nodes=tuple(nodes))


def _values(node: Node, indexed: bool) -> tuple[str, ...]:
    return (node.name, node.name + INDICES) if indexed else (node.name,)


# ------------------------------------------------------------------------------ the groups --

def _tree(graph: Graph) -> _Group:
    """Groups from the nodes' paths; a group whose nodes are not contiguous is dissolved."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    count: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for g in node.path:
            first.setdefault(g, i)
            last[g] = i
            count[g] = count.get(g, 0) + 1
    kept = {g for g in first if last[g] - first[g] + 1 == count[g]}
    root = _Group("")
    made: dict[str, _Group] = {}
    for node in graph.nodes:
        parent = root
        for g in node.path:
            if g not in kept:
                continue
            child = made.get(g)
            if child is None:
                child = made[g] = _Group(g)
                parent.members.append(child)
            parent = child
        parent.members.append(node)
    _collect(root)
    return root


def _collect(group: _Group) -> None:
    for m in group.members:
        if isinstance(m, _Group):
            _collect(m)
            group.nodes |= m.nodes
            group.height = max(group.height, m.height + 1)
        else:
            group.nodes.add(m.name)


def _consumers(graph: Graph) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for node in graph.nodes:
        for v in node.inputs:
            found.setdefault(v, []).append(node.name)
    return found


def _walk(group: _Group) -> Iterator[Node]:
    for m in group.members:
        if isinstance(m, _Group):
            yield from _walk(m)
        else:
            yield m


def _interfaces(group: _Group, consumers: dict[str, list[str]], outputs: set[str]) -> None:
    """A group's inputs (values from outside, in order of first use) and outputs (its values
    used outside it, or the network's output)."""
    for node in _walk(group):
        for v in node.inputs:
            if v.split("#")[0] not in group.nodes and v not in group.inputs:
                group.inputs.append(v)
        for v in _values(node, node.name + INDICES in consumers):
            if v in outputs or any(c not in group.nodes for c in consumers.get(v, [])):
                group.outputs.append(v)
    for m in group.members:
        if isinstance(m, _Group):
            _interfaces(m, consumers, outputs)


def _shares(group: _Group, rows: dict[str, _Row]) -> None:
    """``share:``: a layer reuses the module of the layer it names when both are members of
    one group (the module is called twice); a block call whose every layer shares the layer of
    the same relative name in an earlier sibling block call (a Siamese tower) calls that
    block's module. Any other sharing is refused, naming the layer."""
    siblings = {m.name: m for m in group.members if isinstance(m, _Group)}
    own = {m.name for m in group.members if isinstance(m, Node)}
    for m in group.members:
        if isinstance(m, Node):
            if m.shares and m.shares not in own:
                raise BridgeError(
                    f"it shares the weights of {m.shares!r}, which is in another block: the "
                    "exporter reuses a module within one block, or a whole block call",
                    loc=m.loc, layer=f"layer {m.name!r} ({m.type_name})",
                    hint="share a whole block call (`share: OTHER_CALL`)")
            continue
        owner = _shared_block(m, siblings, rows)
        if owner is not None and len(m.inputs) == len(owner.inputs) and len(
                m.outputs) == len(owner.outputs):
            m.alias = owner
        else:
            _shares(m, rows)


def _shared_block(group: _Group, siblings: dict[str, _Group], rows: dict[str, _Row]
                  ) -> _Group | None:
    """The earlier sibling block call this one repeats with shared weights: each layer with
    weights shares the layer of the same relative name there, each one without weights is
    the same module (an ``nn.Flatten()`` on any size) or the same merge (a Siamese tower, an
    RPN head on five FPN levels)."""
    nodes = list(_walk(group))
    sharing = next((n for n in nodes if n.shares), None)
    if sharing is None:
        return None
    rel = _relative(sharing.name, group.name)
    if not sharing.shares.endswith("." + rel):
        return None
    owner = siblings.get(sharing.shares[: -len(rel) - 1])
    if owner is None or owner is group or len(owner.nodes) != len(nodes):
        return None
    theirs = {_relative(n.name, owner.name): n for n in _walk(owner)}
    for n in nodes:
        twin = theirs.get(_relative(n.name, group.name))
        if twin is None or (n.shares != twin.name if n.shares else (
                bool(n.tensors()) or rows[n.name].module != rows[twin.name].module
                or (rows[n.name].merge is not None and (n.op != twin.op or tuple(
                    map(len, n.in_shapes)) != tuple(map(len, twin.in_shapes)))))):
            return None
    return owner


def _key(m: Node | _Group) -> str:
    return m.name


def _relative(name: str, parent: str) -> str:
    return name[len(parent) + 1:] if parent and name.startswith(parent + ".") else name


def _attrs(group: _Group) -> None:
    """Attribute names of the members: the name relative to the group (``conv1``, ``0``); a
    dot left in it (a group dissolved above) becomes ``_``, as module names cannot hold dots."""
    taken: set[str] = set()
    for m in group.members:
        attr = _relative(_key(m), group.name).replace(".", "_") or "layer"
        if attr.startswith("_"):
            attr = "m" + attr  # nn.Module keeps its own state in _-names
        if attr in MODULE_ATTRS:
            attr += "_"  # `forward`, `training`, … are nn.Module's
        base, i = attr, 2
        while attr in taken:
            attr, i = f"{base}_{i}", i + 1
        taken.add(attr)
        group.attrs[_key(m)] = attr
        if isinstance(m, _Group):
            m.attr = attr
            _attrs(m)


def _names(group: _Group, prefix: str, rows: dict[str, _Row], modules: dict[str, str | None],
           groups: dict[str, str]) -> None:
    groups[prefix] = group.name
    for m in group.members:
        fqn = f"{prefix}.{group.attrs[_key(m)]}" if prefix else group.attrs[_key(m)]
        if isinstance(m, _Group):
            if m.alias is None:
                _names(m, fqn, rows, modules, groups)
        else:
            modules[m.name] = fqn if rows[m.name].module is not None else None


def _alias_names(group: _Group, modules: dict[str, str | None]) -> None:
    """A block call that calls its sibling's module: each row is that row's module."""
    for m in group.members:
        if isinstance(m, _Group):
            if m.alias is not None:
                for node in _walk(m):
                    twin = f"{m.alias.name}.{_relative(node.name, m.name)}"
                    modules[node.name] = modules[twin]
            else:
                _alias_names(m, modules)


# ------------------------------------------------------------------------------ the writer --

def _identifier(text: str) -> str:
    name = re.sub(r"\W", "_", text)
    if not name or name[0].isdigit():
        name = "v" + name if name else "v"
    if keyword.iskeyword(name) or name in RESERVED:
        name += "_"
    return name


def _camel(text: str) -> str:
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", text) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts)
    if not name or name[0].isdigit():
        name = "Net" + name
    return name


class _Namer:
    """Unique local variable names in one ``forward``."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def __call__(self, text: str) -> str:
        base = _identifier(text)
        name, i = base, 2
        while name in self.used:
            name, i = f"{base}_{i}", i + 1
        self.used.add(name)
        return name


def _access(attr: str) -> str:
    return f"self.{attr}" if attr.isidentifier() and not keyword.iskeyword(attr) \
        else f"getattr(self, {attr!r})"


def _slots(c: TorchCall, where: str, out: list[tuple[str, Any]]) -> TorchCall:
    """The skeleton of a call: every integer argument becomes a slot (recorded in ``out`` as
    (name, value)); nested calls the same way."""
    args: list[tuple[str, Any]] = []
    for name, v in c.args:
        if isinstance(v, TorchCall):
            args.append((name, _slots(v, where, out)))
        elif isinstance(v, Default) or (isinstance(v, int) and not isinstance(v, bool)):
            out.append((f"{where}_{name}", v))
            args.append((name, Param(f"§{len(out) - 1}")))
        else:
            args.append((name, v))
    return c._replace(args=tuple(args))


def _fill(c: TorchCall, values: Sequence[Any]) -> TorchCall:
    args: list[tuple[str, Any]] = []
    for name, v in c.args:
        if isinstance(v, TorchCall):
            args.append((name, _fill(v, values)))
        elif isinstance(v, Param) and v.name.startswith("§"):
            args.append((name, values[int(v.name[1:])]))
        else:
            args.append((name, v))
    return c._replace(args=tuple(args))


def _rank(slot: str) -> int:
    """How well a slot's name says what a shared parameter is: channel counts first, then
    features, strides, anything else."""
    for i, tails in enumerate((("in_channels", "out_channels"), ("num_features", "features"),
                               ("stride",))):
        if slot.endswith(tails):
            return i
    return 9


def _skeleton_text(c: TorchCall) -> str:
    return repr(c)


@dataclass
class _Class:
    name: str
    forward: list[str]
    init: list[tuple[str, TorchCall]]  # skeleton calls with § slots
    slot_names: list[str]
    instances: list[tuple[_Group, list[Any]]] = field(default_factory=list)
    params: list[str] = field(default_factory=list)


class _Writer:
    def __init__(self, graph: Graph, rows: dict[str, _Row], trace: bool) -> None:
        self.graph = graph
        self.rows = rows
        self.trace = trace
        self.classes: list[_Class] = []
        self.names: set[str] = set(HELPERS)
        self.helpers: set[str] = set()
        self.fns: set[str] = set()  # the constructors called (torchvision's need an import)
        self.root_class = self._class_name(_camel(graph.name or "Net"))
        self.root_init: list[tuple[str, TorchCall]] = []
        self.ordered_dict = False
        self.root_forward: list[str] = []

    def _class_name(self, base: str) -> str:
        name, i = base, 2
        while name in self.names:
            name, i = f"{base}{i}", i + 1
        self.names.add(name)
        return name

    # -- forward text and constructor calls of one group
    def _member_calls(self, group: _Group) -> list[tuple[str, TorchCall]]:
        calls = []
        for m in group.members:
            attr = group.attrs[_key(m)]
            if isinstance(m, _Group):
                if m.alias is not None:
                    continue  # calls its sibling's module
                assert m.instance is not None
                calls.append((attr, m.instance))
            elif not m.shares:
                module = self.rows[m.name].module
                if module is not None:
                    self.helpers |= helpers_of(module)
                    self.fns |= _fns(module)
                    calls.append((attr, module))
        return calls

    def _forward(self, group: _Group) -> list[str]:
        namer = _Namer()
        env: dict[str, str] = {}
        params = []
        for v in group.inputs:
            name = "x" if len(group.inputs) == 1 or v == INPUT else namer(v.rsplit(".", 1)[-1])
            namer.used.add(name)
            env[v] = name
            params.append(name)
        lines = []
        for m in group.members:
            attr = group.attrs[_key(m)]
            if isinstance(m, _Group):
                args = ", ".join(env[v] for v in m.inputs)
                outs = [namer(_relative(v, group.name)) if len(m.outputs) > 1 else namer(attr)
                        for v in m.outputs]
                for v, name in zip(m.outputs, outs, strict=True):
                    env[v] = name
                called = group.attrs[_key(m.alias)] if m.alias is not None else attr
                lines.append(f"{', '.join(outs)} = {_access(called)}({args})")
                continue
            row = self.rows[m.name]
            called = group.attrs[m.shares] if m.shares else attr  # `share:`: the owner's
            args_list = [env[v] for v in m.inputs]
            var = namer(attr)
            if row.merge is not None:
                expr = row.merge.expr(args_list)
                if row.module is not None:
                    expr = f"{_access(called)}({expr})"
                elif self.trace:
                    expr = f"_seen(self, {_relative(m.name, group.name)!r}, {expr})"
            else:
                expr = f"{_access(called)}({', '.join(args_list)})"
            if self._indexed(row):
                env[m.name + INDICES] = namer(attr + "_indices")
                var = f"{var}, {env[m.name + INDICES]}"
            lines.append(f"{var} = {expr}")
            env[m.name] = var.split(", ")[0]
        lines.append("return " + ", ".join(env[v] for v in group.outputs))
        sig = ", ".join(f"{p}: torch.Tensor" for p in params)
        ret = "torch.Tensor" if len(group.outputs) == 1 else "tuple[torch.Tensor, ...]"
        head = [f"def forward(self, {sig}) -> {ret}:"]
        if len(head[0]) > 96:
            head = ["def forward(", "    self,", *(f"    {p}: torch.Tensor," for p in params),
                    f") -> {ret}:"]
        return [*head, *("    " + line for line in lines)]

    def _is_chain(self, group: _Group, named: bool = False) -> bool:
        """A group that nn.Sequential can hold: members named 0, 1, … (or any names, ``named``)
        each a one-input module reading the previous member, the last one the group's only
        output."""
        if len(group.inputs) != 1 or len(group.outputs) != 1:
            return False
        prev = group.inputs[0]
        for i, m in enumerate(group.members):
            if group.attrs[_key(m)] != str(i) and not named:
                return False
            if m.alias is not None if isinstance(m, _Group) else bool(m.shares):
                return False
            if isinstance(m, _Group):
                if m.inputs != [prev] or len(m.outputs) != 1:
                    return False
                out = m.outputs[0]
            else:
                if self.rows[m.name].module is None or self.rows[m.name].merge is not None \
                        or list(m.inputs) != [prev] or self._indexed(self.rows[m.name]):
                    return False
                out = m.name
            prev = out
        return prev == group.outputs[0] and self._inner_only(group)

    def _inner_only(self, group: _Group) -> bool:
        """Each member's output is read only inside the next member."""
        readers: dict[str, set[str]] = {}
        for node in _walk(group):
            for v in node.inputs:
                readers.setdefault(v, set()).add(node.name)
        for m, nxt in zip(group.members, group.members[1:], strict=False):
            out = m.outputs[0] if isinstance(m, _Group) else m.name
            inside = nxt.nodes if isinstance(nxt, _Group) else {nxt.name}
            if not readers.get(out, set()) <= inside:
                return False
        return True

    # -- classes, bottom-up by height
    def classes_bottom_up(self, root: _Group) -> None:
        levels: dict[int, list[_Group]] = {}

        def visit(g: _Group) -> None:
            for m in g.members:
                if isinstance(m, _Group) and m.alias is None:
                    visit(m)
                    levels.setdefault(m.height, []).append(m)

        visit(root)
        for height in sorted(levels):
            found: dict[tuple[Any, ...], _Class] = {}
            for group in levels[height]:
                calls = self._member_calls(group)
                if self._is_chain(group):
                    group.instance = TorchCall("nn.Sequential", tuple(
                        (a, c) for a, c in calls), len(calls))
                    continue
                if len(calls) == 1 and calls[0][0].isidentifier() \
                        and self._is_chain(group, named=True):
                    # one named member (DenseNet's denseblock1.denselayer): torchvision's
                    # nn.Sequential(OrderedDict(...)), no class of its own
                    self.ordered_dict = True
                    group.instance = TorchCall("nn.Sequential", (
                        ("", TorchCall("OrderedDict", (calls[0],))),), 1)
                    continue
                slots: list[tuple[str, Any]] = []
                skeleton = [(a, _slots(c, a, slots)) for a, c in calls]
                forward = self._forward(group)
                key = (tuple(forward), tuple((a, _skeleton_text(c)) for a, c in skeleton))
                cls = found.get(key)
                if cls is None:
                    cls = found[key] = _Class(self._class_name(self._base_name(group)),
                                              forward, skeleton, [n for n, _ in slots])
                    self.classes.append(cls)
                cls.instances.append((group, [v for _, v in slots]))
            for cls in found.values():
                self._finish(cls)
        self.root_init = self._member_calls(root)
        self.root_forward = self._forward(root)

    def _base_name(self, group: _Group) -> str:
        """The block's name when the group is a block call (``Bottleneck``), else its own."""
        for m in group.members:
            if isinstance(m, Node):
                tail = m.context.rsplit(", ", 1)[-1]
                found = re.fullmatch(r"block '([^']+)'", tail)
                if found:
                    return _camel(found.group(1))
                break
        rel = _relative(group.name, group.name.rsplit(".", 1)[0] if "." in group.name else "")
        if rel.isdigit() and "." in group.name:
            parent = group.name.rsplit(".", 1)[0]
            return _camel(parent.rsplit(".", 1)[-1]) + "Block"
        return _camel(rel)

    def _finish(self, cls: _Class) -> None:
        """Slots equal in every instance stay literals; the others become constructor
        parameters, one per distinct column of values (conv1's out_channels and bn's
        num_features are one parameter)."""
        raw = list(zip(*(values for _, values in cls.instances), strict=True)) \
            if cls.slot_names else []
        columns = [tuple(v.value if isinstance(v, Default) else v for v in col) for col in raw]
        # a column's parameter is named after the clearest of its slots: channels first
        best: dict[tuple[int, ...], str] = {}
        for slot, column in zip(cls.slot_names, columns, strict=True):
            if len(set(column)) > 1 and (column not in best or _rank(slot) < _rank(
                    best[column])):
                best[column] = slot
        fill: list[Any] = []
        by_column: dict[tuple[int, ...], str] = {}
        for i, column in enumerate(columns):
            if len(set(column)) == 1:
                fill.append(raw[i][0])
                continue
            param = by_column.get(column)
            if param is None:
                param = _identifier(best[column])
                while param in cls.params:
                    param += "_"
                by_column[column] = param
                cls.params.append(param)
            fill.append(Param(param))
        cls.init = [(a, _fill(c, fill)) for a, c in cls.init]
        for group, values in cls.instances:
            args: list[tuple[str, Any]] = []
            for i, v in enumerate(values):
                p = fill[i]
                if isinstance(p, Param) and p.name not in (a for a, _ in args):
                    args.append((p.name, v.value if isinstance(v, Default) else v))
            group.instance = TorchCall(cls.name, tuple(args), 0)

    # -- the file
    def file(self, root: _Group, source: str) -> str:
        g = self.graph
        head = [
            '"""' + _wrap_doc(f"{_doc(g.name)}: written by `archcalc export --to pytorch`"
                              + (f" from {_doc(source)}" if source else "") + ".", 4),
            "",
            (f"Input {list(g.input_shape)} (channels first, no batch axis). Every row of "
             "`archcalc table` is" if len(g.inputs) == 1 else
             _wrap_doc("Inputs " + _doc(", ".join(f"{n} {list(v)}" for n, v in g.inputs))
                       + " (channels first, no batch axis; forward takes them in this order)."
                       " Every row of `archcalc table` is", 4)),
            'the submodule of the same name (`model.get_submodule("…")`); fused bn/act are '
            "nn.Sequential",
            "members after the layer. Needs only torch"
            + (" and torchvision" if self._torchvision() else "") + '."""',
            "",
            "from __future__ import annotations",
            "",
        ]
        if self.ordered_dict:
            head += ["from collections import OrderedDict", ""]
        head += ["import torch"]
        if "math." in "".join(HELPERS[h] for h in self.helpers):
            head = [*head[:-1], "import math", "", head[-1]]
        if any("F." in HELPERS[h] for h in self.helpers):
            head.append("import torch.nn.functional as F")
        if self._torchvision():
            head.append("import torchvision")
        head += ["from torch import nn", ""]
        if len(g.inputs) == 1:
            head.append(f"INPUT_SHAPE = {literal(tuple(g.input_shape))}")
        else:
            head.append("INPUT_SHAPES = {" + ", ".join(
                f"{n!r}: {literal(tuple(v))}" for n, v in g.inputs) + "}")
        if self.trace:
            head += ["", "", "def _seen(module: nn.Module, name: str, value: torch.Tensor)"
                     " -> torch.Tensor:", "    return value"]
        parts = ["\n".join(head)]
        for h in sorted(self.helpers):
            parts.append(HELPERS[h].strip("\n"))
        for cls in self.classes:
            parts.append(self._class_text(cls.name, cls.init, cls.forward, cls.params,
                                          [grp.name for grp, _ in cls.instances]))
        parts.append(self._class_text(self.root_class, self.root_init, self.root_forward, [],
                                      []))
        shape = ", ".join(str(v) for v in g.input_shape)
        several = len(g.outputs) > 1
        parts.append("\n".join([
            'if __name__ == "__main__":',
            f"    model = {self.root_class}().train(False)  # inference mode",
            f"    y = model(torch.zeros(1, {shape}))" if len(g.inputs) == 1 else
            "    y = model(*(torch.zeros(1, *s) for s in INPUT_SHAPES.values()))",
            "    params = sum(p.numel() for p in model.parameters())",
            '    print(f"{type(model).__name__}: output {list(y.shape)}, {params:,} params")'
            if not several else
            '    shapes = [list(v.shape) for v in y]\n'
            '    print(f"{type(model).__name__}: outputs {shapes}, {params:,} params")',
        ]))
        return "\n\n\n".join(parts) + "\n"

    @staticmethod
    def _indexed(row: _Row) -> bool:
        return row.module is not None and ("return_indices", True) in row.module.args

    def _torchvision(self) -> bool:
        return any(h.startswith("torchvision.") for h in self.fns) or any(
            "torchvision." in HELPERS[h] for h in self.helpers)

    def _class_text(self, name: str, init: list[tuple[str, TorchCall]], forward: list[str],
                    params: list[str], used_by: list[str]) -> str:
        lines = [f"class {name}(nn.Module):"]
        if used_by:
            shown = ", ".join(used_by[:6]) + (f", … ({len(used_by)} in all)"
                                              if len(used_by) > 6 else "")
            lines.append(f'    """{_wrap_doc(_doc("Used by " + shown + "."), 8)}"""')
            lines.append("")
        sig = "".join(f", {p}: int" for p in params)
        one = f"    def __init__(self{sig}) -> None:"
        if len(one) > 100:
            one = "    def __init__(\n        self,\n" + "".join(
                f"        {p}: int,\n" for p in params) + "    ) -> None:"
        lines += [one, "        super().__init__()"]
        for attr, c in init:
            target = f"self.{attr}" if attr.isidentifier() and not keyword.iskeyword(attr) \
                else None
            if target:
                lines.append(f"        {target} = {render(c, 8, 8 + len(target) + 3)}")
            else:
                lines.append(f"        self.add_module({attr!r}, {render(c, 8, 28 + len(attr))})")
        lines.append("")
        lines += _wrap_long(["    " + line for line in forward])
        return "\n".join(lines)


def _fns(c: TorchCall) -> set[str]:
    found = {c.fn}
    for _, v in c.args:
        if isinstance(v, TorchCall):
            found |= _fns(v)
    return found


def _doc(text: str) -> str:
    """Text from the spec made safe inside a triple-quoted docstring: no quotes, backslashes or
    control characters (a name cannot end the docstring and add code)."""
    return "".join(ch if ch.isprintable() and ch not in '"\\' else "'" if ch == '"' else " "
                   for ch in text)


def _wrap_doc(text: str, indent: int) -> str:
    words, lines, cur = text.split(" "), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) + indent > 96:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    lines.append(cur)
    return ("\n" + " " * (indent - 4)).join(lines)


def _wrap_long(lines: list[str]) -> list[str]:
    """Forward lines past 100 columns: a call's arguments one per line."""
    out = []
    for line in lines:
        if len(line) <= 100 or "(" not in line or line.lstrip().startswith("def "):
            out.append(line)
            continue
        indent = len(line) - len(line.lstrip())
        head, rest = line.split("(", 1)
        inner = rest.rsplit(")", 1)[0]
        args = _split_args(inner)
        pad = " " * (indent + 4)
        out.append(head + "(")
        for a in args:
            if len(pad) + len(a) + 1 > 100 and a[:1] == "[" and a[-1:] == "]":
                out.append(f"{pad}[")  # a long list (torch.cat's): one element per line
                out += [f"{pad}    {v}," for v in _split_args(a[1:-1])]
                out.append(f"{pad}],")
            else:
                out.append(f"{pad}{a},")
        out.append(" " * indent + ")" + rest.rsplit(")", 1)[1])
    return out


def _split_args(text: str) -> list[str]:
    depth, cur, found = 0, "", []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            found.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        found.append(cur.strip())
    return found
