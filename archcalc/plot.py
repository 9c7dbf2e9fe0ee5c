"""Per-layer bar charts of a report, made for slides: the AlexNet slide's three panels, the
AlexNet vs VGG-16 comparison, and the stage subtotals of a staged network.

One bar per layer row of the report, in the lecture table's units:

* ``memory`` — activation memory in KB = ``activation_bytes / 1024`` (output × batch × dtype
  bytes): "most memory in the early conv layers";
* ``params`` — parameters in thousands = ``params / 1000``: "nearly all parameters in the FC
  layers";
* ``flops`` — FLOPs in millions = ``flops / 10^6`` under the report's convention: "most FLOPs in
  the conv layers".

Slide-ready defaults: a 16:9 figure of 16 × 9 inches, 1920 × 1080 pixels at the default 120 dpi,
with fonts of 13 to 20 points (22 to 33 pixels at 1080p); ``all`` stacks the three panels on one
shared row of layer names. Every bar is named (beyond about a hundred bars, every k-th name is
written, the tick marks stay). The stages of a staged network (the outermost group of each layer,
``LayerRow.path[0]``) are shaded in alternation and named above the bars. A panel switches to a
log scale when a linear one would flatten most of its bars: when more than half of the non-zero
values are under 1/50 of the largest (shorter than about 8 pixels of a 1080p panel) — MobileNetV2's
params, GoogLeNet's FLOPs; AlexNet keeps the slide's linear scale (``scale="linear"``/``"log"``
force one).

Several reports are compared layer by layer with bars aligned by layer *name*, not by row number:
the name sequences are merged (:func:`align`), so AlexNet's ``fc6`` stands beside VGG-16's ``fc6``
and the layers one network lacks leave a gap. Each legend entry carries the network's total.

Images need matplotlib (``pip install 'archcalc[plot]'``); it is imported only when a figure is
made, without pyplot (no global state, no display needed). :func:`terminal_bars` draws the same
bars with rich, without matplotlib.

>>> import archcalc
>>> alexnet = archcalc.analyze("alexnet")
>>> values("params", alexnet)[-1]       # fc8: 4096·1000 + 1000 parameters, in thousands
('fc8', 4097.0)
>>> align([["conv1", "pool1", "fc6"], ["conv1_1", "conv1_2", "pool1", "fc6"]])
('conv1', 'conv1_1', 'conv1_2', 'pool1', 'fc6')
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ArchcalcError
from .hierarchy import Subtotal
from .report import LayerRow, Report

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from rich.console import RenderableType

#: image formats :func:`save` writes (chosen from the file extension)
IMAGE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
INSTALL_HINT = "pip install 'archcalc[plot]'  (or: pip install matplotlib)"
SLIDE_SIZE = (16.0, 9.0)  # inches, 16:9; at DEFAULT_DPI 1920 × 1080 pixels
DEFAULT_DPI = 120
SCALES: tuple[str, ...] = ("auto", "linear", "log")
#: font sizes in points: at 120 dpi 13 pt is 22 pixels, readable on a 1080p slide
TITLE_PT, PANEL_PT, TICK_PT, STAGE_PT = 20.0, 15.0, 13.0, 12.0
NAME_PT_MIN = 9.0  # layer names never smaller: beyond that every k-th name is written
LOG_SHARE = 50  # a bar under 1/LOG_SHARE of the tallest is flat on a linear axis
LABEL_CHARS = 22  # longer layer names are shortened on the axis
MAX_BARS = 5000  # more bars than a figure can show: a clear error, not minutes of drawing


@dataclass(frozen=True)
class Metric:
    """A per-layer quantity: the row attribute it reads and the divisor to its display unit."""

    name: str
    title: str
    unit: str
    divisor: int
    attribute: str

    def of(self, row: LayerRow | Subtotal) -> float:
        value: int = getattr(row, self.attribute)
        return value / self.divisor

    def total(self, report: Report) -> float:
        value: int = getattr(report.totals, self.attribute)
        return value / self.divisor


METRICS: dict[str, Metric] = {
    "memory": Metric("memory", "Memory", "KB", 1024, "activation_bytes"),
    "params": Metric("params", "Params", "k", 1000, "params"),
    "flops": Metric("flops", "FLOPs", "M", 1_000_000, "flops"),
}


class PlotUnavailable(ArchcalcError):
    """matplotlib is not installed."""


def metrics(metric: str) -> tuple[Metric, ...]:
    """``memory``, ``params``, ``flops`` → that one; ``all`` → the three, in the slide's order."""
    if metric == "all":
        return tuple(METRICS.values())
    if metric not in METRICS:
        raise ArchcalcError(
            f"unknown metric {metric!r}",
            hint="choose one of " + ", ".join([*METRICS, "all"]),
        )
    return (METRICS[metric],)


