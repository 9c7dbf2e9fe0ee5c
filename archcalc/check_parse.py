"""Reading a slide as a lecturer pastes it: tables (Markdown, CSV, tab-separated), statements
("Memory: 7.5 MB", "Trainable params: 12"), arithmetic ("9216 × 4096 + 4096 = 37,725,832"),
and the VGG-style stage claims ("Stage 3: conv-conv-pool").

Nothing is computed against a network here; :mod:`archcalc.check` does that. This module turns
text into :class:`Table`, :class:`Statement`, :class:`Chain` and :class:`StageClaim` values that
keep where each printed number stands (line and column) and how it was rounded: a number printed
with d decimals in a unit u stands for any value within half a unit of its last digit,
``u·10^-d / 2``.

Tables: a header of one or two rows — a group row ("Input size", "Layer", "Output size") whose
labels span the empty cells after them, then the column labels — and data rows. Each column is
classified by its label (``memory (KB)``, ``params (k)``, ``flop (M)``, ``C``, ``H / W``,
``filters``, ``kernel``, ``stride``, ``pad``, ``Type / Stride``, ``Filter Shape``, ``Input
Size``, a scale parameter of the spec…), the unit read from the label. A row starting ``5×``
stands for that row and the rows after it with an empty first cell, repeated (MobileNet's
Table 1). Limits keep every run bounded: 1 MB of text, 5,000 lines checked.
"""

from __future__ import annotations

import ast
import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from .errors import ArchcalcError

MAX_BYTES = 1 << 20
MAX_LINES = 5_000


# ================================================================================= numbers ==


@dataclass(frozen=True)
class Printed:
    """A number as printed: its text, value in base units, and the half-unit it stands for."""

    text: str
    value: Fraction
    tolerance: Fraction
    unit: str = ""
    scale: Fraction = Fraction(1)  # base units per printed unit (KB: 1024, k: 1000)
    decimals: int = 0

    def agrees(self, exact: Fraction) -> bool:
        return abs(exact - self.value) <= self.tolerance


#: count suffixes (``37,749 k``, ``0.39B``, ``120m``); memory units are bytes (KB = 1024)
COUNT_UNITS = {"": 1, "k": 10**3, "K": 10**3, "m": 10**6, "M": 10**6, "G": 10**9, "B": 10**9,
               "mflop": 10**6, "gflop": 10**9, "mflops": 10**6, "gflops": 10**9, "flop": 1,
               "flops": 1}
MEMORY_UNITS = {"B": 1, "KB": 2**10, "kB": 2**10, "MB": 2**20, "GB": 2**30}
_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+")
_LITERAL = re.compile(
    r"^\s*(?P<num>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+)\s*"
    r"(?P<unit>KB|kB|MB|GB|[kKmMGB]|[MG]?FLOPs?|[MG]?flops?)?\s*$")


def printed_number(text: str, scale: Fraction = Fraction(1), unit: str = "") -> Printed | None:
    """``"37,749"`` in a ``params (k)`` column → 37,749,000 ± 500. A unit written in the text
    itself (``7.5 MB``, ``124K``, ``0.4 MFLOP``) overrides the column's. None if not a number."""
    m = _LITERAL.match(_clean(text))
    if m is None:
        return None
    num, suffix = m.group("num"), m.group("unit") or ""
    digits = num.split(".")[1] if "." in num else ""
    mult = scale
    shown = unit
    if suffix:
        if suffix == "B" and unit not in MEMORY_UNITS:  # 0.39B: billions (bytes only as memory)
            mult, shown = Fraction(10**9), suffix
        elif suffix in MEMORY_UNITS:
            mult, shown = Fraction(MEMORY_UNITS[suffix]), suffix
        else:
            mult = Fraction(COUNT_UNITS.get(suffix, COUNT_UNITS.get(suffix.lower(), 1)))
            shown = suffix
    value = Fraction(num.replace(",", "")) * mult
    tol = mult / (2 * 10 ** len(digits))
    return Printed(text.strip(), value, tol, shown, mult, len(digits))


