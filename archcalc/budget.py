"""How much memory the NumPy executor will need, predicted from the graph before it allocates
anything, and the budget it must fit in (``archcalc verify --max-memory``, ``run(max_memory=)``).

The executor runs the nodes in list order, one at a time, and holds at step *i*:

* the activations alive then — the input, every output some later node still reads (the
  engine's liveness rule), and node *i*'s output; with ``keep="all"`` every output so far;
* the weight store: node *i*'s weights and buffers are made, before its forward, in one
  float32 array that every node reuses (``Context.weight_store``), grown to the largest
  node's so far — a ``share:`` owner's tensors are made apart and kept for its sharers;
* the im2col scratch of the convolutions so far: a window matrix of ``B·C_in·∏k·∏o`` elements
  per dense convolution that is not 1×1 stride 1 — or one block of its output rows when it
  passes 32 MiB of float32 (:func:`archcalc.layers.conv.im2col_rows`) — kept and reused by
  the run, so its largest size stays resident (depthwise convolutions read shifted views: no
  copy);
* the forward's temporaries: (inputs + output) of node *i* times the factor of its family in
  :data:`TEMPORARIES` — the padded copies, the float64 sums of adaptive pooling, LRN and GELU,
  the two reads and the blend of a linear resize, the canvas of a transposed convolution —
  measured with ``tracemalloc`` per family (tests/test_bounded_work.py) and rounded up;
* before the first node, the input: made in float64 and converted (3 × its float32 size);
* the Python objects of the run (the report, one record per step): :data:`OVERHEAD`.

Every size is elements × ``batch`` × the executor's dtype bytes (4 for float32). The largest
step is the prediction; a test checks it against the peak that ``tracemalloc`` measures on the
bundled specs and on a case of every layer family, and that it is never below it.
The default budget is 80 % of the memory available now (``MemAvailable`` in /proc/meminfo, or
a cgroup's limit less its usage when that is lower), so a run that would exhaust the machine
is refused with the layer that passes the budget, instead of being killed half-way.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from .errors import ExecError, Loc
from .graph import Graph, Node, ancestors
from .layers import Conv
from .layers.conv import im2col_rows
from .shapes import prod

#: a forward's temporaries in multiples of its inputs + output, by layer family (measured
#: peaks over that, rounded up; 1 for every other layer, whose forwards make at most a copy)
TEMPORARIES: dict[str, int] = {"gelu": 8, "lrn": 6, "adaptive_avgpool": 6, "deconv": 5,
                               "bn": 3, "upsample": 3, "layernorm": 2, "global_avgpool": 2,
                               "global_maxpool": 2, "subsample": 2}
#: the run's own Python objects: a fixed allowance and one per node
OVERHEAD = (8 << 20, 4 << 10)
#: the share of the available memory the default budget allows
DEFAULT_SHARE = 0.8
_UNITS = {"": 1, "b": 1, "k": 1024, "kib": 1024, "kb": 1000, "m": 1024**2, "mib": 1024**2,
          "mb": 1000**2, "g": 1024**3, "gib": 1024**3, "gb": 1000**3, "t": 1024**4,
          "tib": 1024**4, "tb": 1000**4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Z]*)\s*")


@dataclass(frozen=True)
class Step:
    """What one node needs while it runs, in bytes."""

    name: str
    type: str
    loc: Loc
    activations: int
    weights: int
    scratch: int
    transient: int

    @property
    def total(self) -> int:
        return self.activations + self.weights + self.scratch + self.transient


@dataclass(frozen=True)
class Prediction:
    """The executor's predicted memory: every step, and the largest."""

    batch: int
    steps: tuple[Step, ...]

    @property
    def peak(self) -> Step | None:
        return max(self.steps, key=lambda s: s.total, default=None)

    @property
    def peak_bytes(self) -> int:
        peak = self.peak
        return 0 if peak is None else peak.total


