"""Per-layer bar charts of a report: the AlexNet slide's three panels and the AlexNet vs VGG-16
overlay.

One bar per layer row of the report, in the lecture table's units:

* ``memory`` — activation memory in KB = ``activation_bytes / 1024`` (output × batch × dtype
  bytes): "most memory in the early conv layers";
* ``params`` — parameters in thousands = ``params / 1000``: "nearly all parameters in the FC
  layers";
* ``flops`` — FLOPs in millions = ``flops / 10^6`` under the report's convention: "most FLOPs in
  the conv layers".

``all`` draws the three panels side by side; several reports are drawn as grouped bars per layer
index, each labelled with its total. Images need matplotlib (``pip install 'archcalc[plot]'``);
it is imported only when a figure is made, without pyplot (no global state, no display needed).
:func:`terminal_bars` draws the same bars with rich, without matplotlib.

>>> import archcalc
>>> alexnet = archcalc.analyze("alexnet")
>>> values("params", alexnet)[-1]       # fc8: 4096·1000 + 1000 parameters, in thousands
('fc8', 4097.0)
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import ArchcalcError
from .report import LayerRow, Report

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from rich.console import RenderableType

#: image formats :func:`save` writes (chosen from the file extension)
IMAGE_FORMATS: tuple[str, ...] = ("png", "svg", "pdf")
INSTALL_HINT = "pip install 'archcalc[plot]'  (or: pip install matplotlib)"
PANEL_SIZE = (6.4, 4.8)  # inches per panel; at the default 100 dpi a panel is 640 × 480 pixels
MAX_LABELLED = 60  # more layers than this: number the bars instead of naming each
MAX_NUMBERED = 15  # at most about this many numbered ticks


@dataclass(frozen=True)
class Metric:
    """A per-layer quantity: the row attribute it reads and the divisor to its display unit."""

    name: str
    title: str
    unit: str
    divisor: int
    attribute: str

    def of(self, row: LayerRow) -> float:
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


def _axis_label(m: Metric, reports: list[Report]) -> str:
    if m.name == "flops":
        conventions = sorted({r.convention for r in reports})
        return f"{m.title} ({m.unit}, {' / '.join(conventions)})"
    return f"{m.title} ({m.unit})"


def _nice_step(n: int) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, … giving at most :data:`MAX_NUMBERED` ticks."""
    step = 1
    while math.ceil(n / step) > MAX_NUMBERED:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return step


def _short(name: str, width: int = 18) -> str:
    """A tick label: long block-path names keep their informative tail."""
    return name if len(name) <= width else "…" + name[-(width - 1):]


def require_matplotlib() -> None:
    """Raise :class:`PlotUnavailable` (saying how to install it) when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailable(
            "drawing an image needs matplotlib, which is not installed",
            hint=INSTALL_HINT + "; `archcalc plot SPEC` without -o draws the bars in the terminal",
        ) from None


def figure(reports: Report | Sequence[Report], metric: str = "all", *,
           size: tuple[float, float] | None = None) -> Figure:
    """A matplotlib :class:`~matplotlib.figure.Figure`: one panel per metric, one bar per layer
    and report (grouped when several reports are given), totals in the legend.

    ``size`` is (width, height) in inches; the default is :data:`PANEL_SIZE` per panel.
    """
    require_matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.ticker import StrMethodFormatter

    chosen = metrics(metric)
    items = _as_list(reports)
    width, height = size or (PANEL_SIZE[0] * len(chosen), PANEL_SIZE[1])
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(1, len(chosen), squeeze=False)[0]
    longest = max(len(r.layers) for r in items)
    named = len(items) == 1 and longest <= MAX_LABELLED
    step = 1 if named else _nice_step(longest)
    group = 0.8 / len(items)
    for ax, m in zip(axes, chosen, strict=True):
        for i, report in enumerate(items):
            offset = (i - (len(items) - 1) / 2) * group
            xs = [x + offset for x in range(len(report.layers))]
            label = f"{report.name}: total {m.total(report):,.1f} {m.unit}"
            ax.bar(xs, [m.of(row) for row in report.layers], group, label=label)
        ticks = [*([0] if step > 2 else []), *range(step - 1, longest, step)]  # 1, 5, 10, …
        ax.set_xticks(ticks)
        if named:
            names = [_short(items[0].layers[t].name) for t in ticks]
            ax.set_xticklabels(names, rotation=90, fontsize="small")
        else:  # several networks, or too many layers to name: the row number in the table
            ax.set_xticklabels([str(t + 1) for t in ticks], fontsize="small")
            ax.set_xlabel("layer (row of the table)")
        ax.set_title(_axis_label(m, items))
        ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
        ax.margins(y=0.3)  # headroom above the tallest bar for the legend
        ax.legend(fontsize="small")
    return fig


def save(reports: Report | Sequence[Report], path: str | os.PathLike[str],
         metric: str = "all", *, dpi: int = 100, fmt: str | None = None) -> str:
    """Draw :func:`figure` and write it to ``path`` (PNG, SVG or PDF, from the extension unless
    ``fmt`` is given); returns the format. The file is replaced atomically."""
    from .export import write_text_atomic

    chosen = fmt or os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if chosen not in IMAGE_FORMATS:
        raise ArchcalcError(
            f"cannot write a chart as {chosen or 'a file without extension'!r}",
            hint="use a .png, .svg or .pdf file name",
        )
    fig = figure(reports, metric)
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
                  width: int = 40) -> RenderableType:
    """The same charts as rich tables with inline bars (no matplotlib needed). With several
    reports every table shares one scale per metric, so the bars compare across networks."""
    from rich import box
    from rich.console import Group
    from rich.table import Table

    items = _as_list(reports)
    parts: list[RenderableType] = []
    for m in metrics(metric):
        top = max((m.of(row) for r in items for row in r.layers), default=0.0)
        for report in items:
            title = (f"{_axis_label(m, items)} — {report.name}: total "
                     f"{m.total(report):,.1f} {m.unit}")
            table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
            table.add_column("layer")
            table.add_column(m.unit, justify="right")
            table.add_column("", no_wrap=True)
            for row in report.layers:
                value = m.of(row)
                table.add_row(row.name, f"{value:,.1f}", bar_text(value, top, width))
            parts.append(table)
    return Group(*parts)