def _clean(text: str) -> str:
    """Markdown emphasis, HTML bold, LaTeX ``$``/``\\times``/``\\text{}`` removed."""
    t = text.replace("**", "").replace("<b>", "").replace("</b>", "")
    t = re.sub(r"\\d?frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", t)
    t = re.sub(r"\\text\{([^}]*)\}", r"\1", t)
    t = re.sub(r"\\mathbf\{([^}]*)\}", r"\1", t)
    t = t.replace("\\times", "×").replace("\\cdot", "·").replace("$", "").replace("\\,", "")
    t = t.replace("\\left", "").replace("\\right", "").replace("\\ ", " ")
    t = t.replace("\u2009", "").replace("\u202f", "").replace("\u00a0", " ")
    return t.strip()


def shape_numbers(text: str) -> list[int]:
    """``224 × 224 × 3``, ``(32,32,3)``, ``3×3×32 dw`` → the integers in order."""
    return [int(n) for n in re.findall(r"\d+", _clean(text).replace(",", " "))]


# ============================================================================== arithmetic ==


@dataclass(frozen=True)
class Part:
    """One side of an ``=`` chain: a printed number, an expression of numbers, or text."""

    text: str
    col: int
    value: Fraction | None  # None: symbols or words, not checked
    literal: Printed | None  # set when the part is one printed number
    operands: tuple[str, ...] = ()  # the numbers of an expression, as written


@dataclass(frozen=True)
class Chain:
    """``a = b = c``: the numeric parts must all be equal (a printed number within its rounding)."""

    line: int
    text: str
    parts: tuple[Part, ...]

    @property
    def numeric(self) -> tuple[Part, ...]:
        return tuple(p for p in self.parts if p.value is not None)


_FUNCS = {"floor": math.floor, "ceil": math.ceil}
#: words that sit next to numbers in slide arithmetic and mean nothing to it
_NOISE = re.compile(r"(?<=\d)[a-z]{3,}\b|\b[a-z]{3,}\b")


def evaluate(text: str) -> tuple[Fraction, tuple[str, ...]] | None:
    """An arithmetic expression as slides write it — ``×``, ``x`` or ``*`` between numbers,
    ``·``, ``/``, ``+``, ``−``, parentheses, ``floor``/``ceil``, numbers with thousands commas or
    unit suffixes (``2.4m``), stray words (``+1 bias``, ``6 multipl``) — evaluated exactly. None
    when it holds symbols (``C_in × C_out``) or anything else that is not plain arithmetic."""
    t = _clean(text)
    t = t.replace("−", "-").replace("–", "-").replace("·", "*").replace("×", "*")
    t = re.sub(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])", "*", t)
    t = _NOISE.sub(lambda m: m.group(0) if m.group(0) in _FUNCS else " ", t)
    operands: list[str] = []

    def number(m: re.Match[str]) -> str:
        raw, unit = m.group(1), m.group(2) or ""
        operands.append(raw)
        value = Fraction(raw.replace(",", "")) * COUNT_UNITS.get(unit, 1)
        return f"({value.numerator}/{value.denominator})"

    t = re.sub(r"(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*([kKmMG](?![a-zA-Z]))?", number, t)
    if not operands or re.search(r"[A-Za-z_](?<!floor)(?<!ceil)", re.sub(r"floor|ceil", "", t)):
        return None
    try:
        tree = ast.parse(t.strip(), mode="eval")
    except SyntaxError:
        return None
    try:
        value = _eval(tree.body)
    except (ValueError, ZeroDivisionError):
        return None
    return value, tuple(operands)


def _eval(node: ast.expr) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) \
            and not isinstance(node.value, bool):
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult,
                                                             ast.Div)):
        a, b = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Add):
            return a + b
        if isinstance(node.op, ast.Sub):
            return a - b
        if isinstance(node.op, ast.Mult):
            if abs(a) > 10**30 or abs(b) > 10**30:
                raise ValueError("too large")
            return a * b
        return a / b
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
            and node.func.id in _FUNCS and len(node.args) == 1 and not node.keywords:
        return Fraction(_FUNCS[node.func.id](_eval(node.args[0])))
    raise ValueError("not arithmetic")


def chain(line: int, text: str, offset: int = 0) -> Chain:
    """Split ``text`` at ``=`` into parts and evaluate each (column of each part kept)."""
    parts = []
    col = offset
    for piece in text.split("="):
        lit = printed_number(piece)
        evaluated = None if lit is not None else evaluate(piece)
        value = lit.value if lit is not None else evaluated[0] if evaluated else None
        ops = evaluated[1] if evaluated else ()
        lead = len(piece) - len(piece.lstrip())
        parts.append(Part(_clean(piece), col + lead + 1, value, lit, ops))
        col += len(piece) + 1
    return Chain(line, _clean(text), tuple(parts))