def predict(graph: Graph, batch: int, *, itemsize: int = 4, keep_all: bool = False,
            targets: Collection[str] | None = None, whole_im2col: bool = False) -> Prediction:
    """The memory of a run of ``graph`` at ``batch`` (see the module docstring). Linear in the
    graph; nothing is allocated. ``whole_im2col``: every im2col matrix whole, as a backward
    makes them (the forward's come in blocks of at most 32 MiB)."""
    nodes = graph.nodes
    if targets is not None:
        need = ancestors(graph, targets)
        nodes = tuple(n for n in nodes if n.name in need)
    unit = batch * itemsize
    last: dict[str, int] = {name: -1 for name in graph.input_names}
    for step, node in enumerate(nodes):
        last[node.name] = step
        for name in node.inputs:
            last[name] = step
    # every input (a Siamese pair has two); a tensor of R regions counts R times
    sizes: dict[str, int] = {name: prod(shape) for name, shape in graph.inputs}
    inputs = sum(sizes.values())
    alive = inputs
    outputs = {o.name for o in graph.outputs}
    owners = {node.shares for node in nodes if node.shares}  # `share:` keeps these weights
    resident = 0
    store = 0
    scratch = 0
    steps: list[Step] = []
    fixed = OVERHEAD[0] + OVERHEAD[1] * len(nodes)
    for step, node in enumerate(nodes):
        out = prod(node.out_shape) * node.multiplicity
        sizes[node.name] = out
        alive += out
        ins = sum(sizes.get(i, 0) for i in node.inputs)
        scratch = max(scratch, _window_matrix(node, batch * node.multiplicity, whole_im2col))
        temporaries = max(_temporaries(node) * (ins + out), _working(node)) + (
            2 * inputs if step == 0 else 0)
        weights = 0 if node.shares else (node.param_count() + node.buffer_count()) * itemsize
        if node.name not in owners:
            store = max(store, weights)
        steps.append(Step(node.name, node.type_name, node.loc, alive * unit,
                          store + resident + (weights if node.name in owners else 0),
                          scratch * itemsize, temporaries * unit + fixed))
        if node.name in owners:
            resident += weights  # kept for the layers that share them
        if not keep_all:
            for name in {*node.inputs, node.name}:
                if last.get(name) == step and name not in outputs:
                    alive -= sizes[name]
    return Prediction(batch, tuple(steps))


def _working(node: Node) -> int:
    """The working memory a layer declares (:meth:`Layer.scratch_elements`: deformable
    sampling, RoIAlign's chunks) when it exceeds its inputs and output; a convolution's
    im2col matrix is the resident scratch instead."""
    if isinstance(node.op, Conv):
        return 0
    # after RoI pooling a layer runs on R regions; the pooling itself works per image
    regions = 1 if node.op.region_count() else node.multiplicity
    return node.op.scratch_elements(node.in_shapes) * regions


def _temporaries(node: Node) -> int:
    return max(TEMPORARIES.get(layer.type_name, 1) for layer in node.layers)


def _window_matrix(node: Node, rows: int, whole: bool = False) -> int:
    """Elements of a dense convolution's im2col matrix for a batch of ``rows`` samples,
    ``B·C_in·∏k·∏o``, or of one block of its output rows when that is larger than
    :data:`~archcalc.layers.conv.IM2COL_BLOCK` (0 for 1×1 stride-1 and depthwise convolutions
    and every other layer); ``whole``: never in blocks."""
    op = node.op
    if not isinstance(op, Conv):
        return 0
    cin = node.in_shapes[0][0]
    k, s, d = op.geometry(node.in_shapes[0])[:3]
    if all(v == 1 for v in (*k, *s, *d)) or (op.connections is None and cin > 1
                                             and op.group_count(cin) == cin):
        return 0
    o = node.out_shape[1:]
    per_row = rows * cin * prod(k) * prod(o[1:])
    return per_row * (o[0] if whole else im2col_rows(per_row, o[0]))


# ---------------------------------------------------------------------------------- budget --


def parse_size(text: str) -> int:
    """``512M``, ``2G``, ``1.5GiB``, ``3000000000`` → bytes. K, M, G, T and KiB… are powers
    of 1024; KB, MB, GB, TB powers of 1000. Raises ValueError for anything else."""
    found = _SIZE.fullmatch(text)
    unit = found.group(2).lower() if found else None
    if found is None or unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size such as 512M, 2G or 1.5GiB")
    value = float(found.group(1)) * _UNITS[unit]
    if not 1 <= value <= 2**62:
        raise ValueError(f"{text!r} is not a size from 1 byte to 4 EiB")
    return int(value)


