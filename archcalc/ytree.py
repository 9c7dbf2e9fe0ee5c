"""Safe YAML → a small located tree (``YMap``, ``YSeq``, ``YScalar``).

Only the safe composer is used (C-accelerated when libyaml is present); nothing is constructed
except plain scalars. Aliases, merge keys, duplicate keys, YAML-1.1 octals and non-string keys are
rejected with the position the parser reports. Python dicts can be turned into the same tree with
:func:`from_python`, so specs built in code go through the very same validation.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import yaml

from .errors import Loc, SpecError, quote

Scalar = int | float | bool | str | None

# a spec file larger than this is refused (README): room for 100k layers written out one a line
MAX_SPEC_BYTES = 8_000_000
MAX_NODES = 2_000_000  # YAML nodes in one spec
MAX_DEPTH = 64  # nesting levels of YAML collections (real specs use about 10)
#: an integer literal longer than this is refused as it is read (every number in a spec is
#: bounded by 10^15 anyway; Python refuses to read integers of more than 4,300 digits)
MAX_INT_CHARS = 100
#: characters YAML 1.1 (PyYAML, libyaml) takes for line breaks but YAML 1.2, editors and
#: archcalc's line numbers do not: read as spaces, so positions stay those of the editor
_UNICODE_BREAKS = ("\u2028", "\u2029", "\x85")


# Scalars and lists are tuples: a written-out 100k-layer spec makes about a million nodes, and
# a tuple is cheaper to make than a frozen dataclass. A scalar keeps its position as plain
# fields (its Loc is made when asked for) and a mapping its keys' positions as plain (line,
# col) pairs: half as many objects for the cyclic garbage collector to traverse, which cost
# about a second per full collection of a process holding such a spec.


class _ScalarFields(NamedTuple):
    value: Scalar
    file: str
    line: int
    col: int


class YScalar(_ScalarFields):
    """A scalar and where it was written: ``YScalar(value, loc)``."""

    __slots__ = ()

    def __new__(cls, value: Scalar, loc: Loc) -> YScalar:
        return tuple.__new__(cls, (value, loc.file, loc.line, loc.col))

    def __getnewargs__(self) -> tuple[Scalar, Loc]:  # (value, loc): what __new__ takes
        return (self.value, self.loc)

    @property
    def loc(self) -> Loc:
        return Loc(self.file, self.line, self.col)

    def describe(self) -> str:
        return describe_value(self.value)


class YSeq(NamedTuple):
    items: tuple[YNode, ...]
    loc: Loc

    def describe(self) -> str:
        return "a list"


@dataclass(frozen=True, slots=True)
class YMap:  # a class, not a tuple: `key in ymap` and iteration mean its keys
    entries: Mapping[str, YNode]
    keypos: Mapping[str, tuple[int, int]] = field(repr=False)  # key → (line, col)
    loc: Loc

    def describe(self) -> str:
        return "a mapping"

    def get(self, key: str) -> YNode | None:
        return self.entries.get(key)

    def keyloc(self, key: str) -> Loc:
        pos = self.keypos.get(key)
        return self.loc if pos is None else Loc(self.loc.file, *pos)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)


YNode = YScalar | YSeq | YMap


def describe_value(value: object) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, str):
        return f"the string {quote(value)}"
    return repr(value)


_OCTAL = re.compile(r"^[-+]?0[0-9_]+$")
# YAML 1.1 timestamps and `=` are plain text in YAML 1.2 and in a spec (`name: 2024-01-01`)
_TEXT_TAGS = ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_BASE_LOADER: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# the safe loader's implicit resolvers (bool, int, float, null, timestamp, …) by first character
_IMPLICIT: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: tuple((tag, pattern) for tag, pattern in resolvers if tag not in _TEXT_TAGS)
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class _Loader(_BASE_LOADER):  # type: ignore[misc]  # a C class when libyaml is present
    """The safe loader with a leaner tag resolution.

    PyYAML resolves every scalar in Python, walking path resolvers and concatenating resolver
    lists per call (about a third of composing a large spec). The safe loader has no path or
    wildcard resolvers, so its rule is: a plain scalar takes the first implicit resolver for
    its first character whose pattern matches, else it is a string. Same tags, fewer steps.
    """

    def resolve(self, kind: type[yaml.Node], value: str,
                implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, pattern in _IMPLICIT.get(value[:1], ()):
                    if pattern.match(value):
                        return tag
            return _STR
        return _SEQ_TAG if kind is yaml.SequenceNode else _MAP_TAG

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None  # no path resolvers

    def ascend_resolver(self) -> None:
        return None


_LOADER = _Loader
_SEQ_TAG = "tag:yaml.org,2002:seq"
_ALIAS_LIKE = re.compile(r"(?:^|[\s\[{,])\*[^\s*]", re.MULTILINE)
_MAP_TAG = "tag:yaml.org,2002:map"


def _loc(file: str, node: yaml.Node) -> Loc:
    return _mark_loc(file, node.start_mark)


def _mark_loc(file: str, mark: Any) -> Loc:  # yaml.error.Mark or libyaml's yaml._yaml.Mark
    return Loc(file, mark.line + 1, mark.column + 1)


def parse_yaml(text: str, file: str) -> YNode:
    """Compose ``text`` safely and convert it to a located tree."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SPEC_BYTES:
        raise SpecError(
            f"the spec is {size:,} bytes; the limit is {MAX_SPEC_BYTES:,} bytes",
            loc=Loc(file),
            hint="split it into blocks and stages: specs describe structure, not unrolled layers",
        )
    if "\x00" in text:
        raise SpecError("this is a binary file, not a YAML spec", loc=Loc(file),
                        hint="give a YAML text file; `archcalc show alexnet` prints an example")
    text = normalise_text(text)
    # PyYAML's nodes are made, converted and dropped here; the collector's policy is the
    # caller's (the CLI runs without it: a collection between the steps would traverse every
    # node, 1.5 s at 100k layers)
    root = _compose(text, file)
    if root is None:
        raise SpecError(
            "the spec is empty",
            loc=Loc(file, 1, 1),
            hint="start from a bundled spec: `archcalc show alexnet`",
        )
    tree = _convert(root, file, set(), [0], 0)
    del root  # acyclic: freed by reference counting, here
    return tree