# ================================================================================== tables ==


@dataclass(frozen=True)
class Cell:
    """A cell's text and where it stands (1-based line, 1-based column of its first character)."""

    text: str
    line: int
    col: int


@dataclass(frozen=True)
class Column:
    """A table column: position, label as printed, what it holds and in which unit."""

    index: int
    label: str
    kind: str
    scale: Fraction = Fraction(1)
    unit: str = ""


@dataclass(frozen=True)
class Row:
    """A data row: its cells, the layer label (``conv1``, ``max-pool``, ``Conv dw / s1``), and
    whether it is a total."""

    cells: tuple[Cell, ...]
    label: str
    line: int
    total: bool = False


@dataclass(frozen=True)
class Table:
    line: int
    columns: tuple[Column, ...]
    rows: tuple[Row, ...]
    unknown: tuple[str, ...] = ()  # labels of columns not understood


def _kind(label: str, group: str, seen: dict[str, int], scale_names: Sequence[str]
          ) -> tuple[str, Fraction, str]:
    """Classify a column by its label (and its group label): kind, unit multiplier, unit."""
    low = label.lower().strip()
    g = group.lower()
    unit = re.search(r"\(([^)]*)\)", label)
    u = unit.group(1).strip() if unit else ""
    words = re.sub(r"\([^)]*\)", "", low).strip()
    if "memory" in words or words in ("mem", "activation memory"):
        mult = MEMORY_UNITS.get(u, MEMORY_UNITS.get(u.upper(), 1)) if u else 1
        return "memory", Fraction(mult), u or "B"
    if "activation size" in words or words == "elements":
        return "elements", Fraction(1), ""
    if "activation shape" in words:
        return "out_shape", Fraction(1), ""
    if "mult-add" in words or "multadd" in words or words in ("macs", "mac") \
            or "mult-adds" in low:
        mult = 10**6 if "million" in words or u.lower() == "m" else 1
        return "macs", Fraction(mult), "M" if mult > 1 else ""
    if "flop" in words:
        mult = 10**9 if "gflop" in words or u.upper() == "G" else \
            10**6 if "mflop" in words or u.upper() == "M" else 1
        return "flops", Fraction(mult), {10**9: "G", 10**6: "M"}.get(mult, "")
    if "param" in words or words == "weights":
        mult = 10**6 if "million" in words or u == "M" else 10**3 if u in ("k", "K") else 1
        return "params", Fraction(mult), u
    if "type" in words and "stride" in words:
        return "type_stride", Fraction(1), ""
    if "filter shape" in words:
        return "filter_shape", Fraction(1), ""
    if words == "input size" or (words == "input" and not g):
        return "in_shape", Fraction(1), ""
    if words in ("filters", "#filters", "filters out"):
        return "filters", Fraction(1), ""
    if words in ("out", "c out", "c_out", "channels out"):
        return "out_c", Fraction(1), ""
    if words.startswith("kernel") or words == "k":
        return "kernel", Fraction(1), ""
    if words.startswith("stride") or words == "s":
        return "stride", Fraction(1), ""
    if words.startswith("pad") or words == "p":
        return "pad", Fraction(1), ""
    if words in ("in", "c in", "c_in"):
        return "in_c", Fraction(1), ""
    if words in ("#", "no", "no.", "idx", "index"):
        return "index", Fraction(1), ""
    side = "in" if "input" in g or g.startswith("in ") else "out" if "output" in g else ""
    axis = {"c": "c", "channels": "c", "h / w": "hw", "h/w": "hw", "hw": "hw", "h": "h",
            "w": "w"}.get(words.replace(" ", "") if words.replace(" ", "") == "h/w" else words)
    if axis is not None:
        if not side:  # no group: the first C (H, W) is the input's, the next the output's
            side = "in" if seen.get(axis, 0) == 0 else "out"
        seen[axis] = seen.get(axis, 0) + 1
        return f"{side}_{axis}", Fraction(1), ""
    if words in ("layer", "name", "type", "layer type", "operator") or words.startswith("layer"):
        return "label", Fraction(1), ""
    for name in scale_names:  # a scale parameter (a word, not a shape letter): configurations
        if len(name) > 1 and words.split(" ")[:1] == [name.lower()]:
            return f"scale:{name}", Fraction(1), ""
    return "unknown", Fraction(1), ""


