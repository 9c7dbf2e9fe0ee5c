"""The terminal view of a :class:`~archcalc.training.TrainingReport`: a per-layer table (through
:mod:`archcalc.textable`, so it fits any width: names shorten to their distinguishing tail,
columns drop in a stated order) and the step's totals, each a line a person reads at a glance.
Computes nothing: every figure is the report's."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from . import units
from .tableview import MAX_ROWS
from .textable import Column, Line, Row, dropped_note, render, wrap
from .training import TrainingReport, TrainingRow, TrainingSweep

#: the per-layer columns, in order; ``drop``: the higher, the earlier dropped at a narrow width
COLUMNS = (
    Column("layer", "layer", kind="name"),
    Column("type", "type", kind="name", drop=4),
    Column("trainable", "trainable params", drop=3),
    Column("dx", "∂x MACs"),
    Column("dw", "∂W MACs"),
    Column("kept", "kept for backward"),
)


def _count(n: int, exact: bool) -> str:
    return units.exact(n) if exact else units.si(n)


def _bytes(n: int, exact: bool) -> str:
    return f"{units.exact(n)} B" if exact else units.binary(n)


def _cells(row: TrainingRow, exact: bool) -> tuple[str, ...]:
    params = "frozen" if row.frozen and row.frozen_params else _count(row.trainable_params, exact)
    return (row.name, row.type, params,
            _count(row.backward_input_macs, exact) if row.need_dx else "–",
            _count(row.backward_weight_macs, exact) if row.need_dw else "–",
            _bytes(row.saved_bytes, exact) if row.saved_bytes else "–")


def _grouped(rows: Sequence[TrainingRow], depth: int) -> list[TrainingRow]:
    """Rows of the layers inside a group at ``depth`` summed into one row named by the group
    (consecutive layers of one group; layers outside any group stay as they are)."""
    out: list[TrainingRow] = []
    for row in rows:
        if len(row.path) < depth or depth < 1:
            out.append(row)
            continue
        group = row.path[depth - 1]
        if out and out[-1].name == group and out[-1].type == "group":
            last = out[-1]
            out[-1] = last._replace(
                trainable_params=last.trainable_params + row.trainable_params,
                frozen_params=last.frozen_params + row.frozen_params,
                frozen=last.frozen and row.frozen, need_dx=last.need_dx or row.need_dx,
                need_dw=last.need_dw or row.need_dw,
                backward_input_macs=last.backward_input_macs + row.backward_input_macs,
                backward_weight_macs=last.backward_weight_macs + row.backward_weight_macs,
                backward_flops=last.backward_flops + row.backward_flops,
                saved_bytes=last.saved_bytes + row.saved_bytes)
        else:
            out.append(row._replace(name=group, type="group", path=row.path[:depth - 1]))
    return out


def training_lines(tr: TrainingReport, *, width: int | None = 100, exact: bool = False,
                   depth: int | None = None, quiet: bool = False,
                   fit: tuple[str, int] | None = None,
                   max_rows: int | None = MAX_ROWS) -> list[Line]:
    """Header, per-layer table, totals and convention of a training step, each line at most
    ``width`` characters (numbers are never cut). ``fit``: (the budget as written, the
    largest batch that fits). More than ``max_rows`` layers (and no ``depth``) are shown at the
    shallowest group depth that fits, as the inference table does, with a footer saying so."""
    r = tr.report
    head = (f"{r.name} · training step · batch {r.batch} · {r.dtype}"
            + (f" (master weights {tr.master_weights})" if tr.master_weights else "")
            + f" · optimizer {tr.optimizer.name}"
            + (f" · frozen: {tr.freeze}" if tr.freeze else ""))
    lines = wrap(head, width, indent="  ", style="bold")
    lines.append(Line(""))
    rows = _grouped(tr.layers, depth) if depth else list(tr.layers)
    collapsed = 0
    if depth is None and max_rows is not None and len(rows) > max_rows:
        deepest = max((len(row.path) for row in tr.layers), default=0)
        for d in range(deepest, 0, -1):  # the deepest grouping that fits, else depth 1
            rows = _grouped(tr.layers, d)
            collapsed = d
            if len(rows) <= max_rows:
                break
    table = render(COLUMNS, [Row(_cells(row, exact)) for row in rows], width=width)
    lines.extend(table.lines)
    if collapsed:
        lines.extend(wrap(f"{len(tr.layers):,} layers shown as {len(rows):,} rows, grouped at "
                          f"--depth {collapsed} (--all-rows shows every layer)", width,
                          indent="  ", style="dim"))
    if table.dropped and width is not None:
        lines.extend(wrap(dropped_note(table.dropped, width, "a wider terminal shows them"),
                          width, indent="  ", style="dim"))
    if quiet:
        return lines
    lines.append(Line(""))
    block = totals_block(tr, exact=exact)
    if fit is not None:
        block.append(("Largest batch that fits", f"{fit[1]:,}", f"in {fit[0]}"))
    lw = max(len(label) for label, _, _ in block) + 1
    vw = max(len(value) for _, value, _ in block)
    pad = lw + vw + 3  # the asides start here; one that does not fit wraps under itself
    for label, value, aside in block:
        parts = textwrap.wrap(aside, max(width - pad, 20), break_on_hyphens=False) \
            if width is not None and aside else [aside]
        lines.append(Line(f"{label + ':':<{lw}} {value:>{vw}}  {parts[0]}".rstrip()))
        lines.extend(Line(" " * pad + part) for part in parts[1:])
    lines.append(Line(""))
    lines.extend(wrap(convention_line(tr), width, indent="  ", style="dim"))
    lines.extend(Line(f"warning: {w}", "warn") for w in r.warnings)
    return lines


def convention_line(tr: TrainingReport) -> str:
    r = tr.report
    return (f"FLOPs: {r.convention} convention (backward element-wise work and the update "
            f"count under full only); ∂x/∂W = input/weight-gradient MACs; kept = bytes a "
            f"layer is the first to keep for backward; peak: docs/training.md; "
            f"{units.UNITS_TEXT}")


def totals_block(tr: TrainingReport, *, exact: bool = False) -> list[tuple[str, str, str]]:
    """The step's totals as (label, figure, aside) triples."""
    t = tr.totals
    r = tr.report

    def count(n: int) -> str:
        return _count(n, exact)

    def size(n: int) -> str:
        return _bytes(n, exact)

    kept = ", ".join(f"{dt} {size(b)}" for dt, b in t.saved_bytes_by_dtype.items())
    if t.saved_buffer_bytes:
        kept += f"; BN running stats {size(t.saved_buffer_bytes)}"
    opt = tr.optimizer
    return [
        ("Trainable params", count(t.trainable_params),
         f"frozen {count(t.frozen_params)}" if t.frozen_params else ""),
        ("Forward MACs", count(t.forward_macs), ""),
        ("Backward MACs", count(t.backward_macs),
         f"∂x {count(t.backward_input_macs)} + ∂W {count(t.backward_weight_macs)}"),
        (f"Step FLOPs ({r.convention})", count(t.step_flops),
         f"fwd {count(t.forward_flops)} + bwd {count(t.backward_flops)} + update "
         f"{count(t.update_flops)}; " + ", ".join(
             f"{k} {count(v)}" for k, v in t.step_flops_by_convention.items()
             if k != r.convention)),
        ("Kept for backward", size(t.saved_bytes), kept),
        ("Weights", size(t.weight_bytes), f"{r.dtype}; buffers {size(t.buffer_bytes)}"),
        ("Gradients", size(t.gradient_bytes), "trainable params"),
        ("Master weights", size(t.master_weight_bytes),
         tr.master_weights or "none (no mixed precision)"),
        ("Optimizer state", size(t.optimizer_bytes),
         f"{opt.name}: {opt.copies} cop{'y' if opt.copies == 1 else 'ies'} of the "
         f"trainable params"),
        ("Training peak", size(t.peak_bytes), f"at {t.peak_at}"),
    ]


