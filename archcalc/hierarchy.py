"""The group tree of a report: block calls, stage blocks and repeats, with subtotals.

Every :class:`~archcalc.report.LayerRow` carries ``path``, the full dotted names of the groups
around it, outermost first (``("layer1", "layer1.0")`` for ResNet-50's ``layer1.0.conv1``). One
pass over the rows in order opens and closes groups; a group is a contiguous run of rows
``start`` … ``stop − 1``, so its :class:`Subtotal` is a difference of prefix sums,
``Σ rows[start:stop] = S[stop] − S[start]`` with ``S[i]`` the sum of the first ``i`` rows (one
cumulative sum per figure, made once): linear in the number of rows and groups, and a
``--from``/``--to`` range costs the same two lookups.

Three rules shape the tree so that a depth reads like a paper's stage table:

* **One group, one level.** A group whose only member is another group (DenseNet's
  ``denseblock1``, holding nothing but the repeat ``denseblock1.denselayer``) covers the same
  layers under two names. The two are one :class:`Group`, found by either name (the inner ones
  are its ``aliases``), so every level splits something: DenseNet-121 at depth 1 shows the dense
  blocks, at depth 2 each dense layer.
* **Ungrouped runs at the top.** When a network has groups, each run of two or more consecutive
  top-level layers outside every group becomes a *run group* (``synthetic=True``): the run
  before the first group is ``stem``, the run after the last group is ``head``, a run between
  two groups is named ``first…last`` after its layers. ResNet-50 at depth 1 is ``stem``,
  ``layer1`` … ``layer4``, ``head``. A single ungrouped layer stays a layer (GoogLeNet's
  ``maxpool3`` between ``inception3b`` and ``inception4a``); a name already taken by a layer or
  a group falls back to ``first…last`` (EfficientNet's run after ``stage7`` starts with a layer
  called ``head``, so the run is ``head…classifier``). A network without groups (AlexNet) has no
  run groups, and depth changes nothing. Run groups are not in any row's ``path``: that is the
  spec's own structure.
* **Levels.** Top-level groups are level 1; a group's members are one level deeper. ``depth=N``
  (:meth:`Hierarchy.view`) shows groups of level N as one row each, expands the levels above
  (a header row, then the members), and shows every top-level layer.

The API in short (diagrams cluster and collapse with the same calls): ``Hierarchy(rows)`` or
``report.hierarchy``; ``groups`` (pre-order, each with ``parent``, ``level``, ``children``,
``totals``, ``output_shape``), ``top``, ``top_groups()``; ``group(name)``, ``index(layer)``,
``innermost(i)``, ``ancestors(i)``, ``at_depth(i, depth)`` (the group drawn for row ``i`` when
collapsed at ``depth``); ``view(depth, start, stop)`` (the lines of a depth-limited table);
``find(name)`` and ``span(first, last)`` (a ``--from``/``--to`` range and its sums).

>>> import archcalc
>>> tree = archcalc.analyze("resnet50").hierarchy
>>> [g.name for g in tree.top_groups()]
['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'head']
>>> layer1 = tree.group("layer1")
>>> layer1.totals.params, len(layer1.children), layer1.output_shape
(215808, 3, (256, 56, 56))
>>> span = tree.span("layer2", "layer3")     # a range, by group or layer names
>>> tree.rows[span.start].name, tree.rows[span.stop - 1].name
('layer2.0.conv1', 'layer3.5.add')
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from operator import itemgetter
from typing import TYPE_CHECKING, NamedTuple

from .errors import ArchcalcError, NotFound

if TYPE_CHECKING:
    from .report import LayerRow, RFAxis

STEM = "stem"
HEAD = "head"
RUN_JOIN = "…"


class Subtotal(NamedTuple):
    """Sums over a set of rows, exact integers: ``macs``, ``flops`` and ``activation_bytes``
    are for the report's batch (as in each row); ``layers`` counts the rows."""

    layers: int
    params: int
    buffers: int
    macs: int
    flops: int
    activation_bytes: int

    def to_dict(self) -> dict[str, int]:
        return self._asdict()


