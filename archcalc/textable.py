"""Width-aware plain-text tables: every table the CLI prints goes through :func:`render`.

The rules, in the order they are applied when a table is wider than the width it is given:

1. **Numbers are never cut.** A ``number`` column is always as wide as its widest cell.
2. **Headers wrap** at spaces (``FLOPs (lecture)`` over two lines) before anything else gives.
3. **Text wraps.** A ``text`` column (a description) wraps onto more lines, down to its
   ``min_width``.
4. **Names keep the part that distinguishes them.** A ``name`` column (layer names) may shrink
   to the longest *distinguishing suffix* of its names: each name's shortest tail of dotted
   components that no other name in the column ends with (``…downsample1`` only where no other
   row ends in ``downsample1``). A shortened name starts with ``…``.
   A cell may hold several lines (``"57.6 MiB\\n(25.2×)"``): its width is its widest line.
5. **Columns are dropped in a stated order**: the highest ``drop`` first (ties: the rightmost);
   ``drop=0`` columns always stay. :attr:`Rendered.dropped` lists them, and the caller prints a
   footer saying which were dropped and how to see them (:func:`dropped_note`).
6. As a last resort a name is shortened further (still ``…`` + its tail), to no less than
   ``NAME_FLOOR`` characters; past that the table is wider than asked, never cut.

Lines carry no trailing spaces. Each line has a ``style`` (``bold``, ``dim``, ``head``,
``red``, ``warn`` or ``""``) that a terminal may show and a file ignores (:func:`styled`).

>>> cols = (Column("layer", "layer", kind="name"), Column("params", "params"),
...         Column("RF", "RF", drop=1))
>>> out = render(cols, [Row(("conv1", "23.3 k", "11")), Row(("fc8", "4.10 M", "–"))], width=15)
>>> print(out.text(), end="")
layer  params
─────────────
conv1  23.3 k
fc8    4.10 M
>>> [c.key for c in out.dropped]
['RF']
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

GAP = 2
INDENT = 2
NAME_FLOOR = 8
ELLIPSIS = "…"


class Column(NamedTuple):
    """One column: ``key`` (what ``--columns`` and the footer call it), ``header``, alignment,
    ``kind`` (``number``: never cut; ``name``: shortened from the left, keeping its
    distinguishing tail; ``text``: wraps), and ``drop`` (0: never dropped; higher: dropped
    earlier when the width is short)."""

    key: str
    header: str
    kind: Literal["number", "name", "text"] = "number"
    drop: int = 0
    min_width: int = 12
    #: ``right`` or ``left``; default: numbers right, names and text left
    align: Literal["left", "right", ""] = ""

    @property
    def right(self) -> bool:
        return self.align == "right" or (not self.align and self.kind == "number")


class Row(NamedTuple):
    """One row: ``cells`` (one per column), a ``style``, the ``indent`` level of the first
    cell (group members under a header), ``rule`` (a rule line before the row) and ``note``
    (the first cell is a note spanning the table; the other cells are ignored)."""

    cells: Sequence[str]
    style: str = ""
    indent: int = 0
    rule: bool = False
    note: bool = False


class Line(NamedTuple):
    text: str
    style: str = ""


class Rendered(NamedTuple):
    """The lines of a rendered table, the columns that did not fit (in the order they were
    dropped), and the width used."""

    lines: tuple[Line, ...]
    dropped: tuple[Column, ...]
    width: int

    def text(self) -> str:
        return "".join(line.text + "\n" for line in self.lines)


def render(columns: Sequence[Column], rows: Iterable[Row], *, width: int | None = None,
           gap: int = GAP) -> Rendered:
    """Lay out ``rows`` under ``columns`` in at most ``width`` characters (None: as wide as
    the content, every column shown), following the module's rules."""
    rows = list(rows)
    cols = list(range(len(columns)))
    indent = [r.indent * INDENT for r in rows]

    def cell_width(c: int) -> int:
        w = 0
        for r, row in enumerate(rows):
            if row.note:
                continue
            text = row.cells[c]
            n = (max(map(len, text.split("\n"))) if "\n" in text else len(text)) + (
                indent[r] if c == 0 else 0)
            if n > w:
                w = n
        return w

    natural = [cell_width(c) for c in cols]
    head = [len(col.header) for col in columns]
    word = [max(len(w) for w in (col.header.split() or [""])) for col in columns]
    widths = [max(natural[c], head[c]) for c in cols]
    shown = list(cols)

    def total() -> int:
        return sum(widths[c] for c in shown) + gap * (len(shown) - 1)

    wrapped_heads = False
    dropped_order: list[int] = []
    if width is not None and total() > width:
        wrapped_heads = True
        for c in cols:  # 2. headers wrap at spaces
            widths[c] = max(natural[c], word[c])
        for c in cols:  # 3. text columns wrap
            if columns[c].kind == "text" and total() > width:
                widths[c] = max(columns[c].min_width, word[c], widths[c] - (total() - width))
        floors = {c: _distinguishing_width(rows, c, indent) for c in cols
                  if columns[c].kind == "name"}
        for c, floor in floors.items():  # 4. names to their distinguishing suffixes
            if total() > width:
                widths[c] = max(floor, word[c], widths[c] - (total() - width))
        order = sorted((c for c in cols if columns[c].drop > 0),
                       key=lambda c: (-columns[c].drop, -c))
        for c in order:  # 5. drop columns
            if total() <= width:
                break
            shown.remove(c)
            dropped_order.append(c)
        for c in floors:  # 6. names further, to the floor
            if total() > width:
                widths[c] = max(NAME_FLOOR, word[c], widths[c] - (total() - width))
    dropped = tuple(columns[c] for c in (dropped_order if wrapped_heads else ()))
    lines = _lines(columns, rows, shown, widths, indent, gap, wrapped_heads, width)
    used = max((len(line.text) for line in lines), default=0)
    return Rendered(tuple(lines), dropped, used)


