"""LaTeX export of a report: a booktabs table ready for a Beamer slide."""

from __future__ import annotations

from .report import COLUMNS, Report, row_cells, summary_lines, total_cells

_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "×": r"$\times$", "–": "--", "·": r"$\cdot$", "′": "'",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def report_latex(report: Report) -> str:
    """``\\begin{tabular}`` with ``\\toprule``/``\\midrule``/``\\bottomrule`` (needs booktabs)."""
    lines = [
        "% archcalc: " + latex_escape(summary_lines(report)[0]),
        "% requires \\usepackage{booktabs}",
        "\\begin{tabular}{lllrrrl}",
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
    return "\n".join(lines) + "\n"