def _split_rows(lines: Sequence[tuple[int, str]], fmt: str) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for number, text in lines:
        if fmt == "markdown":
            body = text.strip()
            if re.fullmatch(r"\|?[\s:|-]+\|?", body):
                continue  # the |---|---:| separator
            start = text.index("|") + 1
            pieces = text[start:].rstrip().rstrip("|").split("|")
            sep = "|"
        elif fmt == "csv":
            pieces = next(csv.reader(io.StringIO(text)))
            start, sep = 0, ","
        else:
            pieces = text.split("\t")
            start, sep = 0, "\t"
        cells = []
        col = start
        for piece in pieces:
            lead = len(piece) - len(piece.lstrip())
            cells.append(Cell(_clean(piece), number, col + lead + 1))
            col += len(piece) + len(sep)
        rows.append(cells)
    return rows


def _numeric(text: str) -> bool:
    """A number (``37,749``, ``0.39B``), a shape (``224 × 224 × 3``) or plain arithmetic."""
    t = text.strip()
    return bool(t) and (printed_number(t) is not None or bool(
        re.fullmatch(r"[\d\s×xX*·().,+\-/]*\d[\d\s×xX*·().,+\-/]*(?:\s*dw)?", t)))


def _is_data(cells: Sequence[Cell]) -> bool:
    """A data row has a number (or a shape) in some cell after the first."""
    return any(_numeric(c.text) for c in cells[1:]) or (
        len(cells) == 1 and _numeric(cells[0].text))


def parse_table(lines: Sequence[tuple[int, str]], fmt: str, scale_names: Sequence[str] = ()
                ) -> Table | None:
    """A block of table lines → :class:`Table` (None when no column is understood)."""
    rows = _split_rows(lines, fmt)
    head: list[list[Cell]] = []
    while rows and not _is_data(rows[0]):
        head.append(rows.pop(0))
    head = [h for h in head if sum(1 for c in h if c.text) > 1]  # drop title rows
    if not head or not rows:
        return None
    width = max(len(r) for r in [*head, *rows])
    groups = [""] * width
    for h in head[:-1]:  # group rows: a label spans the empty cells after it
        current = ""
        for i in range(width):
            text = h[i].text if i < len(h) else ""
            current = text or current
            groups[i] = f"{groups[i]} {current}".strip() if current else groups[i]
    last = head[-1]
    columns = []
    seen: dict[str, int] = {}
    unknown = []
    for i in range(width):
        own = last[i].text if i < len(last) else ""
        label = own or groups[i]
        group = groups[i] if own else ""
        kind, scale, unit = _kind(label, group, seen, scale_names) if label else ("", Fraction(1),
                                                                                   "")
        if kind == "unknown":
            unknown.append(label)
        shown = f"{group} {own}".strip() if kind[3:] in ("c", "h", "w", "hw") else label
        columns.append(Column(i, shown, kind, scale, unit))
    label_cols = [c.index for c in columns if c.kind in ("label", "type_stride")]
    data: list[Row] = []
    repeat: list[Row] = []
    count = 0
    for cells in rows:
        idx = label_cols[0] if label_cols else 0
        label = cells[idx].text if idx < len(cells) else ""
        words = [c.text for c in cells if c.text and not _numeric(c.text)]
        total = any(w.lower().startswith(("total", "sum")) for w in words[:1])
        if total and not label:
            label = words[0]
        m = re.match(r"^(\d+)\s*[×x]\s+(.*)$", label)
        row = Row(tuple(cells), m.group(2) if m else label, cells[0].line, total)
        if m:  # "5× Conv dw / s1" opens a group repeated with the following unlabeled rows
            data.extend(_repeat(repeat, count))
            repeat, count = [row], int(m.group(1))
            continue
        if repeat and not label:
            repeat.append(row)
            continue
        data.extend(_repeat(repeat, count))
        repeat, count = [], 0
        data.append(row)
    data.extend(_repeat(repeat, count))
    return Table(lines[0][0], tuple(columns), tuple(data), tuple(unknown))