def values(metric: str, report: Report) -> tuple[tuple[str, float], ...]:
    """(layer name, value in the metric's unit) per layer row, in order."""
    (m,) = metrics(metric)
    return tuple((row.name, m.of(row)) for row in report.layers)


def _as_list(reports: Report | Sequence[Report]) -> list[Report]:
    out = [reports] if isinstance(reports, Report) else list(reports)
    if not out:
        raise ArchcalcError("nothing to plot: give at least one report")
    return out


def _axis_label(m: Metric, reports: list[Report], log: bool = False) -> str:
    extra = [" / ".join(sorted({r.convention for r in reports}))] if m.name == "flops" else []
    if log:
        extra.append("log scale")
    return f"{m.title} ({', '.join([m.unit, *extra])})"


def align(names: Sequence[Sequence[str]]) -> tuple[str, ...]:
    """One sequence of layer names in which every network's layers keep their order and equal
    names coincide: each further network is merged into the sequence so far along their longest
    matching blocks (:class:`difflib.SequenceMatcher`); names it lacks are inserted where they
    occur. Bars are then aligned by name, not by row number."""
    merged: list[str] = list(names[0]) if names else []
    for more in names[1:]:
        if list(more) == merged:
            continue
        out: list[str] = []
        matcher = SequenceMatcher(None, merged, list(more), autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            out.extend(merged[i1:i2])
            if tag in ("insert", "replace"):
                out.extend(more[j1:j2])
        merged = out
    return tuple(dict.fromkeys(merged))


def use_log(heights: Sequence[float]) -> bool:
    """A linear axis would flatten most bars: more than half of the non-zero heights are under
    1/:data:`LOG_SHARE` of the tallest."""
    nonzero = [h for h in heights if h > 0]
    if len(nonzero) < 2:
        return False
    top = max(nonzero)
    flat = sum(1 for h in nonzero if h * LOG_SHARE < top)
    return 2 * flat > len(nonzero)


def name_plan(count: int, width_points: float) -> tuple[int, float]:
    """(every how many bars a name is written, font size): one line of text per named bar,
    at most :data:`TICK_PT`, never below :data:`NAME_PT_MIN`; the step is 1, 2, 5, 10, 20, …"""
    per_bar = width_points / max(count, 1)
    if per_bar * 0.9 >= NAME_PT_MIN:
        return 1, min(TICK_PT, per_bar * 0.9)
    step = 1
    while per_bar * step * 0.9 < NAME_PT_MIN:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return step, NAME_PT_MIN


def _tick(value: float, _position: Any = None) -> str:
    """Axis numbers as people write them: 1,000 · 2.5 · 0.01."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.3g}"


def stage_runs(categories: Sequence[str], stage_of: Callable[[str], str]) -> list[
        tuple[str, int, int]]:
    """(stage, first index, last index) of each run of consecutive categories in one stage
    (the outermost group of a layer); layers outside every group belong to none."""
    runs: list[tuple[str, int, int]] = []
    for i, name in enumerate(categories):
        stage = stage_of(name)
        if not stage:
            continue
        if runs and runs[-1][0] == stage and runs[-1][2] == i - 1:
            runs[-1] = (stage, runs[-1][1], i)
        else:
            runs.append((stage, i, i))
    return runs


def require_matplotlib() -> None:
    """Raise :class:`PlotUnavailable` (saying how to install it) when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailable(
            "drawing an image needs matplotlib, which is not installed",
            hint=INSTALL_HINT + "; `archcalc plot SPEC` without -o draws the bars in the terminal",
        ) from None


def _plain(text: str) -> str:
    """Text for matplotlib as written: a ``$`` in a name does not start mathtext."""
    return text.replace("$", r"\$")


def _title(items: list[Report], depth: int | None = None) -> str:
    level = "" if depth is None else " · per stage" if depth == 1 else f" · blocks at depth {depth}"
    if len(items) == 1:
        r = items[0]
        return (f"{r.name} — input {'×'.join(map(str, r.input_shape))}, batch {r.batch}, "
                f"{r.dtype}{level}")
    return " vs ".join(r.name for r in items) + level


def _legend_label(report: Report) -> str:
    return (f"{report.name}: input {'×'.join(map(str, report.input_shape))}, batch "
            f"{report.batch}, {report.dtype}")


def _totals(m: Metric, items: list[Report]) -> str:
    if len(items) == 1:
        return f"total {m.total(items[0]):,.1f} {m.unit}"
    return "totals: " + " · ".join(f"{r.name} {m.total(r):,.1f} {m.unit}" for r in items)


class Bar(NamedTuple):
    """One bar of a report: a layer (its row) or a collapsed group (its subtotal), and the
    stage it lies in (the outermost group around it; empty at the top level)."""

    name: str
    counts: LayerRow | Subtotal
    stage: str


def bars(report: Report, depth: int | None = None) -> list[Bar]:
    """The bars of ``report``: one per layer, or with ``depth=N`` one per group N levels down
    with its subtotal and one per layer above that level (:meth:`Hierarchy.view
    <archcalc.hierarchy.Hierarchy.view>`: ResNet-50 at depth 1 is stem, layer1 … layer4, head,
    the stage table as bars). Linear in the rows."""
    tree = report.hierarchy
    rows = report.layers
    if depth is None:
        out = []
        for i, row in enumerate(rows):
            chain = tree.ancestors(i)
            out.append(Bar(row.name, row, chain[0].name if chain else ""))
        return out
    if depth < 1:
        raise ArchcalcError(f"depth must be at least 1, got {depth}",
                            hint="depth 1 gives one bar per stage")
    result: list[Bar] = []
    for entry in tree.view(depth):
        if entry.expanded:
            continue
        if entry.group is None:
            chain = tree.ancestors(entry.row)
            result.append(Bar(rows[entry.row].name, rows[entry.row],
                              chain[0].name if chain else ""))
            continue
        group, outer = entry.group, entry.group
        while outer.parent is not None:
            outer = tree.group(outer.parent)
        result.append(Bar(group.name, group.totals, outer.name if outer is not group else ""))
    return result


def figure(reports: Report | Sequence[Report], metric: str = "all", *,
           depth: int | None = None, scale: str = "auto",
           size: tuple[float, float] | None = None) -> Figure:
    """A matplotlib :class:`~matplotlib.figure.Figure` for a slide: one panel per metric,
    stacked over one row of names, one bar per layer and report (several reports side by side,
    aligned by name). ``depth=N``: one bar per group N levels down, with its subtotal
    (:func:`bars`; 1 is one bar per stage). Each panel's title gives the totals; with several
    reports a legend above the panels names each network with its input, batch and dtype.

    ``scale`` is ``auto`` (log when :func:`use_log`), ``linear`` or ``log``; ``size`` is
    (width, height) in inches, :data:`SLIDE_SIZE` by default.
    """
    require_matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    if scale not in SCALES:
        raise ArchcalcError(f"unknown scale {scale!r}", hint="choose auto, linear or log")
    chosen = metrics(metric)
    items = _as_list(reports)
    per_report = [bars(r, depth) for r in items]
    categories = align([[bar.name for bar in found] for found in per_report])
    if len(categories) * len(items) > MAX_BARS:
        raise ArchcalcError(
            f"{len(categories) * len(items):,} bars are more than a chart can show "
            f"(at most {MAX_BARS:,})",
            hint="plot fewer networks, draw one bar per block with --depth, or use the "
                 "JSON/CSV exports for the numbers")
    indexes = [{bar.name: bar.counts for bar in found} for found in per_report]
    stages = {bar.name: bar.stage for found in reversed(per_report) for bar in found
              if bar.stage}
    runs = stage_runs(categories, lambda name: stages.get(name, ""))
    width, height = size or SLIDE_SIZE
    fig = Figure(figsize=(width, height), layout="constrained")
    if len(items) == 1:
        fig.suptitle(_plain(_title(items, depth)), fontsize=TITLE_PT)
    axes: list[Axes] = list(fig.subplots(len(chosen), 1, sharex=True, squeeze=False)[:, 0])
    group = 0.8 / len(items)
    for ax, m in zip(axes, chosen, strict=True):
        heights_all: list[float] = []
        for i, (report, index) in enumerate(zip(items, indexes, strict=True)):
            offset = (i - (len(items) - 1) / 2) * group
            xs = [x + offset for x, name in enumerate(categories) if name in index]
            hs = [m.of(index[name]) for name in categories if name in index]
            heights_all.extend(hs)
            ax.bar(xs, hs, group, label=_plain(_legend_label(report)), zorder=2)
        log = scale == "log" or (scale == "auto" and use_log(heights_all))
        if log:
            ax.set_yscale("log")
        ax.set_title(_plain(f"{_axis_label(m, items, log)} — {_totals(m, items)}"), loc="left",
                     fontsize=PANEL_PT)
        ax.yaxis.set_major_formatter(FuncFormatter(_tick))
        ax.tick_params(axis="y", labelsize=TICK_PT)
        ax.grid(axis="y", alpha=0.3, zorder=0)
        ax.margins(x=0.5 / max(len(categories), 1), y=0.1)
        for k, (_, first, last) in enumerate(runs):
            if k % 2 == 0:  # alternate stages shaded, so their extent is seen in every panel
                ax.fill_between([first - 0.5, last + 0.5], 0, 1, color="black", alpha=0.06,
                                linewidth=0, transform=ax.get_xaxis_transform(), zorder=0)
    if len(items) > 1:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside upper center",
                   ncols=_legend_columns(labels, width), fontsize=TICK_PT, frameon=False,
                   title=_plain(_title(items, depth)), title_fontsize=TITLE_PT)
    _name_stages(axes[0], runs, len(categories), width)
    _name_layers(axes[-1], categories, width, stages, depth)
    return fig