@dataclass(frozen=True, eq=False, slots=True)
class Group:
    """One group of layers: rows ``start`` … ``stop − 1`` of the report, in order.

    ``name`` is the group's full dotted name as the rows' ``path`` spells it (``layer1.0``), or a
    run group's name (``stem``, ``head``, ``pool5…fc6``); ``aliases`` are the names of nested
    groups that cover exactly the same rows. ``children`` are the members in order: sub-groups
    and the indices of rows that belong to no sub-group. ``output_shape`` and
    ``receptive_field`` are those of the group's last row (its output in list order).
    """

    name: str
    aliases: tuple[str, ...]
    level: int
    parent: str | None
    start: int
    stop: int
    children: tuple[Group | int, ...]
    totals: Subtotal
    first: str
    last: str
    output_shape: tuple[int, ...]
    receptive_field: tuple[RFAxis, ...] | None
    synthetic: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """The name and the aliases."""
        return (self.name, *self.aliases)

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and self.start <= index < self.stop

    def __repr__(self) -> str:
        return (f"Group({self.name!r}, level={self.level}, rows {self.start}–{self.stop - 1}, "
                f"{self.totals.layers} layers)")


class Entry(NamedTuple):
    """One line of a :meth:`Hierarchy.view`: a layer (``group is None``; ``row`` is its index
    in the report's rows) or a group (``row`` is −1). ``indent`` is the nesting below the top
    (0 at the top). ``expanded``: the group is a header and its members follow; ``partial``: a
    range cuts the group, so only some of its members follow (its subtotal is not the range's).
    """

    indent: int
    group: Group | None
    row: int
    expanded: bool = False
    partial: bool = False


class Span(NamedTuple):
    """Rows ``start`` … ``stop − 1`` (a ``--from``/``--to`` range) and their sums."""

    start: int
    stop: int
    totals: Subtotal
    output_shape: tuple[int, ...]


class _Open:
    """A group while the rows are read: its name, first row, members and (once closed) stop."""

    __slots__ = ("end", "group", "members", "name", "start", "stop")

    end: _Open  # the innermost group of this one's single-member chain (itself if none)
    group: Group  # the frozen group, once made

    def __init__(self, name: str, start: int) -> None:
        self.name = name
        self.start = start
        self.stop = start
        self.members: list[_Open | int] = []


#: positions in a LayerRow of the summed figures: params, buffers, macs, flops, activation_bytes
_SUMMED = (4, 5, 6, 7, 8)