def normalise_text(text: str) -> str:
    """What the parser reads, with every position unchanged from the editor's view: leading
    byte-order marks dropped (a file saved twice with a BOM has two; editors show none, so
    columns on line 1 count without them), and U+2028, U+2029 and U+0085 read as spaces —
    YAML 1.1 parsers break lines there, YAML 1.2 and editors do not, and a comment holding one
    would otherwise shift every later line number."""
    if text.startswith("\ufeff"):
        text = text.lstrip("\ufeff")
    for char in _UNICODE_BREAKS:
        if char in text:
            text = text.replace(char, " ")
    return text


def _lines(text: str) -> list[str]:
    """The text's lines as YAML counts them (\\n, \\r\\n, \\r; not ``str.splitlines``'s
    form feeds and separators)."""
    return re.split(r"\r\n|\r|\n", text)


def _compose(text: str, file: str) -> yaml.Node | None:
    """PyYAML's composed node tree, or None for an empty document; YAML errors located."""
    try:
        if _ALIAS_LIKE.search(text):  # point at the alias, not its anchor (a composed alias
            # is its anchor's node, with the anchor's mark); `$a * 2` does not trigger the scan
            for event in yaml.parse(text, Loader=_LOADER):
                if isinstance(event, yaml.AliasEvent):
                    raise SpecError(
                        "YAML aliases (*name) are not allowed",
                        loc=_mark_loc(file, event.start_mark) if event.start_mark else Loc(file),
                        hint="define a reusable block under `blocks:` and call it by name",
                    )
        root: yaml.Node | None = yaml.compose(text, Loader=_LOADER)
        return root
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Loc(file, mark.line + 1, mark.column + 1) if mark else Loc(file)
        problem = exc.problem or exc.context or "invalid YAML"
        cmark = exc.context_mark
        if exc.problem and exc.context and cmark is not None and mark is not None and (
                cmark.line, cmark.column) != (mark.line, mark.column):
            # e.g. "(while parsing a flow sequence started at line 2, column 8)": the opener
            problem += (f" ({exc.context.replace('parsing a', 'parsing the')} started at line "
                        f"{cmark.line + 1}, column {cmark.column + 1})")
        lines = _lines(text)
        line = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
        raise SpecError(
            f"YAML syntax error: {problem}",
            loc=loc,
            hint="indent with spaces: YAML does not allow tabs" if "\t" in line else
            "check indentation and quoting; quote expressions with ':' or ',' in them",
        ) from None
    except yaml.reader.ReaderError as exc:  # a control character: no mark, a position
        pos = min(exc.position, len(text))
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1])
        raise SpecError(
            f"YAML error: unacceptable character #x{char:04x}: {exc.reason}",
            loc=Loc(file, text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)),
            hint="remove the control character (copied from a PDF or a terminal?)",
        ) from None
    except yaml.YAMLError as exc:  # anything else the parser reports without a mark
        raise SpecError(f"YAML error: {exc}", loc=Loc(file),
                        hint="check the file is a YAML text spec") from None
    except RecursionError:  # the composer recurses once per nesting level
        raise SpecError(
            f"the YAML nests deeper than {MAX_DEPTH} levels",
            loc=Loc(file),
            hint="flatten the nesting: use blocks, repeat or stages",
        ) from None