SWEEP_COLUMNS = (
    Column("batch", "batch"),
    Column("optimizer", "optimizer", kind="name"),
    Column("backward", "backward MACs"),
    Column("step", "step FLOPs"),
    Column("kept", "kept for backward"),
    Column("state", "optimizer state", drop=2),
    Column("peak", "training peak"),
)


def sweep_lines(sw: TrainingSweep, *, width: int | None = 100,
                exact: bool = False) -> list[Line]:
    """A training sweep as a table: one row per (batch, optimizer)."""
    head = (f"{sw.name} · training step over batch × optimizer · {sw.dtype}"
            + (f" (master weights {sw.master_weights})" if sw.master_weights else "")
            + (f" · frozen: {sw.freeze}" if sw.freeze else "")
            + f" · FLOPs {sw.convention}")
    lines = wrap(head, width, indent="  ", style="bold")
    lines.append(Line(""))
    rows = [Row((f"{b:,}", o, _count(t.backward_macs, exact), _count(t.step_flops, exact),
                 _bytes(t.saved_bytes, exact), _bytes(t.optimizer_bytes, exact),
                 _bytes(t.peak_bytes, exact))) for b, o, t in sw.points]
    table = render(SWEEP_COLUMNS, rows, width=width)
    lines.extend(table.lines)
    if table.dropped and width is not None:
        lines.extend(wrap(dropped_note(table.dropped, width, "a wider terminal shows them"),
                          width, indent="  ", style="dim"))
    lines.append(Line(""))
    lines.extend(wrap("the update's FLOPs count under the full convention only; peak: "
                      f"docs/training.md; {units.UNITS_TEXT}", width, indent="  ",
                      style="dim"))
    return lines
