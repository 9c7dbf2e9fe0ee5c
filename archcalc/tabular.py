"""Plain tables for the comparison, sweep and check results: Markdown and LaTeX (booktabs).

The results compute their cells; these two functions only lay them out, so that every command's
Markdown and LaTeX look alike (the ``table`` command's own LaTeX is
:func:`archcalc.export.report_latex`, which this follows: booktabs rules, numbers right-aligned,
notes as ``%`` comments after the table so that ``\\input{}`` in a Beamer frame shows the table
alone).

>>> print(markdown_table(["a", "b"], [["x", "1"]], [False, True]), end="")
| a | b |
|---|---:|
| x | 1 |
"""

from __future__ import annotations

from collections.abc import Sequence

from .export import latex_escape


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]],
                   right: Sequence[bool]) -> str:
    """A GitHub-flavoured Markdown table; ``right[i]`` right-aligns column i."""
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
             "|" + "".join("---:|" if r else "---|" for r in right)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def latex_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool],
                *, title: str = "", notes: Sequence[str] = (),
                rules_before: Sequence[int] = ()) -> str:
    """A booktabs ``tabular``: ``\\toprule``, the header, ``\\midrule``, the rows (and a
    ``\\midrule`` before each row index in ``rules_before``), ``\\bottomrule``. ``title`` and
    ``notes`` become ``%`` comment lines before and after it."""
    spec = "".join("r" if r else "l" for r in right)
    lines = [f"% archcalc: {latex_escape(title)}"] if title else []
    lines += ["% requires \\usepackage{booktabs}", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
              " & ".join(latex_escape(h) for h in header) + " \\\\", "\\midrule"]
    breaks = set(rules_before)
    for i, row in enumerate(rows):
        if i in breaks:
            lines.append("\\midrule")
        lines.append(" & ".join(latex_escape(c) for c in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    lines += [f"% {latex_escape(n)}" for n in notes]
    return "\n".join(lines) + "\n"


__all__ = ["latex_table", "markdown_table"]
