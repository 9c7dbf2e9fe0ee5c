"""``archcalc verify SPEC --against torch``: build the exported module in PyTorch and hold the
engine to it, row by row — output shape, parameters, buffers and forward MACs.

Method (each figure is PyTorch's own, not archcalc's):

* the module is the text :func:`archcalc.torch_export.export_pytorch` writes, executed as it
  is (with ``trace``: each bare merge wrapped in ``_seen``, which records its output);
* output shapes come from forward hooks on each row's submodule (and from ``_seen`` for merges);
* parameters and buffers are ``numel()`` sums over each row's submodule; BatchNorm's
  ``num_batches_tracked`` is a training step counter, not a statistic, and is not counted;
* MACs are ``torch.utils.flop_counter.FlopCounterMode``'s forward FLOPs of each row's submodule
  divided by 2 (it counts a multiply-accumulate of conv, linear and matmul as 2 FLOPs and
  element-wise work as nothing, as the engine's MACs do). Its rule for a grouped convolution's
  *weight gradient* ignores the groups; only the forward is run here, so it does not enter. Where
  a count matches the ungrouped value instead of the grouped one, the row says so rather than
  failing (a counter bug, not a disagreement).

torch is imported only here (``pip install 'archcalc[torch]'``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .engine import analyze_graph
from .errors import BridgeError
from .graph import Graph
from .torch_export import export_pytorch


@dataclass(frozen=True)
class TorchRow:
    name: str
    type: str
    module: str | None
    shape: tuple[int, ...]
    torch_shape: tuple[int, ...] | None
    params: int
    torch_params: int
    buffers: int
    torch_buffers: int
    macs: int
    torch_macs: int | None
    note: str = ""
    #: the exception PyTorch raised at this row, when its forward stopped here
    error: str = ""

    @property
    def problems(self) -> list[str]:
        found = []
        if self.torch_shape is None:
            found.append(f"PyTorch failed in this row: {self.error}" if self.error else
                         "PyTorch never computed this row")
        elif self.torch_shape != self.shape:
            found.append(f"output shape: engine {list(self.shape)}, torch "
                         f"{list(self.torch_shape)}")
        if self.torch_params != self.params:
            found.append(f"params: engine {self.params:,}, torch {self.torch_params:,}")
        if self.torch_buffers != self.buffers:
            found.append(f"buffers: engine {self.buffers:,}, torch {self.torch_buffers:,}")
        if self.torch_macs is not None and self.torch_macs != self.macs and not self.note:
            found.append(f"MACs: engine {self.macs:,}, torch {self.torch_macs:,}")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "module": self.module,
                "output_shape": list(self.shape),
                "torch_output_shape": None if self.torch_shape is None else list(
                    self.torch_shape),
                "params": self.params, "torch_params": self.torch_params,
                "buffers": self.buffers, "torch_buffers": self.torch_buffers,
                "macs": self.macs, "torch_macs": self.torch_macs, "note": self.note,
                "verdict": "ok" if self.ok else "; ".join(self.problems)}


@dataclass(frozen=True)
class TorchCheck:
    name: str
    input_shape: tuple[int, ...]
    batch: int
    torch_version: str
    rows: tuple[TorchRow, ...]
    params: int
    torch_params: int
    buffers: int
    torch_buffers: int
    macs: int
    torch_macs: int
    seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def failures(self) -> list[TorchRow]:
        return [r for r in self.rows if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failures and self.params == self.torch_params and \
            self.buffers == self.torch_buffers and (self.macs == self.torch_macs or all(
                r.note for r in self.rows if r.torch_macs != r.macs))

    def to_dict(self) -> dict[str, Any]:
        return {"archcalc_verify_torch": 1, "name": self.name,
                "input_shape": list(self.input_shape), "batch": self.batch,
                "torch_version": self.torch_version,
                "method": "PyTorch module from `archcalc export`; shapes by forward hooks, "
                          "params/buffers by numel (num_batches_tracked excluded), MACs = "
                          "FlopCounterMode forward FLOPs / 2",
                "layers": [r.to_dict() for r in self.rows],
                "totals": {"params": self.params, "torch_params": self.torch_params,
                           "buffers": self.buffers, "torch_buffers": self.torch_buffers,
                           "macs": self.macs, "torch_macs": self.torch_macs},
                "notes": list(self.notes), "seconds": self.seconds, "ok": self.ok}


#: layer kinds whose PyTorch module runs an operator FlopCounterMode has no rule for
UNCOUNTED = {"deform_conv": "torchvision::deform_conv2d"}


def import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise BridgeError("PyTorch is not installed",
                          hint="pip install 'archcalc[torch]' (the CPU build is enough)") \
            from None
    return torch


def _ungrouped(node: Any) -> int | None:
    """The MACs a grouped convolution would have without its groups (what a counter that
    ignores ``groups`` reports), or None for any other layer."""
    op = node.op
    groups = getattr(op, "groups", 1)
    if op.kind == "dwconv":
        groups = node.in_shapes[0][0]
    if op.kind not in ("conv", "dwconv", "pwconv", "deconv") or groups == 1:
        return None
    macs = int(op.work(node.in_shapes, node.out_shape).macs)
    return macs * groups


def _load_module(code: str) -> dict[str, Any]:
    """Import the generated file as a module, as `python net.py` would: the text is archcalc's
    own (spec names and ids reach it only as identifiers, repr() strings and a sanitised
    docstring), written to a private temporary directory and removed after import."""
    import importlib.util
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="archcalc-export-") as tmp:
        path = os.path.join(tmp, "archcalc_export.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(code)
        spec = importlib.util.spec_from_file_location("archcalc_export", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return vars(module)


def check_against_torch(graph: Graph, *, batch: int = 1, seed: int = 0) -> TorchCheck:
    """Run the exported module of ``graph`` in PyTorch (CPU, eval mode, no gradients) and
    compare every row with the engine."""
    torch = import_torch()
    from torch.utils.flop_counter import FlopCounterMode

    started = time.perf_counter()
    export = export_pytorch(graph, trace=True)
    namespace = _load_module(export.code)
    seen: dict[str, tuple[int, ...]] = {}
    group_of: dict[int, str] = {}

    def record(module: Any, name: str, value: Any) -> Any:
        prefix = group_of[id(module)]
        seen[f"{prefix}.{name}" if prefix else name] = tuple(value.shape[1:])
        return value

    namespace["_seen"] = record
    torch.manual_seed(seed)
    try:
        model = namespace[export.class_name]().train(False)  # inference mode
    except Exception as exc:  # a module PyTorch refuses to build: the exporter's bug
        raise BridgeError(f"PyTorch could not build the exported module: {type(exc).__name__}:"
                          f" {exc}".splitlines()[0][:300],
                          hint="archcalc and PyTorch disagree: a bug in the exporter") from None
    by_fqn = dict(model.named_modules())
    for name, group in export.groups.items():
        group_of[id(by_fqn[name])] = group
    # the rows of each module, in graph order: a module several rows share (`share:`) is
    # called once per row, in that order; its calls are told apart by order
    rows_of: dict[str, list[str]] = {}
    for row, where in export.modules.items():
        if where is not None:
            rows_of.setdefault(where, []).append(row)
    shapes: dict[str, tuple[int, ...]] = {}
    call_macs: dict[str, int] = {}  # a shared module's rows: FlopCounterMode's count per call
    hooks = []
    counting: list[Any] = []
    for where, names in rows_of.items():
        calls = [0]
        started_at: list[int] = []

        def hook(module: Any, args: Any, output: Any, names: list[str] = names,
                 calls: list[int] = calls, started_at: list[int] = started_at) -> None:
            row = names[min(calls[0], len(names) - 1)]
            calls[0] += 1
            if isinstance(output, tuple):  # a max pool with its indices
                output = output[0]
            shapes[row] = tuple(output.shape[1:])
            if started_at:
                call_macs[row] = int(counting[0].get_total_flops()) - started_at.pop()

        def pre(module: Any, args: Any, started_at: list[int] = started_at) -> None:
            if counting:
                started_at.append(int(counting[0].get_total_flops()))

        if len(names) > 1:
            hooks.append(by_fqn[where].register_forward_pre_hook(pre))
        hooks.append(by_fqn[where].register_forward_hook(hook))
    xs = [torch.randn(batch, *shape) for _, shape in graph.inputs]
    failure = ""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        counting.append(counter)
        try:
            model(*xs)
        except Exception as exc:  # reported at the first row PyTorch did not finish
            failure = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    for h in hooks:
        h.remove()
    flops = counter.get_flop_counts()
    root = type(model).__name__
    report = analyze_graph(graph, batch=1)
    rows = []
    notes = []
    uncounted_macs = 0
    for node, lr in zip(graph.nodes, report.layers, strict=True):
        fqn = export.modules[node.name]
        module = by_fqn[fqn] if fqn is not None else None
        torch_params = sum(p.numel() for p in module.parameters()) if module is not None else 0
        torch_buffers = sum(b.numel() for n, b in module.named_buffers()
                            if not n.endswith("num_batches_tracked")) if module else 0
        if fqn is not None and len(rows_of[fqn]) > 1 and rows_of[fqn][0] != node.name:
            # a shared module: its weights are its owner's row's (the others own none); its
            # MACs are counted per call
            torch_params = torch_buffers = 0
        torch_macs = None
        if fqn is not None:
            total = call_macs[node.name] if node.name in call_macs else sum(
                flops.get(f"{root}.{fqn}", {}).values())
            torch_macs = int(total) // (2 * batch)
        note = ""
        if torch_macs is not None and torch_macs != lr.macs and _ungrouped(node) == torch_macs:
            note = ("FlopCounterMode counts this grouped convolution as ungrouped "
                    f"({torch_macs:,} = {lr.macs:,} × groups): a known counter error")
            notes.append(f"{node.name}: {note}")
        uncounted = UNCOUNTED.get(node.op.kind)
        if torch_macs == 0 and lr.macs and uncounted:
            note = (f"FlopCounterMode has no rule for {uncounted} (it counts 0): MACs not "
                    "compared")
            notes.append(f"{node.name}: {note}")
            uncounted_macs += lr.macs
        got = shapes.get(node.name, seen.get(node.name))
        error = ""
        if got is None and failure:
            error, failure = failure, ""
        rows.append(TorchRow(node.name, node.type_name, fqn, tuple(node.out_shape), got,
                             lr.params, int(torch_params), lr.buffers, int(torch_buffers),
                             lr.macs, torch_macs, note, error))
    all_params = sum(p.numel() for p in model.parameters())
    all_buffers = sum(b.numel() for n, b in model.named_buffers()
                      if not n.endswith("num_batches_tracked"))
    # the module computes every output, training-only heads too: the engine's sum over all
    # its rows (equal to its totals when no output is training-only)
    return TorchCheck(graph.name, tuple(graph.input_shape), batch, str(torch.__version__),
                      tuple(rows), sum(r.params for r in report.layers), int(all_params),
                      sum(r.buffers for r in report.layers), int(all_buffers),
                      sum(r.macs for r in report.layers) - uncounted_macs,
                      int(counter.get_total_flops()) // (2 * batch),
                      time.perf_counter() - started, tuple(notes))