def _convert(node: yaml.Node, file: str, seen: set[int], count: list[int],
             depth: int) -> YNode:
    mark = node.start_mark
    line, col = mark.line + 1, mark.column + 1
    if id(node) in seen:
        raise SpecError(
            "YAML aliases (*name) are not allowed",
            loc=Loc(file, line, col),
            hint="define a reusable block under `blocks:` and call it by name",
        )
    seen.add(id(node))
    count[0] += 1
    if count[0] > MAX_NODES:
        raise SpecError(f"the spec has more than {MAX_NODES:,} YAML nodes",
                        loc=Loc(file, line, col),
                        hint="specs describe structure: use blocks, repeat and stages")
    if depth > MAX_DEPTH:
        raise SpecError(
            f"the YAML nests deeper than {MAX_DEPTH} levels",
            loc=Loc(file, line, col),
            hint="flatten the nesting: use blocks, repeat or stages",
        )
    if isinstance(node, yaml.ScalarNode):  # no Loc object: YScalar holds the position
        scalar: YScalar = tuple.__new__(YScalar, (_scalar(node, file), file, line, col))
        return scalar
    loc = Loc(file, line, col)
    if node.tag not in (_SEQ_TAG, _MAP_TAG):
        raise SpecError(f"unsupported YAML tag {node.tag!r}", loc=loc, hint="remove the tag")
    if isinstance(node, yaml.SequenceNode):
        return YSeq(tuple(_convert(item, file, seen, count, depth + 1) for item in node.value),
                    loc)
    assert isinstance(node, yaml.MappingNode)
    entries: dict[str, YNode] = {}
    keypos: dict[str, tuple[int, int]] = {}
    for knode, vnode in node.value:
        kmark = knode.start_mark
        pos = (kmark.line + 1, kmark.column + 1)
        if knode.tag == "tag:yaml.org,2002:merge":
            raise SpecError(
                "YAML merge keys (<<) are not allowed",
                loc=Loc(file, *pos),
                hint="use `defaults:` or a block instead",
            )
        if not isinstance(knode, yaml.ScalarNode):
            raise SpecError("a mapping key must be a plain word", loc=Loc(file, *pos),
                            hint="a list or mapping cannot be a key; write `name: value`")
        key = _scalar(knode, file)
        if not isinstance(key, str):
            key = str(key).lower() if isinstance(key, bool) else str(key)
        if key in entries:
            raise SpecError(
                f"duplicate key {quote(key)} (first at line {keypos[key][0]})",
                loc=Loc(file, *pos),
                hint="YAML keeps only the last one silently; remove or rename one of them",
            )
        keypos[key] = pos
        entries[key] = _convert(vnode, file, seen, count, depth + 1)
    return YMap(entries, keypos, loc)


def _scalar(node: yaml.ScalarNode, file: str) -> Scalar:
    tag = node.tag
    if tag == _STR:  # the common case first: words and expressions
        return str(node.value)
    if tag == _INT:
        text = node.value
        if _OCTAL.match(text):
            raise SpecError(
                f"{text!r} is a YAML 1.1 octal number",
                loc=_loc(file, node),
                hint=f"write {text.lstrip('0') or '0'} (decimal) or quote it",
            )
        if len(text) > MAX_INT_CHARS:
            raise SpecError(
                f"the integer {quote(text, 20)} is beyond the limit 1e+15",
                loc=_loc(file, node),
                hint="numbers in a spec are bounded by 10^15",
            )
        if ":" in text:
            _sexagesimal(text, _CONSTRUCTOR.construct_yaml_int(node), file, node)
        # plain decimal integers directly; 0x/0b/underscore forms through PyYAML's rule
        return int(text) if text.lstrip("+-").isdigit() else int(
            _CONSTRUCTOR.construct_yaml_int(node))
    if tag in _CONVERT:
        # the constructor's per-tag methods, not construct_object: that one caches every node
        # it has seen (a leak across specs, and a slower dict on every call)
        value = _CONVERT[tag](node)
        assert value is None or isinstance(value, (float, bool))
        if tag == _FLOAT and ":" in node.value:
            _sexagesimal(node.value, value, file, node)
        return value
    if tag == _MERGE:  # `<<` as a value (as a key it is refused as a merge key): plain text
        return str(node.value)
    raise SpecError(f"unsupported YAML tag {tag!r}", loc=_loc(file, node),
                    hint="remove the tag")


