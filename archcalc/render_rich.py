"""Rich terminal table of a :class:`~archcalc.report.Report` (the lecture's columns)."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from .report import COLUMNS, Report, row_cells, summary_lines, total_cells

MAX_ROWS_DEFAULT = 400


def report_table(report: Report, *, max_rows: int | None = MAX_ROWS_DEFAULT) -> RenderableType:
    """The lecture table: one row per layer, a totals row, and the convention lines.

    Very large graphs are truncated in the middle to ``max_rows`` rows (``None``: all rows) —
    rendering 100k rows is slow and unreadable; JSON/CSV always carry every row.
    """
    summary = summary_lines(report)
    table = Table(title=summary[0], box=box.SIMPLE_HEAD, title_justify="left")
    for i, col in enumerate(COLUMNS):
        table.add_column(col, justify="right" if 3 <= i <= 5 else "left",
                         no_wrap=i != 0 and i != 1)
    rows = report.layers
    skipped = 0
    if max_rows is not None and len(rows) > max_rows:
        head, tail = rows[: max_rows // 2], rows[-(max_rows // 2):]
        skipped = len(rows) - len(head) - len(tail)
        for row in head:
            table.add_row(*row_cells(row))
        table.add_row(f"… {skipped:,} rows …", "", "", "", "", "", "")
        rows = tail
    for row in rows:
        table.add_row(*row_cells(row))
    table.add_section()
    table.add_row(*total_cells(report), style="bold")
    parts: list[RenderableType] = [table]
    for line in summary[1:]:
        parts.append(Text(line, style="dim" if line.startswith(("convention", "units")) else ""))
    if skipped:
        parts.append(Text(f"{skipped:,} rows hidden; --all-rows shows them", style="dim"))
    for warning in report.warnings:
        parts.append(Text(f"warning: {warning}", style="yellow"))
    return Group(*parts)