class Hierarchy:
    """The groups of a report's rows (see the module docstring), built in one linear pass.

    ``groups`` lists every group in pre-order (a parent before its members); ``top`` the
    top-level members (groups and ungrouped row indices) in order. Lookups take a group's name
    or alias, and rows by layer name. Immutable once built.
    """

    __slots__ = ("_by_name", "_index", "_innermost", "_sums", "groups", "max_level", "rows",
                 "top")

    rows: tuple[LayerRow, ...]
    groups: tuple[Group, ...]
    top: tuple[Group | int, ...]
    max_level: int

    def __init__(self, rows: Sequence[LayerRow]) -> None:
        self.rows = tuple(rows)
        # S[i] = sum of the first i rows, per figure (see the module docstring)
        self._sums = [list(accumulate(map(itemgetter(k), self.rows), initial=0))
                      for k in _SUMMED]
        top_open, names = _read(self.rows)
        self._index = {row.name: i for i, row in enumerate(self.rows)}
        self._by_name: dict[str, Group] = {}
        self._innermost: list[Group | None] = [None] * len(self.rows)
        top = _with_runs(top_open, self.rows, self._index, names)
        self.top, self.groups = self._freeze(top)
        self.max_level = max((g.level for g in self.groups), default=0)

    # --------------------------------------------------------------------------- building --

    def _freeze(self, top: list[_Open | int]) -> tuple[tuple[Group | int, ...],
                                                        tuple[Group, ...]]:
        """Merge single-member chains, assign levels and parents top-down (pre-order), then
        make the frozen groups bottom-up (reverse pre-order: members before their group)."""
        # (innermost node of a chain, outer name, aliases, level, parent name), in pre-order
        order: list[tuple[_Open, str, tuple[str, ...], int, str | None]] = []
        stack: list[tuple[_Open, int, str | None]] = [
            (m, 1, None) for m in reversed(top) if isinstance(m, _Open)]
        pop, extend = stack.pop, stack.extend
        while stack:
            member, level, parent = pop()
            node = member
            aliases: tuple[str, ...] = ()
            while len(node.members) == 1 and isinstance(only := node.members[0], _Open):
                node = only
                aliases += (node.name,)
            member.end = node
            name = member.name
            order.append((node, name, aliases, level, parent))
            extend([(m, level + 1, name) for m in reversed(node.members)
                    if isinstance(m, _Open)])
        rows, innermost, by_name = self.rows, self._innermost, self._by_name
        for node, name, aliases, level, parent in reversed(order):
            children = tuple([m.end.group if isinstance(m, _Open) else m
                              for m in node.members])
            last = rows[node.stop - 1]
            group = node.group = Group(
                name, aliases, level, parent, node.start, node.stop, children,
                self._subtotal(node.start, node.stop), rows[node.start].name, last.name,
                last.output_shape, last.receptive_field, synthetic=isinstance(node, _Run))
            for m in node.members:
                if not isinstance(m, _Open):
                    innermost[m] = group
            by_name.setdefault(name, group)
            for alias in aliases:
                by_name.setdefault(alias, group)
        groups = tuple([entry[0].group for entry in order])
        top_members = tuple([m.end.group if isinstance(m, _Open) else m for m in top])
        return top_members, groups

    # ----------------------------------------------------------------------------- lookups --

    def group(self, name: str) -> Group:
        """The group called ``name`` (or with that alias); :class:`NotFound` otherwise."""
        found = self._by_name.get(name)
        if found is None:
            raise NotFound(f"no group named {name!r}", hint=self._hint(name, layers=False))
        return found

    def index(self, name: str) -> int:
        """The row index of the layer called ``name``; :class:`NotFound` otherwise."""
        found = self._index.get(name)
        if found is None:
            raise NotFound(f"no layer named {name!r}", hint=self._hint(name, groups=False))
        return found

    def innermost(self, index: int) -> Group | None:
        """The smallest group that holds row ``index`` (None: a top-level layer)."""
        return self._innermost[index]

    def ancestors(self, index: int) -> tuple[Group, ...]:
        """The groups that hold row ``index``, outermost first (run groups included)."""
        chain: list[Group] = []
        group = self._innermost[index]
        while group is not None:
            chain.append(group)
            group = None if group.parent is None else self._by_name[group.parent]
        return tuple(reversed(chain))

    def at_depth(self, index: int, depth: int) -> Group | None:
        """The group that stands for row ``index`` when the tree is collapsed at ``depth``: its
        ancestor of level ``depth``, or None when the row is shown itself (it lies less than
        ``depth`` levels down). Diagrams use it to draw a collapsed group as one box."""
        chain = self.ancestors(index)
        return chain[depth - 1] if len(chain) >= depth >= 1 else None

    def top_groups(self) -> list[Group]:
        """The level-1 groups, in order."""
        return [m for m in self.top if isinstance(m, Group)]

    def find(self, name: str) -> tuple[int, int]:
        """Rows ``(start, stop)`` of a layer (one row) or, when no layer has that name, of a
        group; :class:`NotFound` otherwise."""
        i = self._index.get(name)
        if i is not None:
            return i, i + 1
        group = self._by_name.get(name)
        if group is None:
            raise NotFound(f"no layer or group named {name!r}", hint=self._hint(name))
        return group.start, group.stop

    def span(self, first: str | None = None, last: str | None = None) -> Span:
        """The rows from ``first`` through ``last`` (layer or group names; None: the first or
        the last row) and their sums: the lecture's "GoogLeNet stem vs VGG-16 up to 28×28"."""
        start = 0 if first is None else self.find(first)[0]
        stop = len(self.rows) if last is None else self.find(last)[1]
        if stop <= start:
            raise ArchcalcError(
                f"the range from {first!r} to {last!r} is empty: {last!r} comes before "
                f"{first!r} in the network",
                hint="give the earlier layer or group first (--from EARLY --to LATE)")
        return Span(start, stop, self._subtotal(start, stop), self.rows[stop - 1].output_shape)

    def _subtotal(self, start: int, stop: int) -> Subtotal:
        """The sums of rows ``start`` … ``stop − 1``: ``S[stop] − S[start]`` per figure."""
        p, b, m, f, a = self._sums
        return Subtotal(stop - start, p[stop] - p[start], b[stop] - b[start],
                        m[stop] - m[start], f[stop] - f[start], a[stop] - a[start])

    def _hint(self, name: str, *, layers: bool = True, groups: bool = True) -> str:
        from .errors import names_hint

        if not layers and name in self._index:
            return f"{name!r} is a layer, not a group"
        if not groups and name in self._by_name:
            return f"{name!r} is a group, not a layer"
        hint = names_hint(name, [*(self._index if layers else ()),
                                 *(self._by_name if groups else ())], "layer", near_only=groups)
        if hint is not None:
            return hint
        tops = [g.name for g in self.top_groups()]
        if not tops:
            return "this network has no groups; name a layer"
        return "top-level groups: " + ", ".join(tops[:12]) + (", …" if len(tops) > 12 else "")

    # ------------------------------------------------------------------------------ views --

    def view(self, depth: int | None = None, start: int = 0,
             stop: int | None = None) -> list[Entry]:
        """The lines of a depth-limited table, in order: groups of level ``depth`` as one
        entry each, the levels above as expanded headers followed by their members, every
        top-level layer; ``depth=None``: every layer, with every group as a header. Only rows
        ``start`` … ``stop − 1`` are shown: a group the range cuts is expanded (``partial``)."""
        stop = len(self.rows) if stop is None else stop
        out: list[Entry] = []
        stack: list[tuple[Group | int, int]] = [(m, 0) for m in reversed(self.top)]
        while stack:
            member, indent = stack.pop()
            if isinstance(member, int):
                if start <= member < stop:
                    out.append(Entry(indent, None, member))
                continue
            if member.stop <= start or member.start >= stop:
                continue
            partial = member.start < start or member.stop > stop
            if depth is not None and member.level >= depth and not partial:
                out.append(Entry(indent, member, -1))
                continue
            out.append(Entry(indent, member, -1, expanded=True, partial=partial))
            stack.extend((m, indent + 1) for m in reversed(member.children))
        return out

    def __iter__(self) -> Iterator[Group]:
        return iter(self.groups)

    def __len__(self) -> int:
        return len(self.groups)