def available_memory() -> tuple[int, str] | None:
    """(bytes, where the figure comes from): the memory this process may still take — the
    smaller of /proc/meminfo's MemAvailable and a cgroup's limit less its usage — or None
    where neither can be read."""
    found: list[tuple[int, str]] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append((int(line.split()[1]) * 1024, "available memory"))
    except (OSError, ValueError, IndexError):
        pass
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            limit = Path(limit_file).read_text().strip()
            usage = Path(usage_file).read_text().strip()
            if limit.isdigit() and int(limit) < 2**60:
                found.append((max(int(limit) - int(usage), 0), "the cgroup's memory limit"))
        except (OSError, ValueError):
            continue
    if not found and hasattr(os, "sysconf"):
        try:
            pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
            if pages > 0 and size > 0:
                found.append((pages * size, "free physical memory"))
        except (OSError, ValueError):
            pass
    return min(found) if found else None


def default_budget() -> tuple[int, str]:
    """80 % of :func:`available_memory` (8 GiB where it cannot be read), and its wording."""
    free = available_memory()
    if free is None:
        return 8 * 1024**3, "the default 8 GiB (the available memory cannot be read here)"
    return int(free[0] * DEFAULT_SHARE), f"80 % of the {fmt_bytes(free[0])} of {free[1]}"


def check(graph: Graph, batch: int, limit: int | None = None, *, keep_all: bool = False,
          targets: Collection[str] | None = None, itemsize: int = 4,
          knob: str = "max_memory=") -> Prediction:
    """Refuse, before anything is allocated, a run whose :func:`predict` passes ``limit`` bytes
    (default: :func:`default_budget`), naming the first layer that passes it and what it needs;
    ``knob`` is how the caller raises the budget (``--max-memory`` in the CLI)."""
    prediction = predict(graph, batch, itemsize=itemsize, keep_all=keep_all, targets=targets)
    if limit is None:
        limit, source = default_budget()
    else:
        source = f"set by {knob.strip()}"
    for step in prediction.steps:
        if step.total > limit:
            raise ExecError(
                f"running it needs {fmt_bytes(step.total)} (activations "
                f"{fmt_bytes(step.activations)}, weights {fmt_bytes(step.weights)}, im2col "
                f"scratch {fmt_bytes(step.scratch)}, temporaries {fmt_bytes(step.transient)}, "
                f"at batch {batch}): more than the memory budget of {fmt_bytes(limit)} "
                f"({source})",
                loc=step.loc,
                layer=f"layer {step.name!r} ({step.type})",
                hint=f"use a smaller batch or input, or raise the budget with {knob}SIZE "
                "if the memory is there",
            )
    return prediction


def check_run(graph: Graph, x: object, batch: int | None, max_memory: int | str | None, *,
              keep: object, targets: Collection[str] | None, dtype: object) -> Prediction:
    """:func:`check` for the arguments of :func:`archcalc.execute.run` (``x`` a NumPy array or
    None, already checked)."""
    import numpy as np

    rank = len(graph.input_shape)
    if isinstance(x, np.ndarray):
        batch = x.shape[0] if x.ndim == rank + 1 else 1
    limit = None if max_memory is None else budget_bytes(max_memory)
    return check(graph, batch or 1, limit, keep_all=keep == "all", targets=targets,
                 itemsize=np.dtype(dtype).itemsize)  # type: ignore[call-overload]


def budget_bytes(value: int | str) -> int:
    """``max_memory`` as bytes: an int ≥ 1 or a size string (:func:`parse_size`)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"max_memory must be bytes (an int) or a size such as '2G', got "
                        f"{type(value).__name__}")
    if isinstance(value, str):
        try:
            return parse_size(value)
        except ValueError as exc:
            raise ExecError(f"max_memory={exc}", hint="e.g. max_memory='2G'") from None
    if value < 1:
        raise ExecError(f"max_memory={value} must be at least 1 byte",
                        hint="e.g. max_memory='2G'")
    return value


def fmt_bytes(n: float) -> str:
    """Bytes for a person: ``5.0 GiB``, ``312.5 MiB``, ``900 B``."""
    if n < 1024:
        return f"{int(n)} B"
    exponent = min(int(math.log(n, 1024)), 6)
    return f"{n / 1024**exponent:.1f} {'BKMGTPE'[exponent]}iB"