def _legend_columns(labels: Sequence[str], width: float) -> int:
    """As many legend entries side by side as fit the figure's width (a glyph ≈ 0.62 em, a
    marker and the gaps ≈ 5 em per entry)."""
    room = width * 72 * 0.95
    for columns in range(min(len(labels), 4), 1, -1):
        widest = sorted((len(label) for label in labels), reverse=True)[:columns]
        if sum((n * 0.62 + 5) * TICK_PT for n in widest) <= room:
            return columns
    return 1


def _layer_label(name: str, stage: str) -> str:
    """A tick label: a long name loses the stage prefix the band above already shows, then
    keeps its informative tail."""
    if len(name) > LABEL_CHARS and stage and name.startswith(stage + "."):
        name = name[len(stage) + 1:]
    return name if len(name) <= LABEL_CHARS else "…" + name[-(LABEL_CHARS - 1):]


def _name_layers(ax: Axes, categories: Sequence[str], width: float,
                 stages: dict[str, str], depth: int | None) -> None:
    step, points = name_plan(len(categories), width * 72 * 0.9)
    ticks = list(range(0, len(categories), step))
    labels = [_plain(_layer_label(categories[t], stages.get(categories[t], ""))) for t in ticks]
    # horizontal when the longest name fits its bar's width (a glyph is about 0.62 em wide);
    # else slanted while the names are few (45°: neighbours stay one line height apart when
    # the spacing is at least √2 lines), else upright
    room = width * 72 * 0.9 / max(len(categories), 1) * step
    flat = max((len(label) for label in labels), default=0) * points * 0.62 <= room * 0.9
    slanted = not flat and room >= 2.5 * points
    ax.set_xticks(ticks)
    if slanted:
        ax.set_xticklabels(labels, rotation=40, ha="right", rotation_mode="anchor",
                           fontsize=points)
    else:
        ax.set_xticklabels(labels, rotation=0 if flat else 90, fontsize=points)
    if step > 1:
        ax.set_xticks(range(len(categories)), minor=True)
        what = "layer" if depth is None else "block"
        every = "every other name" if step == 2 else f"every {step}th name"
        ax.set_xlabel(f"{what} ({every} written)", fontsize=TICK_PT)