def _sexagesimal(text: str, value: object, file: str, node: yaml.ScalarNode) -> None:
    """YAML 1.1 reads ``1:04`` as the base-60 number 64 (and ``1:30.5`` as 90.5); YAML 1.2
    reads it as text. Neither is what a spec means: refused, like the octal ``010``."""
    raise SpecError(
        f"{text!r} is a YAML 1.1 base-60 number ({value})",
        loc=_loc(file, node),
        hint=f"write {value} (decimal), or quote it ('{text}') if it is text",
    )


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"
_CONVERT: dict[str, Any] = {
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
}


def from_python(obj: object, file: str = "<python>") -> YNode:
    """Convert plain Python data (dicts, lists, tuples, str, int, float, bool, None) to a tree,
    for specs built in code; the same limits as a YAML file hold (:data:`MAX_DEPTH` levels,
    :data:`MAX_NODES` values). A container holding itself is refused, not followed.

    Raises TypeError for a value of another Python type (naming where it sits and what is
    accepted) and :class:`SpecError` for a limit. Integers and reals of other types (NumPy
    scalars) are taken as int and float."""
    return _PythonTree(Loc(file)).convert(obj, 0)


_PLAIN = "dict, list, tuple, str, int, float, bool or None"


class _PythonTree:
    """One conversion: the containers on the current path (cycles), the keys leading here (for
    messages) and the count of values."""

    def __init__(self, loc: Loc) -> None:
        self.loc = loc
        self.active: set[int] = set()
        self.trail: list[object] = []
        self.count = 0

    def where(self) -> str:
        keys = "".join(f"[{quote(k, 30) if isinstance(k, str) else k}]" for k in self.trail)
        if len(keys) > 80:
            keys = f"{keys[:30]}…{keys[-40:]}"
        return "spec" + keys

    def convert(self, obj: object, depth: int) -> YNode:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError(f"the spec has more than {MAX_NODES:,} values", loc=self.loc,
                            hint="specs describe structure: use blocks, repeat and stages")
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return YScalar(obj, self.loc)
        if isinstance(obj, (bytes, bytearray, memoryview)):
            raise TypeError(f"{self.where()} is {type(obj).__name__}; a spec holds {_PLAIN} "
                            "(decode bytes to str first)")
        if isinstance(obj, numbers.Integral):
            return YScalar(int(obj), self.loc)
        if isinstance(obj, numbers.Real):
            return YScalar(float(obj), self.loc)
        if not isinstance(obj, (Mapping, Sequence)):
            raise TypeError(f"{self.where()} is a {type(obj).__name__}; a spec holds {_PLAIN}")
        if depth >= MAX_DEPTH:
            raise SpecError(f"the spec nests deeper than {MAX_DEPTH} levels (at {self.where()})",
                            loc=self.loc, hint="flatten the nesting: use blocks, repeat or stages")
        if id(obj) in self.active:
            raise SpecError(f"{self.where()} contains itself", loc=self.loc,
                            hint="a spec is a tree: give each place its own dict or list")
        self.active.add(id(obj))
        trail = self.trail
        try:
            if isinstance(obj, Mapping):
                entries: dict[str, YNode] = {}
                for key, value in obj.items():
                    if not isinstance(key, str):
                        raise TypeError(f"{self.where()} has the key {key!r} of type "
                                        f"{type(key).__name__}; the keys of a spec are str")
                    trail.append(key)
                    entries[key] = self.convert(value, depth + 1)
                    trail.pop()
                return YMap(entries, {}, self.loc)
            items = []
            for i, value in enumerate(obj):
                trail.append(i)
                items.append(self.convert(value, depth + 1))
                trail.pop()
            return YSeq(tuple(items), self.loc)
        finally:
            self.active.discard(id(obj))
