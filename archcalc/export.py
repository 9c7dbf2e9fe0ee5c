"""Report exports for slides and notebooks: LaTeX (booktabs), HTML, and a format dispatcher.

Every export shows the lecture's columns (:data:`archcalc.report.COLUMNS`): layer, type, output
shape, memory KB (= activation bytes / 1024), params k (= params / 1000), flop M (= FLOPs / 10^6
under the report's convention) and the receptive field, then a totals row and the summary lines
(exact integers and the counting convention). Nothing is computed here: the figures come from the
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
from .report import COLUMNS, Report, row_cells, summary_lines, total_cells

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
#: numeric columns (right-aligned): memory KB, params k, flop M
_NUMERIC = (3, 4, 5)

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "×": r"$\times$", "–": "--", "·": r"$\cdot$", "′": "'",
}


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters; ``×``, ``·`` and ``–`` become math/dash equivalents."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def report_latex(report: Report, *, document: bool = False) -> str:
    """``\\begin{tabular}`` with ``\\toprule``/``\\midrule``/``\\bottomrule`` (needs booktabs).

    The summary lines follow as ``%`` comments, so ``\\input{alexnet.tex}`` inside a Beamer frame
    shows just the table (wrap it in ``\\resizebox{\\textwidth}{!}{...}`` for very wide nets).
    ``document=True`` wraps the table in a minimal ``article`` that compiles on its own.
    """
    spec = "".join("r" if i in _NUMERIC else "l" for i in range(len(COLUMNS)))
    lines = [
        "% archcalc: " + latex_escape(summary_lines(report)[0]),
        "% requires \\usepackage{booktabs}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(latex_escape(c) for c in COLUMNS) + " \\\\",
        "\\midrule",
    ]
    for row in report.layers:
        lines.append(" & ".join(latex_escape(c) for c in row_cells(row)) + " \\\\")
    lines.append("\\midrule")
    lines.append(" & ".join(latex_escape(c) for c in total_cells(report)) + " \\\\")
    lines.append("\\bottomrule")
    lines.append("\\end{tabular}")
    for line in summary_lines(report)[1:]:
        lines.append("% " + latex_escape(line))
    for warning in report.warnings:
        lines.append("% warning: " + latex_escape(warning))
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


def report_html(report: Report, *, max_rows: int | None = None) -> str:
    """An HTML table of the lecture columns (Jupyter's ``_repr_html_``).

    With ``max_rows`` a very large report keeps its first and last ``max_rows // 2`` rows and
    says how many are hidden (the JSON/CSV exports always carry every row).
    """
    summary = summary_lines(report)
    esc = html.escape

    def cells(values: tuple[str, ...], tag: str = "td") -> str:
        return "".join(
            f'<{tag} style="text-align:{"right" if i in _NUMERIC else "left"}">{esc(v)}</{tag}>'
            for i, v in enumerate(values)
        )

    out = [
        '<div class="archcalc-report">',
        f"<p><strong>{esc(report.name)}</strong> — {esc(summary[0].split(': ', 1)[-1])}</p>",
        "<table>",
        f"<thead><tr>{cells(COLUMNS, 'th')}</tr></thead>",
        "<tbody>",
    ]
    rows = report.layers
    hidden = 0
    if max_rows is not None and len(rows) > max_rows:
        half = max(max_rows // 2, 1)
        hidden = len(rows) - 2 * half
        for row in rows[:half]:
            out.append(f"<tr>{cells(row_cells(row))}</tr>")
        out.append(f'<tr><td colspan="{len(COLUMNS)}">… {hidden:,} rows hidden …</td></tr>')
        rows = rows[-half:]
    for row in rows:
        out.append(f"<tr>{cells(row_cells(row))}</tr>")
    out.append(
        f'<tr style="font-weight:bold;border-top:1px solid">{cells(total_cells(report))}</tr>'
    )
    out.append("</tbody>")
    out.append("</table>")
    notes = [esc(line) for line in summary[1:]]
    notes += [f"warning: {esc(w)}" for w in report.warnings]
    out.append('<p style="font-size:smaller">' + "<br>".join(notes) + "</p>")
    out.append("</div>")
    return "\n".join(out) + "\n"


def format_from_path(path: str | os.PathLike[str]) -> str | None:
    """The export format an output file's extension asks for (``.tex`` → ``latex``), or None."""
    return EXTENSIONS.get(os.path.splitext(os.fspath(path))[1].lower())


def render(report: Report, fmt: str) -> str:
    """``report`` as text in one of :data:`FORMATS`."""
    if fmt == "markdown":
        return report.to_markdown()
    if fmt == "csv":
        return report.to_csv()
    if fmt == "json":
        return report.to_json()
    if fmt == "latex":
        return report_latex(report)
    if fmt == "html":
        return report_html(report)
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