def _name_stages(ax: Axes, runs: list[tuple[str, int, int]], count: int, width: float) -> None:
    """Stage names on a secondary axis above the top panel, where the stage is wide enough."""
    if not runs:
        return
    per_bar = width * 72 * 0.9 / max(count, 1)  # points per bar
    shown = [(stage, first, last) for stage, first, last in runs
             if (last - first + 1) * per_bar >= len(stage) * STAGE_PT * 0.62]
    top = ax.secondary_xaxis("top")
    top.set_xticks([(first + last) / 2 for _, first, last in shown])
    top.set_xticklabels([_plain(stage) for stage, _, _ in shown], fontsize=STAGE_PT)
    top.tick_params(axis="x", length=0)


def save(reports: Report | Sequence[Report], path: str | os.PathLike[str],
         metric: str = "all", *, dpi: int = DEFAULT_DPI, fmt: str | None = None,
         depth: int | None = None, scale: str = "auto") -> str:
    """Draw :func:`figure` and write it to ``path`` (PNG, SVG or PDF, from the extension unless
    ``fmt`` is given); returns the format. The file is replaced atomically."""
    from .export import write_text_atomic

    chosen = fmt or os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if chosen not in IMAGE_FORMATS:
        raise ArchcalcError(
            f"cannot write a chart as {chosen or 'a file without extension'!r}",
            hint="use a .png, .svg or .pdf file name",
        )
    fig = figure(reports, metric, depth=depth, scale=scale)
    buffer = io.BytesIO()
    fig.savefig(buffer, format=chosen, dpi=dpi)
    write_text_atomic(path, buffer.getvalue())
    return chosen


