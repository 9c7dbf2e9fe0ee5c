"""Error types. Every user-facing failure is an :class:`ArchcalcError` carrying a location.

The CLI prints ``str(error)`` and exits 1; nothing else escapes as a traceback. A message reads::

    alexnet.yaml:5:13: error: layer 'conv2' (conv): k must be a positive integer, got 'three'
      hint: write an integer such as k: 3
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

#: characters of a received value quoted in a message: a message quotes at most a line
MAX_QUOTE = 60
#: a message's ``what`` longer than this is cut in the middle (a safety net: values are quoted
#: with :func:`quote`, and a 7.5 MB string never reaches stderr whole)
MAX_MESSAGE = 1_000


class Loc(NamedTuple):
    """A position in a spec: file name and 1-based line and column.

    A tuple, not a dataclass: a 100k-layer spec holds a million of them, and tuples of plain
    values drop out of the cyclic collector's work (see ytree)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Loc("<spec>")


def quote(text: str, limit: int = MAX_QUOTE) -> str:
    """``repr(text)`` of at most its first line and ``limit`` characters, saying how much was
    cut: ``'xxxx…' (7,500,000 characters)``. Every received string a message shows goes
    through here, so a huge value never floods the terminal."""
    line = text.split("\n", 1)[0]
    if len(line) <= limit and line == text:
        return repr(text)
    return f"{line[:limit]!r}… ({len(text):,} characters)"


def describe_int(value: int, digits: int = 15) -> str:
    """An integer as a message shows it: in full up to ``digits`` digits, else its size
    (``1e+20`` style while a float can hold it, else ``an integer of about 5,000 digits``).
    ``str()`` of a 5,000-digit integer raises ValueError in Python ≥ 3.11, and
    ``f"{x:.3g}"`` overflows past 10^308."""
    if abs(value) < 10**digits:
        return str(value)
    bits = abs(value).bit_length()
    if bits < 1000:
        return f"{value:.3g}"
    digits = int(bits * 0.30102999566398120) + 1  # log10(2): the count is exact to ±1
    return f"an integer of about {digits:,} digits"


class ArchcalcError(Exception):
    """Base of every error archcalc raises on purpose.

    ``what`` says what was wrong (expected vs received), ``hint`` how to fix it, ``layer`` names the
    layer (or block/stage context) and ``loc`` points into the spec.
    """

    kind = "error"

    def __init__(
        self,
        what: str,
        *,
        loc: Loc | None = None,
        layer: str | None = None,
        hint: str | None = None,
    ) -> None:
        if len(what) > MAX_MESSAGE:
            half = MAX_MESSAGE // 2
            what = f"{what[:half]} … ({len(what) - 2 * half:,} characters cut) … {what[-half:]}"
        self.what = what
        self.loc = loc
        self.layer = layer
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.loc}: " if self.loc is not None else ""
        where = f"{self.layer}: " if self.layer else ""
        text = f"{head}{self.kind}: {where}{self.what}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def located(self, loc: Loc | None, layer: str | None = None) -> ArchcalcError:
        """A copy with location/layer filled in where they are still missing."""
        return type(self)(
            self.what,
            loc=self.loc if self.loc is not None else loc,
            layer=self.layer if self.layer is not None else layer,
            hint=self.hint,
        )


class SpecError(ArchcalcError):
    """The spec text is malformed: YAML, keys, argument types, names, expressions."""


class ShapeError(ArchcalcError):
    """A layer cannot accept the shape(s) flowing into it."""


class ExecError(ArchcalcError):
    """The NumPy executor disagrees with the engine or cannot run."""


class NotFound(ArchcalcError, KeyError):
    """No layer or group of that name (in a :class:`~archcalc.Report`, its hierarchy, or a
    :class:`~archcalc.Graph`). An :class:`ArchcalcError` (the CLI prints it and exits 1) that is
    also a ``KeyError``, as a mapping lookup is expected to raise."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return self.render()


def names_hint(name: str, known: Iterable[str], kind: str, *,
               near_only: bool = False) -> str | None:
    """Which names exist, for a lookup of ``name`` that failed: ``did you mean 'conv1'? (also
    conv5, conv4)`` — up to five, the closest first — or, with none close, the first eight of
    them and their count (None instead with ``near_only``)."""
    from .args import closest

    names = list(known)
    near = closest(name, names, 5)
    if near:
        return f"did you mean {near[0]!r}?" + (f" (also {', '.join(near[1:])})"
                                                if len(near) > 1 else "")
    if near_only:
        return None
    return f"{len(names):,} {kind}s: " + ", ".join(names[:8]) + (", …" if len(names) > 8 else "")


def unknown_name(kind: str, name: object, known: Iterable[str], where: str) -> NotFound:
    """The error for ``name`` missing among ``known`` (``where`` names the collection); the
    hint names which exist, the closest first (:func:`names_hint`)."""
    text = str(name)
    return NotFound(f"{where} has no {kind} named {quote(text)}",
                    hint=names_hint(text, known, kind))


class LayerArgError(ArchcalcError):
    """Raised by layer rules without location; the graph builder adds layer name and location."""


class BridgeError(ArchcalcError):
    """A spec cannot be exported to PyTorch, or an ONNX model cannot be imported: names the
    layer or node and what it received."""
