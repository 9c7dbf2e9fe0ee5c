"""Report exports for slides and notebooks: Markdown, LaTeX (booktabs), HTML, and a format
dispatcher.

Every export renders the same :class:`~archcalc.tableview.TableView` as the terminal table —
the same columns, cells, depth and range (see :mod:`archcalc.tableview`) — under a header line
saying what was analysed (name, input, batch, dtype, FLOP convention), then the totals block
and the convention line. Nothing is computed here: the figures come from the
:class:`~archcalc.report.Report`.

>>> import archcalc
>>> report = archcalc.analyze("alexnet")
>>> render(report, "latex").count(r"\\midrule")       # after the header and before the totals
2
>>> format_from_path("slides/alexnet.tex")
'latex'
"""

from __future__ import annotations

import html
import os

from .errors import ArchcalcError
from .report import Report
from .tableview import (
    DEFAULT,
    Options,
    TableView,
    ViewRow,
    after_table,
    convention_lines,
    table_view,
    totals_block,
)

#: export formats and the file extensions that select them
FORMATS: tuple[str, ...] = ("markdown", "csv", "json", "latex", "html")
EXTENSIONS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".csv": "csv",
    ".json": "json",
    ".tex": "latex",
    ".html": "html",
    ".htm": "html",
}

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "×": r"$\times$", "–": "--", "·": r"$\cdot$", "′": "'", "…": r"\ldots{}",
    "²": r"$^2$", "³": r"$^3$", "⁶": r"$^6$", "⁹": r"$^9$", "¹": r"$^1$", "⁰": r"$^0$",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters; ``×``, ``·`` and ``–`` become math/dash equivalents."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _notes(report: Report, view: TableView, options: Options) -> list[str]:
    """The lines after a table: footers, totals block, convention, warnings."""
    return [line for line in after_table(report, view, options) if line]


_BOLD_KINDS = ("total", "range", "header")