_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar_text(value: float, top: float, width: int) -> str:
    """A bar of ``value / top · width`` cells drawn with full and eighth blocks."""
    if top <= 0 or value <= 0:
        return ""
    eighths = round(value / top * width * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def terminal_bars(reports: Report | Sequence[Report], metric: str = "all", *,
                  width: int = 40, depth: int | None = None) -> RenderableType:
    """The same charts as rich tables with inline bars (no matplotlib needed), one row per
    layer or, with ``depth``, per block (:func:`bars`). With several reports every table shares
    one scale per metric, so the bars compare across networks."""
    from rich import box
    from rich.console import Group
    from rich.table import Table

    items = _as_list(reports)
    per_report = [bars(r, depth) for r in items]
    parts: list[RenderableType] = []
    for m in metrics(metric):
        top = max((m.of(bar.counts) for found in per_report for bar in found), default=0.0)
        for report, found in zip(items, per_report, strict=True):
            title = (f"{_axis_label(m, items)} — {report.name}: total "
                     f"{m.total(report):,.1f} {m.unit}")
            table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
            table.add_column("layer" if depth is None else "block")
            table.add_column(m.unit, justify="right")
            table.add_column("", no_wrap=True)
            for bar in found:
                value = m.of(bar.counts)
                table.add_row(bar.name, f"{value:,.1f}", bar_text(value, top, width))
            parts.append(table)
    return Group(*parts)