def _repeat(rows: list[Row], count: int) -> list[Row]:
    return [r for _ in range(count) for r in rows] if rows else []


# ============================================================================== statements ==


@dataclass(frozen=True)
class Statement:
    """``Memory: 7.5 MB``, ``S4 … Trainable params: 12``, ``VGG-16 total: 13.6 GFLOP (19.4x)``:
    a quantity of a subject (a layer, a network, or the network checked), as printed."""

    line: int
    col: int
    subject: str
    quantity: str
    value: Printed
    ratio: Printed | None = None
    ratio_col: int = 0
    chain: Chain | None = None


@dataclass(frozen=True)
class StageClaim:
    """``Stage 3: conv-conv-pool`` (``[conv]`` optional) or ``VGG-19 has 4 conv in stages 4 and
    5``: how many convs a stage has."""

    line: int
    col: int
    subject: str
    stages: tuple[int, ...]
    low: int
    high: int
    text: str
    exhaustive: bool = False  # "has N conv in stages …": exactly these stages have N


@dataclass(frozen=True)
class Unread:
    """Text that looks like a figure but could not be read (listed, never silently dropped)."""

    line: int
    text: str
    why: str


_QUANTITY_WORDS = (("memory", "memory"), ("mem", "memory"), ("flop", "flops"),
                   ("param", "params"), ("weight", "params"), ("mult-add", "macs"),
                   ("macs", "macs"), ("operations", "macs"), ("stride", "stride"),
                   ("pad", "pad"))
#: "Label:" — a label is letters, digits, spaces, dots, dashes and slashes, starting with a letter
_LABEL = re.compile(r"(?:\*\*)?(?P<label>[A-Za-z][A-Za-z0-9 .\-/']*?)(?:\*\*)?\s*:(?!:)")
_VALUE = re.compile(
    r"^\s*(?P<value>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s*"
    r"(?:KB|kB|MB|GB|[MG]?FLOPs?|[MG]?flops?|[kKmMGB](?![a-zA-Z]))?)(?![A-Za-z0-9_^])"
    r"(?:\s*\((?P<ratio>\d+(?:\.\d+)?)\s*[x×]\))?")
_STAGE = re.compile(r"stage\s*(?P<n>\d+)\s*:\s*(?P<pat>(?:\[?conv\]?\s*-\s*)+\[?pool\]?)", re.I)
_HAS = re.compile(r"(?P<subject>[A-Za-z][\w-]*)\s+has\s+(?P<n>\d+)\s+conv\w*\s+in\s+stages?\s+"
                  r"(?P<stages>\d+(?:\s*(?:,|and)\s*\d+)*)", re.I)


def _quantity(label: str, unit: str) -> str | None:
    low = label.lower()
    for word, kind in _QUANTITY_WORDS:
        if word in low:
            return kind
    u = unit.lower()
    if u in ("kb", "mb", "gb"):
        return "memory"
    if "flop" in u:
        return "flops"
    return None


@dataclass
class Text:
    """Everything read from a pasted slide."""

    tables: list[Table]
    statements: list[Statement]
    chains: list[Chain]
    stages: list[StageClaim]
    unread: list[Unread]


def read(text: str, *, fmt: str = "auto", subjects: Sequence[str] = (),
         scale_names: Sequence[str] = ()) -> Text:
    """Parse a pasted slide. ``subjects`` are the words that name something checkable (layer
    names, spec names): ``C3:`` or ``**S4**:`` (or a heading that contains one) makes it the
    subject of the statements after it, until the next one."""
    if len(text.encode()) > MAX_BYTES:
        raise ArchcalcError(f"the table is {len(text.encode()):,} bytes; at most {MAX_BYTES:,}",
                            hint="paste one slide's table at a time")
    raw = text.splitlines()
    if len(raw) > MAX_LINES:
        raise ArchcalcError(f"the table has {len(raw):,} lines; at most {MAX_LINES:,}",
                            hint="paste one slide's table at a time")
    if fmt == "auto":
        fmt = "markdown" if any(ln.lstrip().startswith("|") for ln in raw) else \
            "tsv" if any("\t" in ln for ln in raw) else "csv" if _looks_csv(raw) else "text"
    out = Text([], [], [], [], [])
    block: list[tuple[int, str]] = []

    def flush() -> None:
        if block:
            table = parse_table(block, fmt, scale_names)
            if table is not None:
                out.tables.append(table)
            block.clear()

    def is_row(line: str) -> bool:
        if fmt == "markdown":
            return line.lstrip().startswith("|")
        if fmt == "tsv":
            return "\t" in line and line.strip() != ""
        if fmt == "csv":
            return "," in line and not line.lstrip().startswith(("#", "$$"))
        return False

    prose: list[tuple[int, str]] = []
    for number, line in enumerate(raw, 1):
        if is_row(line):
            block.append((number, line))
            continue
        flush()
        prose.append((number, line))
    flush()
    _read_prose(prose, out, subjects)
    return out