def _lines(columns: Sequence[Column], rows: list[Row], shown: list[int], widths: list[int],
           indent: list[int], gap: int, wrapped_heads: bool,
           width_limit: int | None) -> list[Line]:
    """The text of the table; note rows wrap to the width given (the table's own width when
    none), not to the columns'."""
    sep = " " * gap
    table_width = sum(widths[c] for c in shown) + gap * (len(shown) - 1)
    out: list[Line] = []
    heads = [(textwrap.wrap(columns[c].header, widths[c]) or [""]) if wrapped_heads
             else [columns[c].header] for c in shown]
    depth = max(len(h) for h in heads)
    for i in range(depth):  # headers sit on the bottom line, as numbers do
        cells = []
        for h, c in zip(heads, shown, strict=True):
            text = h[i - (depth - len(h))] if i >= depth - len(h) else ""
            cells.append(_pad(text, widths[c], columns[c].right))
        out.append(Line(sep.join(cells).rstrip(), "bold"))
    out.append(Line("─" * table_width, "dim"))
    for r, row in enumerate(rows):
        if row.rule:
            out.append(Line("─" * table_width, "dim"))
        if row.note:
            room = max((width_limit or table_width) - indent[r], 20)
            for text in textwrap.wrap(row.cells[0], room, break_long_words=False,
                                      break_on_hyphens=False) or [""]:
                out.append(Line((" " * indent[r] + text).rstrip(), row.style or "dim"))
            continue
        parts: list[list[str]] = []
        for c in shown:
            col, text = columns[c], row.cells[c]
            room = widths[c] - (indent[r] if c == shown[0] else 0)
            if col.kind == "text" and len(text) > room:
                parts.append(textwrap.wrap(text, room, break_long_words=False,
                                           break_on_hyphens=False) or [""])
            elif col.kind == "name" and len(text) > room:
                parts.append([shorten_name(text, room)])
            else:
                parts.append(text.split("\n"))
        for k in range(max(len(p) for p in parts)):
            cells = []
            for j, c in enumerate(shown):
                text = parts[j][k] if k < len(parts[j]) else ""
                pad = indent[r] if j == 0 else 0
                cells.append(" " * pad + _pad(text, widths[c] - pad, columns[c].right))
            out.append(Line(sep.join(cells).rstrip(), row.style))
    return out


