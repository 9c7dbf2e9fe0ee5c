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
  failing (a counter bug, not a disagreement);
* **values**: the NumPy executor (:func:`archcalc.executor.run`, the run ``archcalc verify``
  makes) runs the graph on seeded noise with its seeded weights
  (:func:`archcalc.executor.init_weights`, per node by tensor name and role); the same weights
  are copied into the module, row by row (:mod:`archcalc.torch_weights`: the executor's
  ``bn.gamma`` of a fused row is ``<row>.1.weight``), and the module runs on the same input
  (float32, eval mode, ``torch.no_grad``), each row on the executor's values of its inputs
  (:func:`_forced`). Every row's output (forward hooks, ``_seen``) is held to the
  executor's output of that node within :func:`value_tolerance`. A count-neutral
  mistake (an activation left out, an add that passes one input on, LRN's window) changes the
  values. What no value can show: a dropout is the identity in eval mode in both (PyTorch's
  ``nn.Dropout`` and the executor's inference forward), so a dropout exported as
  ``nn.Identity`` is not a disagreement — by construction, not by a gap in the check.

torch is imported only here (``pip install 'archcalc[torch]'``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .engine import analyze_graph
from .errors import BridgeError
from .graph import Graph, Node
from .torch_export import export_pytorch
from .torch_weights import WeightMapError, row_weight_map

#: the value tolerance: |torch − NumPy| ≤ REL_TOL · max|y| + ABS_TOL over a row's output y
REL_TOL = 1e-4
ABS_TOL = 1e-6


def value_tolerance(scale: float) -> float:
    """The largest difference allowed between PyTorch's and the executor's output of one row:
    ``1e-4 · scale + 1e-6``, where ``scale`` is the largest magnitude the row reads or writes
    (max |x| over its inputs and max |y| of its output, the executor's).

    Why this size. Each row runs on the executor's values of its inputs (:func:`_forced`), so
    the two outputs differ only by that row's own float32 rounding (unit round-off u = 2⁻²⁴ ≈
    6·10⁻⁸), summed in different orders: the executor's im2col and one BLAS product per group,
    PyTorch's oneDNN (MKL-DNN) convolution with its own blocking, and different formulas for
    one function (``rsqrt`` in BN, the exponential of a sigmoid). A sum of K products rounds by
    at most about K·u relative to Σ|terms| and typically √K·u: K ≤ 25,088 (VGG's fc6,
    512·7·7) gives ~10⁻⁵ typically, 1.5·10⁻³ in the very worst case. Measured over every
    bundled spec and variant the largest difference is ~10⁻⁶ of the scale (docs/bridges.md),
    so 10⁻⁴ leaves two orders of magnitude — and stays far below what a wrong layer does: an
    activation left out changes its values by O(max |x|), LRN's window by ~10⁻², a merge that
    passes one input on by the other input. Why the inputs as well as the output: a layer that
    compresses its range passes the absolute rounding of its pre-activation on — a sigmoid
    gate (max |y| = 1) of values reaching 10³ (EfficientNet's SE) differs by ~10⁻⁴ of its 1 at
    ~10⁻⁷ of its input. The absolute 10⁻⁶ covers a row whose values are all ≈ 0."""
    return REL_TOL * scale + ABS_TOL


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
    #: max |torch − NumPy| over the row's output, and the largest magnitude the row reads or
    #: writes (the executor's; None: not compared — the shapes differ or a side did not
    #: compute the row)
    value_diff: float | None = None
    value_scale: float | None = None
    #: why the values could not be compared or loaded (weights that do not map, a side that
    #: did not compute this row)
    value_error: str = ""

    @property
    def tolerance(self) -> float | None:
        return None if self.value_scale is None else value_tolerance(self.value_scale)

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
        if self.value_error:
            found.append(f"values: {self.value_error}")
        elif self.value_diff is not None and self.value_scale is not None and not (
                self.value_diff <= value_tolerance(self.value_scale)):
            found.append(f"values: max |torch − NumPy| {self.value_diff:.3g} = "
                         f"{self.value_diff / max(self.value_scale, 1e-30):.3g} × max |x, y| "
                         f"{self.value_scale:.3g} (tolerance {REL_TOL:g} × max |x, y| + "
                         f"{ABS_TOL:g})")
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
                "max_abs_diff": self.value_diff, "value_scale": self.value_scale,
                "tolerance": self.tolerance,
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
    #: values compared (the executor ran with the same weights and input)
    values: bool = True

    @property
    def max_rel_diff(self) -> float | None:
        """The largest max |torch − NumPy| / max |x, y| over the rows compared."""
        found = [r.value_diff / r.value_scale for r in self.rows if r.value_diff is not None
                 and r.value_scale]
        return max(found, default=None)

    @property
    def failures(self) -> list[TorchRow]:
        return [r for r in self.rows if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.failures and self.params == self.torch_params and \
            self.buffers == self.torch_buffers and (self.macs == self.torch_macs or all(
                r.note for r in self.rows if r.torch_macs != r.macs))

    def to_dict(self) -> dict[str, Any]:
        return {"archcalc_verify_torch": 2, "name": self.name,
                "input_shape": list(self.input_shape), "batch": self.batch,
                "torch_version": self.torch_version,
                "method": "PyTorch module from `archcalc export`; shapes by forward hooks, "
                          "params/buffers by numel (num_batches_tracked excluded), MACs = "
                          "FlopCounterMode forward FLOPs / 2" + (
                              "; values: the NumPy executor's seeded weights loaded into the "
                              "module, each row run on the executor's values of its inputs "
                              "(seeded float32 noise at the start), its output within "
                              f"{REL_TOL:g} × max |x, y| + {ABS_TOL:g} of the executor's (x: "
                              "its inputs, y: its output)"
                              if self.values else "; values not compared"),
                "values": self.values,
                "tolerance": {"relative": REL_TOL, "absolute": ABS_TOL},
                "max_rel_diff": self.max_rel_diff,
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


def _load_weights(torch: Any, graph: Graph, by_fqn: dict[str, Any],
                  rows_of: dict[str, list[str]], seed: int) -> dict[str, str]:
    """Copy the executor's seeded weights (:func:`archcalc.executor.init_weights`, the tensors
    ``archcalc verify`` makes) into each row's submodule; a row whose tensors do not map one
    to one (:func:`archcalc.torch_weights.row_weight_map`) keeps PyTorch's and is returned
    with the reason."""
    from .executor import init_weights

    problems: dict[str, str] = {}
    for fqn, names in rows_of.items():
        owner: Node = next((n for n in map(graph.node, names) if not n.shares),
                           graph.node(names[0]))
        module = by_fqn[fqn]
        targets = {**dict(module.named_parameters()), **dict(module.named_buffers())}
        keys = {k: tuple(v.shape) for k, v in module.state_dict().items()}
        try:
            mapping = row_weight_map([(t.name, t.shape) for t in owner.tensors()],
                                     [f"{p.type_name}." for p in owner.post], keys)
        except WeightMapError as exc:
            problems[owner.name] = f"the executor's weights do not map onto PyTorch's: {exc}"
            continue
        if not mapping:
            continue
        params, buffers = init_weights(owner, seed)
        mine = {**params, **buffers}
        with torch.no_grad():
            for key, name in mapping.items():
                target = targets[key]
                target.copy_(torch.from_numpy(mine[name]).reshape(target.shape))
    return problems


def _compare(ours: Any, theirs: Any, reads: list[Any]) -> tuple[float, float] | str:
    """(max |torch − NumPy|, the largest magnitude the row reads or writes) of one row, or why
    they cannot be compared; ``reads``: the executor's values of the row's inputs."""
    import numpy as np

    if ours.shape != theirs.shape:
        return f"NumPy's output {list(ours.shape)} and PyTorch's {list(theirs.shape)} differ"
    if not (np.isfinite(ours).all() and np.isfinite(theirs).all()):
        return "non-finite values (NumPy or PyTorch)"
    diff = float(np.max(np.abs(theirs.astype(np.float64) - ours))) if ours.size else 0.0
    scale = max((float(np.max(np.abs(a))) for a in (ours, *reads) if a.size), default=0.0)
    return diff, scale


def _forced(torch: Any, forced: dict[str, Any], row: str, value: Any) -> Any:
    """What the rows after ``row`` read in PyTorch: the executor's output of ``row`` (a copy,
    so no in-place operation reaches the executor's arrays) when it has one of the same
    shape, else PyTorch's own ``value``.

    Each row is thus compared on the executor's inputs: its difference is its own rounding,
    not the sum of every earlier row's. Compared end to end instead, float32 differences grow
    with depth where the seeded weights let activations grow — EfficientNet-B1's SE gates
    multiply 10⁴-sized maps by sigmoids of 10³-sized values, and a 10⁻⁴ difference at stage 6
    became 25 % at stage 7 (measured) — a test of the conditioning of random networks, not of
    the exporter."""
    ours = forced.get(row)
    if ours is None or tuple(ours.shape) != tuple(value.shape):
        return value
    return torch.from_numpy(ours.copy())


def check_against_torch(graph: Graph, *, batch: int = 1, seed: int = 0,
                        values: bool = True) -> TorchCheck:
    """Run the exported module of ``graph`` in PyTorch (CPU, eval mode, no gradients) and
    compare every row with the engine, and (``values``) its output with the NumPy executor's
    on the same weights and input."""
    torch = import_torch()
    from torch.utils.flop_counter import FlopCounterMode

    started = time.perf_counter()
    export = export_pytorch(graph, trace=True)
    namespace = _load_module(export.code)
    seen: dict[str, tuple[int, ...]] = {}
    outputs: dict[str, Any] = {}  # row → PyTorch's output (NumPy), when values are compared
    # row → the executor's output: what the rows after it read in PyTorch too (see `_forced`)
    forced: dict[str, Any] = {}
    group_of: dict[int, str] = {}

    def record(module: Any, name: str, value: Any) -> Any:
        prefix = group_of[id(module)]
        row = f"{prefix}.{name}" if prefix else name
        seen[row] = tuple(value.shape[1:])
        if values:
            outputs[row] = value.detach().numpy().copy()
            return _forced(torch, forced, row, value)
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
                 calls: list[int] = calls, started_at: list[int] = started_at) -> Any:
            row = names[min(calls[0], len(names) - 1)]
            calls[0] += 1
            pair = isinstance(output, tuple)  # a max pool with its indices
            value = output[0] if pair else output
            shapes[row] = tuple(value.shape[1:])
            if started_at:
                call_macs[row] = int(counting[0].get_total_flops()) - started_at.pop()
            if not values:
                return None
            outputs[row] = value.detach().numpy().copy()
            value = _forced(torch, forced, row, value)
            return (value, *output[1:]) if pair else value

        def pre(module: Any, args: Any, started_at: list[int] = started_at) -> None:
            if counting:
                started_at.append(int(counting[0].get_total_flops()))

        if len(names) > 1:
            hooks.append(by_fqn[where].register_forward_pre_hook(pre))
        hooks.append(by_fqn[where].register_forward_hook(hook))
    execution: Any = None
    weight_problems: dict[str, str] = {}
    if values:
        from .executor import run

        # the NumPy executor's run, as `archcalc verify` makes it; its input is PyTorch's too
        execution = run(graph, seed=seed, batch=batch, keep="all")
        forced.update(execution.activations)
        xs = [torch.from_numpy(execution.activations[name].copy()) for name in
              graph.input_names]
        weight_problems = _load_weights(torch, graph, by_fqn, rows_of, seed)
    else:
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
        diff: float | None = None
        scale: float | None = None
        value_error = weight_problems.get(node.shares or node.name, "")
        if values and got is not None and got == tuple(node.out_shape) and not value_error:
            ours = execution.activations.get(node.name)
            step = next((st for st in execution.steps if st.name == node.name), None)
            if ours is None:
                value_error = "the NumPy executor did not compute this row" + (
                    f" ({'; '.join(step.problems)})" if step is not None and step.problems
                    else "")
            else:
                compared = _compare(ours, outputs[node.name], [
                    execution.activations[i] for i in node.inputs
                    if i in execution.activations])
                if isinstance(compared, str):
                    value_error = compared
                else:
                    diff, scale = compared
        rows.append(TorchRow(node.name, node.type_name, fqn, tuple(node.out_shape), got,
                             lr.params, int(torch_params), lr.buffers, int(torch_buffers),
                             lr.macs, torch_macs, note, error, diff, scale, value_error))
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
                      time.perf_counter() - started, tuple(notes), values)