class _Run(_Open):
    """A run group: consecutive ungrouped top-level rows (see the module docstring)."""

    __slots__ = ()


def _read(rows: tuple[LayerRow, ...]) -> tuple[list[_Open | int], set[str]]:
    """Pass 1: the groups named by the rows' paths and their members; every group name."""
    top: list[_Open | int] = []
    stack: list[_Open] = []
    seen: set[str] = set()
    prev: tuple[str, ...] = ()
    members = top  # the innermost open group's members
    for i, row in enumerate(rows):
        path = row.path
        if path is not prev and path != prev:
            k, n = 0, min(len(stack), len(path))
            while k < n and stack[k].name == path[k]:
                k += 1
            while len(stack) > k:
                stack.pop().stop = i
            for name in path[k:]:
                if name in seen:
                    raise ArchcalcError(
                        f"group {name!r} is not one run of consecutive layers: layer "
                        f"{row.name!r} is in it, but layers outside it come between",
                        layer=f"layer {row.name!r}",
                        hint="a group's layers must follow one another (rows' `path`)")
                seen.add(name)
                node = _Open(name, i)
                (stack[-1].members if stack else top).append(node)
                stack.append(node)
            members = stack[-1].members if stack else top
            prev = path
        members.append(i)
    for node in stack:
        node.stop = len(rows)
    return top, seen


def _with_runs(top: list[_Open | int], rows: tuple[LayerRow, ...], index: dict[str, int],
               taken: set[str]) -> list[_Open | int]:
    """Pass 2 at the top level: runs of two or more ungrouped rows become run groups, named
    so as to clash with no layer (``index``) and no group (``taken``, extended here)."""
    groups_at = [i for i, m in enumerate(top) if isinstance(m, _Open)]
    if not groups_at:
        return top
    out: list[_Open | int] = []
    i = 0
    while i < len(top):
        j = i
        while j < len(top) and not isinstance(top[j], _Open):
            j += 1
        if j - i < 2:  # a group, or a single ungrouped layer: kept as it is
            out.append(top[i])
            i += 1
            continue
        first, last = top[i], top[j - 1]
        assert isinstance(first, int) and isinstance(last, int)
        fallback = f"{rows[first].name}{RUN_JOIN}{rows[last].name}"
        name = STEM if i < groups_at[0] else HEAD if i > groups_at[-1] else fallback
        if name in taken or name in index:
            name = fallback
        while name in taken or name in index:
            name += "'"
        taken.add(name)
        run = _Run(name, first)
        run.stop = last + 1
        run.members.extend(range(first, last + 1))
        out.append(run)
        i = j
    return out