def report_markdown(report: Report, options: Options = DEFAULT) -> str:
    """A Markdown table with the header line above it and the totals block below (lines
    ending in two spaces, i.e. line breaks). Group members are indented with no-break spaces;
    group headers, ranges and the totals are bold."""
    view = table_view(report, options)
    out = [f"**{_md(report.name)}** — {_md(view.header.split(' · ', 1)[1])}", "",
           "| " + " | ".join(_md(c.header) for c in view.columns) + " |",
           "|" + "|".join("---:" if c.right else "---" for c in view.columns) + "|"]
    for row in view.rows:
        cells = [_md(c) for c in row.cells]
        cells[0] = "\u00a0\u00a0" * row.indent + cells[0]
        if row.kind in _BOLD_KINDS:
            cells = [f"**{c}**" if c else "" for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    notes = [line for line in after_table(report, view, options._replace(quiet=True))
             if line and not line.startswith("warning: ")]
    if notes:
        out += ["", *(f"{_md(line)}  " for line in notes)]
    if not options.quiet:
        out += ["", "| totals | | |", "|---|---:|---|"]
        out += [f"| {_md(label)} | {value} | {_md(aside)} |"
                for label, value, aside in totals_block(report, exact=options.exact)]
        out.append("")
        out += [_md(line) + "  " for line in convention_lines(
            report, full=options.full_convention, style=options.style, hint=None)]
    out += [f"warning: {_md(w)}  " for w in report.warnings]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def report_latex(report: Report, options: Options = DEFAULT, *,
                 document: bool = False) -> str:
    """``\\begin{tabular}`` with ``\\toprule``/``\\midrule``/``\\bottomrule`` (needs booktabs).

    The header line and the totals block are ``%`` comments, so ``\\input{alexnet.tex}`` inside
    a Beamer frame shows just the table (wrap it in ``\\resizebox{\\textwidth}{!}{...}`` for
    very wide nets). ``document=True`` wraps the table in a minimal ``article`` that compiles
    on its own.
    """
    view = table_view(report, options)
    spec = "".join("r" if c.right else "l" for c in view.columns)
    lines = [
        "% archcalc: " + latex_escape(view.header),
        "% requires \\usepackage{booktabs}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(latex_escape(c.header) for c in view.columns) + " \\\\",
        "\\midrule",
    ]
    for row in view.rows:
        if row.kind == "total" or row.kind == "range":
            lines.append("\\midrule")
        cells = [latex_escape(c) for c in row.cells]
        cells[0] = "\\quad " * row.indent + cells[0]
        if row.kind == "header":  # the totals stand out by their \\midrule, as booktabs does
            cells = [f"\\textbf{{{c}}}" if c else "" for c in cells]
        lines.append(" & ".join(cells) + " \\\\")
    lines.append("\\bottomrule")
    lines.append("\\end{tabular}")
    lines.extend("% " + latex_escape(line) for line in _notes(report, view, options))
    body = "\n".join(lines) + "\n"
    if not document:
        return body
    return (
        "\\documentclass{article}\n"
        "\\usepackage{booktabs}\n"
        "\\usepackage[margin=1cm,landscape]{geometry}\n"
        "\\pagestyle{empty}\n"
        "\\begin{document}\n"
        "\\begin{center}\n"
        f"{body}"
        "\\end{center}\n"
        "\\end{document}\n"
    )


def report_html(report: Report, options: Options = DEFAULT) -> str:
    """An HTML table (Jupyter's ``_repr_html_``): the header line, the table (group members
    indented, headers and totals bold) and the totals block. More than ``options.max_rows``
    rows are collapsed to a depth that fits, or cut in the middle, with a note saying so."""
    view = table_view(report, options)
    esc = html.escape

    def cells(row: ViewRow | None) -> str:
        out = []
        for i, col in enumerate(view.columns):
            text = col.header if row is None else row.cells[i]
            tag = "th" if row is None else "td"
            pad = f";padding-left:{row.indent * 1.5:g}em" if row is not None and i == 0 \
                and row.indent else ""
            out.append(f'<{tag} style="text-align:{"right" if col.right else "left"}{pad}">'
                       f"{esc(text)}</{tag}>")
        return "".join(out)

    out = [
        '<div class="archcalc-report">',
        f"<p><strong>{esc(report.name)}</strong> — {esc(view.header.split(' · ', 1)[1])}</p>",
        "<table>",
        f"<thead><tr>{cells(None)}</tr></thead>",
        "<tbody>",
    ]
    for row in view.rows:
        style = ' style="font-weight:bold;border-top:1px solid"' if row.kind in (
            "total", "range") else ' style="font-weight:bold"' if row.kind == "header" else ""
        out.append(f"<tr{style}>{cells(row)}</tr>")
    out.append("</tbody>")
    out.append("</table>")
    notes = [esc(line) for line in _notes(report, view, options)]
    out.append('<p style="font-size:smaller;white-space:pre">' + "<br>".join(notes) + "</p>")
    out.append("</div>")
    return "\n".join(out) + "\n"


def format_from_path(path: str | os.PathLike[str]) -> str | None:
    """The export format an output file's extension asks for (``.tex`` → ``latex``), or None."""
    return EXTENSIONS.get(os.path.splitext(os.fspath(path))[1].lower())


def render(report: Report, fmt: str, options: Options = DEFAULT) -> str:
    """``report`` as text in one of :data:`FORMATS` (the table formats as ``options`` asks)."""
    if fmt == "markdown":
        return report_markdown(report, options)
    if fmt == "csv":
        return report.to_csv()
    if fmt == "json":
        return report.to_json()
    if fmt == "latex":
        return report_latex(report, options)
    if fmt == "html":
        return report_html(report, options)
    raise ArchcalcError(
        f"unknown export format {fmt!r}",
        hint="choose one of " + ", ".join(FORMATS),
    )


def save(report: Report, path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """Write ``report`` to ``path`` in ``fmt`` (default: from the extension, see
    :data:`EXTENSIONS`) and return the format used. The file is replaced atomically: a failure
    leaves no partial file behind."""
    chosen = fmt or format_from_path(path)
    if chosen is None:
        raise ArchcalcError(
            f"cannot tell the format of {os.fspath(path)!r} from its extension",
            hint="use .md, .csv, .json, .tex or .html, or pass fmt=",
        )
    write_text_atomic(path, render(report, chosen))
    return chosen


def write_text_atomic(path: str | os.PathLike[str], content: str | bytes) -> None:
    """Write ``content`` to ``path``: a regular file (or a new path) is replaced atomically,
    a FIFO or device written through (see :mod:`archcalc.outfile`). A missing directory, a
    permission problem or a full disk raises :class:`~archcalc.ArchcalcError` naming the file."""
    from .outfile import write_output

    write_output(path, content)
