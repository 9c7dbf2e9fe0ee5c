"""Error types. Every user-facing failure is an :class:`ArchcalcError` carrying a location.

The CLI prints ``str(error)`` and exits 1; nothing else escapes as a traceback. A message reads::

    alexnet.yaml:5:13: error: layer 'conv2' (conv): k must be a positive integer, got 'three'
      hint: write an integer such as k: 3
"""

from __future__ import annotations

from typing import NamedTuple


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


class LayerArgError(ArchcalcError):
    """Raised by layer rules without location; the graph builder adds layer name and location."""


class BridgeError(ArchcalcError):
    """A spec cannot be exported to PyTorch, or an ONNX model cannot be imported: names the
    layer or node and what it received."""