def _pad(text: str, width: int, right: bool) -> str:
    return text.rjust(width) if right else text.ljust(width)


def shorten_name(name: str, width: int) -> str:
    """``name`` in at most ``width`` characters: whole, or ``…`` and its longest tail of dotted
    components that fits (``…0.downsample1``), or ``…`` and its last characters."""
    if len(name) <= width:
        return name
    parts = name.split(".")
    for k in range(1, len(parts)):
        tail = ".".join(parts[k:])
        if len(tail) + 1 <= width:
            return ELLIPSIS + tail
    return ELLIPSIS + name[len(name) - max(width - 1, 1):]


def _tails(name: str) -> list[str]:
    """Every tail of ``name``'s dotted components, the whole name first."""
    parts = name.split(".")
    return [".".join(parts[k:]) for k in range(len(parts))]


def distinguishing_suffix(name: str, names: Iterable[str]) -> str:
    """The shortest tail of ``name``'s dotted components that no other of ``names`` ends with
    (the whole name when every shorter tail is shared)."""
    counts: dict[str, int] = {}
    for other in {*names, name}:
        for tail in _tails(other):
            counts[tail] = counts.get(tail, 0) + 1
    return next((t for t in reversed(_tails(name)) if counts[t] == 1), name)


def _distinguishing_width(rows: list[Row], c: int, indent: list[int]) -> int:
    """The width a name column needs so that every name keeps its distinguishing suffix
    (``…`` + suffix, plus the row's indent). Linear in the total length of the names: each
    tail is counted once in a table of tail → how many distinct names end with it."""
    names = {row.cells[c] for row in rows if not row.note}
    counts: dict[str, int] = {}
    for name in names:
        for tail in _tails(name):
            counts[tail] = counts.get(tail, 0) + 1
    need = 0
    for r, row in enumerate(rows):
        if row.note:
            continue
        name = row.cells[c]
        width = len(name)
        for tail in reversed(_tails(name)[1:]):
            if counts[tail] == 1:
                width = len(tail) + len(ELLIPSIS)
                break
        need = max(need, width + (indent[r] if c == 0 else 0))
    return need


def dropped_note(dropped: Sequence[Column], width: int, how: str) -> str:
    """The footer for dropped columns: ``"not shown at 80 columns: FLOPs, RF — {how}"``."""
    return (f"not shown at {width} columns: " + ", ".join(c.header for c in dropped)
            + f" — {how}")


def wrap(text: str, width: int | None, *, indent: str = "", style: str = "") -> list[Line]:
    """A paragraph as lines of at most ``width`` characters (None: one line), the second and
    later lines indented by ``indent``."""
    if width is None or len(text) <= width:
        return [Line(text.rstrip(), style)]
    return [Line(t.rstrip(), style) for t in textwrap.wrap(
        text, width, subsequent_indent=indent, break_on_hyphens=False,
        break_long_words=False)]


ANSI = {"bold": ("1",), "dim": ("2",), "head": ("1",), "red": ("1", "31"),
        "warn": ("33",)}


def styled(lines: Iterable[Line], *, color: bool) -> str:
    """The lines as text, with ANSI styles when ``color`` (a terminal)."""
    out = []
    for line in lines:
        codes = ANSI.get(line.style) if color else None
        if codes and line.text:
            out.append(f"\x1b[{';'.join(codes)}m{line.text}\x1b[0m\n")
        else:
            out.append(line.text + "\n")
    return "".join(out)