def _looks_csv(lines: Sequence[str]) -> bool:
    rows = [ln for ln in lines if ln.strip()]
    counts = {ln.count(",") for ln in rows[:3]}
    return len(rows) >= 2 and len(counts) == 1 and counts.pop() >= 2


def _logical_lines(prose: Sequence[tuple[int, str]]) -> list[tuple[int, str]]:
    """Join ``$$ … $$`` blocks into one line and lines starting with ``=`` onto the line before
    (a derivation written one step per line, blank lines between allowed)."""
    joined: list[tuple[int, str]] = []
    buffer: list[str] = []
    start = 0
    for number, line in prose:
        text = line.strip()
        if buffer:
            buffer.append(text)
            if "$$" in text:
                joined.append((start, _latex(" ".join(buffer))))
                buffer = []
            continue
        if text.startswith("$$") and text.count("$$") == 1:
            buffer, start = [text], number
            continue
        if text.startswith("$$"):
            joined.append((number, _latex(text)))
            continue
        if text.startswith("=") and joined:
            joined[-1] = (joined[-1][0], joined[-1][1] + " " + _latex(text))
            continue
        if text:
            joined.append((number, text if "\\" not in text and "$" not in text
                           else _latex(text)))
    if buffer:
        joined.append((start, _latex(" ".join(buffer))))
    return joined


def _latex(text: str) -> str:
    t = re.sub(r"\\(begin|end)\{[a-z*]+\}(\{[^}]*\})?", " ", text)
    t = t.replace("$$", " ").replace("&", " ").replace("\\\\", " ")
    return re.sub(r"\s+", " ", _clean(t)).strip()


def _norm(word: str) -> str:
    return re.sub(r"[^a-z0-9]", "", word.lower())


def _read_prose(prose: Sequence[tuple[int, str]], out: Text, subjects: Sequence[str]) -> None:
    names = {_norm(s): s for s in subjects if _norm(s)}

    def named(text: str) -> str | None:
        for w in re.split(r"[\s,()]+", text.replace("**", " ")):
            if _norm(w) in names:
                return names[_norm(w)]
        return None

    subject = ""
    for number, text in _logical_lines(prose):
        if text.startswith("#"):  # a heading names its subject, or resets it
            subject = named(text.lstrip("#")) or ""
            continue
        claims = _stage_claims(number, text, subject)
        if claims:
            out.stages.extend(claims)
            continue
        labels = [m for m in _LABEL.finditer(text)
                  if not re.match(r"\s*//", text[m.end():])]  # not a URL
        if not labels:
            if "=" in text:
                _add_chain(out, chain(number, text))
            continue
        if labels[0].start() > 0 and "=" in text[:labels[0].start()]:
            _add_chain(out, chain(number, text[:labels[0].start()]))
        for i, m in enumerate(labels):
            end = labels[i + 1].start() if i + 1 < len(labels) else len(text)
            label = m.group("label").strip()
            segment = text[m.end():end]
            if _norm(label) in names:
                subject = names[_norm(label)]
                out.statements.extend(_layer_facts(number, m.end(), segment, subject))
                continue
            quantity = _quantity(label, _unit_of(segment))
            if quantity is None and not re.search(r"\btotal\b", label, re.I):
                if "=" in segment:
                    _add_chain(out, chain(number, segment, m.end()))
                elif not segment.strip():  # "Compare VGG-16:", "Total from 224 to 28 …:"
                    # a heading naming a layer or a network makes it the subject; "Compare X:"
                    # naming neither keeps X (its lines are then not checked); others reset
                    subject = named(label) or (label.split(None, 1)[-1] if label.lower()
                                               .startswith(("compare", "vs")) else "")
                continue
            st = _statement(number, label, segment, m.end(), subject, quantity)
            if isinstance(st, Unread):
                out.unread.append(st)
            elif st is not None:
                out.statements.append(st)


def _add_chain(out: Text, ch: Chain) -> None:
    if len(ch.numeric) >= 2:
        out.chains.append(ch)


def _unit_of(value: str) -> str:
    m = _VALUE.match(value)
    if m is None:
        return ""
    u = re.search(r"[A-Za-z]+$", m.group("value").strip())
    return u.group(0) if u else ""


def _statement(number: int, label: str, segment: str, offset: int, subject: str,
               quantity: str | None) -> Statement | Unread | None:
    who = subject
    words = label.split()
    low = [w.lower() for w in words]
    if "total" in low:  # "AlexNet total: 1.9 MB" names its network
        who = " ".join(words[: low.index("total")]) or subject
    if "=" in segment:  # "Trainable parameters: 120x(5x5x16 +1bias)=42120"
        ch = chain(number, segment, offset)
        literals = [p for p in ch.parts if p.literal is not None]
        if quantity is None or not literals:
            return None
        last = literals[-1]
        assert last.literal is not None
        scale = _label_scale(label)
        lit = printed_number(last.literal.text, scale) if scale != 1 else last.literal
        assert lit is not None
        return Statement(number, last.col, who, quantity, lit, chain=ch if len(ch.numeric) > 1
                         else None)
    m = _VALUE.match(segment)
    if m is None:
        if quantity is not None and re.match(r"\s*\d", segment) and \
                not re.search(r"[A-Za-z]", segment.split()[0] if segment.split() else ""):
            return Unread(number, f"{label}: {segment.strip()}", "not a number")
        return None
    value_text = m.group("value").strip()
    unit = _unit_of(segment)
    if quantity is None:
        quantity = _quantity(label, unit)
    if quantity is None:
        return Unread(number, f"{label}: {value_text}",
                      "say what the number measures (memory, params, FLOPs)")
    lit = printed_number(value_text, _label_scale(label), unit)
    if lit is None:
        return None
    ratio = printed_number(m.group("ratio")) if m.group("ratio") else None
    col = offset + m.start("value") + 1
    return Statement(number, col, who, quantity, lit, ratio,
                     offset + m.start("ratio") + 1 if m.group("ratio") else 0)


def _label_scale(label: str) -> Fraction:
    """``MFLOP: 418`` → 10^6; ``GFLOP: 1.8`` → 10^9; else 1 (the unit comes with the number)."""
    low = label.lower().strip()
    if low.startswith("gflop"):
        return Fraction(10**9)
    if low.startswith("mflop"):
        return Fraction(10**6)
    return Fraction(1)


def _layer_facts(number: int, offset: int, segment: str, subject: str) -> list[Statement]:
    """``C3: 16 kernels, 5x5`` → the layer's output maps (16) and kernel (5), as printed."""
    facts = []
    m = re.search(r"(\d+)\s+kernels?\b", segment)
    if m:
        lit = printed_number(m.group(1))
        assert lit is not None
        facts.append(Statement(number, offset + m.start(1) + 1, subject, "filters", lit))
    k = re.search(r"\b(\d+)\s*[x×]\s*(\d+)\b", segment)
    if k and k.group(1) == k.group(2):
        lit = printed_number(k.group(1))
        assert lit is not None
        facts.append(Statement(number, offset + k.start(1) + 1, subject, "kernel", lit))
    return facts


def _stage_claims(number: int, text: str, subject: str) -> list[StageClaim]:
    out = []
    for m in _STAGE.finditer(text):
        pattern = m.group("pat").lower().replace(" ", "")
        tokens = pattern.split("-")
        low = sum(1 for t in tokens if t == "conv")
        high = low + sum(1 for t in tokens if t == "[conv]")
        out.append(StageClaim(number, m.start() + 1, subject, (int(m.group("n")),), low, high,
                              m.group(0)))
    for m in _HAS.finditer(text):
        stages = tuple(int(n) for n in re.findall(r"\d+", m.group("stages")))
        n = int(m.group("n"))
        out.append(StageClaim(number, m.start() + 1, m.group("subject"), stages, n, n,
                              m.group(0), exhaustive=True))
    return out
